//! Arbitrary datagrams through the receiver's RTP framing, plain and SRTP:
//! nothing may panic, and what it accepts is whole frames of the layout it
//! was made for, at most 50, or a goodbye without codes.
//!
//! Input: the first byte picks plain RTP (even) or SRTP (odd); then
//! records of a length byte and that many bytes, each a datagram arriving
//! 7 ms after the one before.
#![no_main]

use codec_core::bitstream::Packet;
use codec_stream::rtp::{RtpIn, RtpSettings};
use codec_stream::SrtpKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else { return };
    let settings =
        RtpSettings { srtp: (mode & 1 == 1).then(|| SrtpKey::from_bytes([7; 30])), ..RtpSettings::default() };
    let Ok(mut rtp) = RtpIn::new(&settings, 0xc0de_c0de, 10, 4, 320) else { return };
    let mut packet = Packet::default();
    let mut now_ms = 0.0;
    while let Some((&len, tail)) = rest.split_first() {
        let (datagram, after) = tail.split_at(usize::from(len).min(tail.len()));
        rest = after;
        now_ms += 7.0;
        if rtp.read(datagram, now_ms, 0, &mut packet).is_ok() {
            assert!(packet.frames <= 50);
            assert_eq!(packet.codes.len(), usize::from(packet.frames) * 4);
            assert!(packet.codes.iter().all(|&c| c < 1024));
        }
    }
});
