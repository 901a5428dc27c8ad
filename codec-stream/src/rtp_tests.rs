use super::*;

const TAG: u32 = 0xc0de_c0de;
const HOP: usize = 320;

fn key() -> SrtpKey {
    SrtpKey::from_bytes(std::array::from_fn(|i| (i * 7 + 3) as u8))
}

fn frames(first: u32, n: u8) -> Packet {
    Packet {
        seq: 0,
        frame_index: first,
        model_tag: TAG,
        bits: 10,
        codebooks: 4,
        frames: n,
        codes: (0..u16::from(n) * 4).map(|i| (u32::from(i) * 37 % 1024) as u16 + first as u16 % 7).collect(),
    }
}

fn goodbye(frames_sent: u32) -> Packet {
    Packet::end_of_stream(TAG, 10, 4, 0, frames_sent)
}

fn pair(settings: &RtpSettings, seq: u16, timestamp: u32) -> (RtpOut, RtpIn) {
    let out = RtpOut::starting_at(settings, TAG, HOP, 0x1234_5678, seq, timestamp).expect("out");
    let inn = RtpIn::new(settings, TAG, 10, 4, HOP).expect("in");
    (out, inn)
}

fn send(out: &mut RtpOut, packet: &Packet) -> Vec<u8> {
    let mut d = Vec::new();
    out.write(packet, &mut d).expect("write");
    d
}

fn header(datagram: &[u8]) -> Header {
    Header::unmarshal(&mut &datagram[..]).expect("header")
}

#[test]
fn header_fields_follow_rfc_3550() {
    let (mut out, _) = pair(&RtpSettings::default(), 100, 5000);
    let a = send(&mut out, &frames(0, 2));
    let b = send(&mut out, &frames(2, 2));
    let end = send(&mut out, &goodbye(4));
    let (ha, hb, he) = (header(&a), header(&b), header(&end));
    assert_eq!((ha.version, ha.payload_type, ha.ssrc), (2, 96, 0x1234_5678));
    assert_eq!((ha.sequence_number, hb.sequence_number, he.sequence_number), (100, 101, 102));
    assert_eq!((ha.timestamp, hb.timestamp, he.timestamp), (5000, 5640, 6280));
    assert!(ha.marker && !hb.marker && !he.marker);
    // The model tag rides on the first packet and on the goodbye only.
    assert_eq!(ha.get_extension(MODEL_EXTENSION_ID).as_deref(), Some(&TAG.to_le_bytes()[..]));
    assert!(!hb.extension);
    assert_eq!(he.get_extension(MODEL_EXTENSION_ID).as_deref(), Some(&TAG.to_le_bytes()[..]));
    // Two frames of 4 ten-bit codes: 10 bytes after the 12-byte header.
    assert_eq!(b.len(), 12 + 10);
}

#[test]
fn frames_and_goodbye_round_trip() {
    let (mut out, mut inn) = pair(&RtpSettings::default(), 7, 99);
    let mut got = Packet::default();
    for (first, n) in [(0, 3), (3, 1), (4, 10)] {
        let sent = frames(first, n);
        inn.read(&send(&mut out, &sent), 0.0, 0, &mut got).expect("read");
        assert_eq!(got, Packet { seq: got.seq, ..sent });
    }
    inn.read(&send(&mut out, &goodbye(14)), 0.0, 0, &mut got).expect("goodbye");
    assert!(got.is_end_of_stream());
    assert_eq!(got.frame_index, 14);
}

#[test]
fn sequence_numbers_wrap_at_2_16_and_timestamps_at_2_32() {
    // The first timestamp is 10 frames before the 32-bit wrap, which 320
    // does not divide: frame indices must still step by one.
    let start = 0u32.wrapping_sub(10 * 320 + 17);
    for settings in [RtpSettings::default(), RtpSettings { srtp: Some(key()), ..RtpSettings::default() }] {
        let (mut out, mut inn) = pair(&settings, u16::MAX - 5, start);
        let mut got = Packet::default();
        let mut seqs = Vec::new();
        for i in 0..40u32 {
            let d = send(&mut out, &frames(i, 1));
            seqs.push(header(&d).sequence_number);
            inn.read(&d, f64::from(i) * 20.0, 1000, &mut got).expect("read");
            assert_eq!(got.frame_index, 1000 + i, "{settings:?}");
            assert_eq!(got.codes, frames(i, 1).codes);
        }
        assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
        assert!(seqs.contains(&u16::MAX) && seqs.contains(&0));
        // A packet from before the wrap, reordered to after it, maps back.
        let (mut out, mut inn) = pair(&settings, 0, start);
        let early = send(&mut out, &frames(9, 1));
        let late = send(&mut out, &frames(12, 1));
        inn.read(&late, 0.0, 50, &mut got).expect("late first");
        inn.read(&early, 0.0, 50, &mut got).expect("early second");
        assert_eq!(got.frame_index, 47);
    }
}

#[test]
fn the_frame_index_extends_past_2_32_frames_of_timestamps() {
    // 2^32 samples is 13.4 million frames: the mapping follows the
    // timestamp round and round by moving its reference.
    let (mut out, mut inn) = pair(&RtpSettings::default(), 0, 0);
    let mut got = Packet::default();
    let step = 2000u32;
    let mut index = 0u32;
    for _ in 0..(u32::MAX / 320 / step * 2 + 2) {
        inn.read(&send(&mut out, &frames(index, 1)), 0.0, 0, &mut got).expect("read");
        assert_eq!(got.frame_index, index);
        index = index.wrapping_add(step);
    }
    assert!(u64::from(index) * 320 > 2 * u64::from(u32::MAX));
}

#[test]
fn another_source_is_dropped_while_the_call_goes_on_and_taken_after() {
    let settings = RtpSettings::default();
    let (mut out, mut inn) = pair(&settings, 0, 0);
    let mut other = RtpOut::starting_at(&settings, TAG, HOP, 0xbad, 0, 0).expect("other");
    let mut got = Packet::default();
    inn.read(&send(&mut out, &frames(0, 1)), 0.0, 0, &mut got).expect("first");
    let intruder = send(&mut other, &frames(0, 1));
    assert_eq!(inn.read(&intruder, 10.0, 0, &mut got), Err(Rejected::OtherSource(0xbad)));
    assert_eq!(got.frame_index, 0, "a rejected datagram leaves the packet alone");
    // Silent for longer than SOURCE_IDLE_MS: the other takes over, where playout is.
    let second = send(&mut other, &frames(1, 1));
    inn.read(&second, 20.0 + SOURCE_IDLE_MS, 77, &mut got).expect("taken over");
    assert_eq!((inn.ssrc(), got.frame_index), (Some(0xbad), 77));
    // A goodbye frees the place at once.
    inn.source_ended();
    let (mut third, _) = pair(&settings, 0, 0);
    inn.read(&send(&mut third, &frames(0, 1)), 21.0 + SOURCE_IDLE_MS, 90, &mut got).expect("after goodbye");
    assert_eq!(inn.ssrc(), Some(0x1234_5678));
}

#[test]
fn other_models_payload_types_and_garbage_are_refused() {
    let settings = RtpSettings::default();
    let mut got = Packet::default();
    let mut wrong = RtpOut::starting_at(&settings, TAG ^ 1, HOP, 1, 0, 0).expect("out");
    let (_, mut inn) = pair(&settings, 0, 0);
    assert_eq!(inn.read(&send(&mut wrong, &frames(0, 1)), 0.0, 0, &mut got), Err(Rejected::OtherModel(TAG ^ 1)));
    let (mut pt97, _) = pair(&RtpSettings { payload_type: 97, ..settings.clone() }, 0, 0);
    assert_eq!(inn.read(&send(&mut pt97, &frames(0, 1)), 0.0, 0, &mut got), Err(Rejected::Foreign));
    // Three codebooks' worth of payload is not whole frames of four.
    let (mut out, _) = pair(&settings, 0, 0);
    let mut d = send(&mut out, &frames(0, 3));
    d.pop();
    assert_eq!(inn.read(&d, 0.0, 0, &mut got), Err(Rejected::Foreign));
    for garbage in [&b""[..], b"\x80", &[0x80; 11], &[0xff; 40], &[0; 1300]] {
        assert_eq!(inn.read(garbage, 0.0, 0, &mut got), Err(Rejected::Foreign));
    }
    assert!(RtpSettings { payload_type: 8, ..RtpSettings::default() }.validate().is_err());
    assert!(inn.ssrc().is_none());
}

#[test]
fn srtp_drops_replays_forgeries_and_plain_packets() {
    let settings = RtpSettings { srtp: Some(key()), ..RtpSettings::default() };
    let (mut out, mut inn) = pair(&settings, 65530, 0);
    let mut got = Packet::default();
    let first = send(&mut out, &frames(0, 1));
    // The model extension: its 4-byte header, a 5-byte element, 3 of padding.
    assert_eq!(first.len(), 12 + 12 + 5 + 10, "header, model extension, codes, tag");
    inn.read(&first, 0.0, 0, &mut got).expect("first");
    assert_eq!(inn.read(&first, 1.0, 0, &mut got), Err(Rejected::Replayed));
    let second = send(&mut out, &frames(1, 1));
    let mut forged = second.clone();
    *forged.last_mut().expect("tag") ^= 1;
    assert_eq!(inn.read(&forged, 2.0, 0, &mut got), Err(Rejected::Unauthenticated));
    let mut tampered = second.clone();
    tampered[13] ^= 0x40;
    assert_eq!(inn.read(&tampered, 2.0, 0, &mut got), Err(Rejected::Unauthenticated));
    inn.read(&second, 3.0, 0, &mut got).expect("the real one still passes");
    assert_eq!(got.frame_index, 1);
    // Plain RTP, or another key, from the same source fails authentication.
    let (mut plain, _) = pair(&RtpSettings::default(), 65532, 640);
    assert_eq!(inn.read(&send(&mut plain, &frames(2, 1)), 4.0, 0, &mut got), Err(Rejected::Unauthenticated));
    let other_key = RtpSettings { srtp: Some(SrtpKey::from_bytes([9; 30])), ..RtpSettings::default() };
    let (mut stranger, _) = pair(&other_key, 65532, 640);
    assert_eq!(inn.read(&send(&mut stranger, &frames(2, 1)), 4.0, 0, &mut got), Err(Rejected::Unauthenticated));
    for i in 2..20 {
        inn.read(&send(&mut out, &frames(i, 1)), 5.0, 0, &mut got).expect("after the wrap");
        assert_eq!(got.frame_index, i);
    }
    // With no source followed, a stranger's packet fails authentication
    // rather than taking the call.
    let (_, mut idle) = pair(&settings, 0, 0);
    let (mut stranger, _) = pair(&other_key, 0, 0);
    assert_eq!(idle.read(&send(&mut stranger, &frames(0, 1)), 0.0, 0, &mut got), Err(Rejected::Unauthenticated));
    assert!(idle.ssrc().is_none());
}

#[test]
fn a_header_extension_element_past_the_datagram_is_refused_not_a_panic() {
    // Found by fuzz/fuzz_targets/rtp_in.rs: the rtp crate's parser (which
    // webrtc-srtp runs before authenticating) panicked on an element
    // claiming 16 bytes in a one-word extension block at the datagram's end.
    let mut got = Packet::default();
    for settings in [RtpSettings::default(), RtpSettings { srtp: Some(key()), ..RtpSettings::default() }] {
        let (_, mut inn) = pair(&settings, 0, 0);
        let mut d = vec![0x90, 96, 0, 1, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
        d.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x1f, 0, 0, 0]);
        assert_eq!(inn.read(&d, 0.0, 0, &mut got), Err(Rejected::Foreign));
        // Two-byte elements, and a block longer than the datagram.
        let mut two = d.clone();
        two[12..16].copy_from_slice(&[0x10, 0x00, 0, 1]);
        two[16..20].copy_from_slice(&[1, 200, 0, 0]);
        assert_eq!(inn.read(&two, 0.0, 0, &mut got), Err(Rejected::Foreign));
        let mut long = d.clone();
        long[15] = 9;
        assert_eq!(inn.read(&long, 0.0, 0, &mut got), Err(Rejected::Foreign));
        for cut in 0..d.len() {
            let _ = inn.read(&d[..cut], 0.0, 0, &mut got);
        }
    }
    // Our own packets, with their extension, still pass.
    let (mut out, mut inn) = pair(&RtpSettings::default(), 0, 0);
    inn.read(&send(&mut out, &frames(0, 1)), 0.0, 0, &mut got).expect("a first packet with the model extension");
}
