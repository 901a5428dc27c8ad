//! The sending and receiving halves driven by a simulated clock: capture and
//! playback devices as sample counters, the network as `NetSim`. No real
//! time passes, so loss, bursts and clock drift over a minute of call run in
//! seconds and give the same result on every machine.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use codec_core::audio::read_audio;
use codec_core::bitstream::Packet;
use codec_core::offline::{decode_tokens, encode_pcm};
use codec_core::{ModelPackage, RuntimeOptions};
use codec_stream::receiver::FrameReceiver;
use codec_stream::rtp::{RtpOut, RtpSettings};
use codec_stream::sender::FrameSender;
use codec_stream::SrtpKey;
use codec_stream::{Counters, NetSim, NetSimConfig, Snapshot};
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::HeapRb;

const RATE: u32 = 16_000;
/// Playback device buffer: 10 ms.
const TICK: usize = 160;

struct Run {
    output: Vec<f32>,
    stats: Snapshot,
    lost: u64,
    /// Jitter-buffer depth after each tick, frames.
    depths: Vec<u64>,
    drift_ppm: Vec<i64>,
}

fn speech() -> Vec<f32> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/sample.wav");
    read_audio(&root).expect("sample").samples
}

/// Runs `seconds` of call. The capture clock runs `capture_speed` times as
/// fast as the playback clock (1.003: the sender's sound card is 0.3 % fast).
fn simulate(net: NetSimConfig, capture_speed: f64, seconds: f64, input: &[f32]) -> Run {
    simulate_packets(net, capture_speed, seconds, input, 1)
}

/// As [`simulate`], with `frames_per_packet` frames in each packet.
fn simulate_packets(net: NetSimConfig, capture_speed: f64, seconds: f64, input: &[f32], frames_per_packet: u8) -> Run {
    simulate_call(net, capture_speed, seconds, input, frames_per_packet, false, &[])
}

/// A datagram that reaches the receiver beside the call's.
#[derive(Debug, Clone, Copy)]
enum Forged {
    /// A goodbye from the call's own source saying this many frames were sent.
    Goodbye(u32),
    /// The nth datagram the sender sent, again.
    Replay(usize),
    /// The datagram the sender sent last under the next sequence number
    /// (not received yet, so not a replay), with its last byte (the SRTP
    /// tag, or a code) flipped.
    Tampered,
    /// A packet of frames from another source, as the call's sender would
    /// frame it (and protect it, with the call's key).
    OtherSource,
}

/// As [`simulate_packets`]; with `hang_up` the capture stops at the end of
/// `input` and the sender ends its stream, instead of capturing silence.
/// Each of `forged` is a datagram the receiver gets at that millisecond, from
/// someone other than the sender.
fn simulate_call(
    net: NetSimConfig,
    capture_speed: f64,
    seconds: f64,
    input: &[f32],
    frames_per_packet: u8,
    hang_up: bool,
    forged: &[(usize, Forged)],
) -> Run {
    simulate_rtp(net, capture_speed, seconds, input, frames_per_packet, hang_up, forged, &RtpSettings::default())
}

/// As [`simulate_call`], with the packets framed as `rtp` says.
#[allow(clippy::too_many_arguments)]
fn simulate_rtp(
    net: NetSimConfig,
    capture_speed: f64,
    seconds: f64,
    input: &[f32],
    frames_per_packet: u8,
    hang_up: bool,
    forged: &[(usize, Forged)],
    rtp: &RtpSettings,
) -> Run {
    let package = ModelPackage::open("default").expect("default model");
    let counters = Arc::new(Counters::default());
    let (mut mic, mic_ring) = HeapRb::<f32>::new(RATE as usize).split();
    let (spk_ring, mut spk) = HeapRb::<f32>::new(RATE as usize).split();
    let stages = package.default_stages();
    let options = RuntimeOptions::default();
    let mut sender =
        FrameSender::new(&package, options, stages, rtp, RATE, mic_ring, counters.clone()).expect("sender");
    sender.set_frames_per_packet(frames_per_packet).expect("frames per packet");
    let mut receiver = FrameReceiver::new(&package, options, stages, rtp, RATE, spk_ring, 2 * TICK, counters.clone())
        .expect("receiver");
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut sim = NetSim::new(net);
    let mut arrived = Vec::new();
    let (mut captured, mut played_started, mut hung_up) = (0usize, false, false);
    let mut run =
        Run { output: Vec::new(), stats: Snapshot::default(), lost: 0, depths: Vec::new(), drift_ppm: Vec::new() };
    // One step a millisecond, as the codec threads poll; each device moves a
    // 10 ms buffer when its own clock says one is due.
    let steps = (seconds * 1000.0) as usize;
    let mut buffer = [0.0f32; TICK];
    for ms in 0..steps {
        let now_ms = ms as f64;
        let mut due = (((ms + 1) as f64 * capture_speed / 10.0).floor() as usize) * TICK;
        if hang_up {
            due = due.min(input.len());
        }
        while captured < due {
            let sample = input.get(captured).copied().unwrap_or(0.0);
            assert!(mic.try_push(sample).is_ok(), "capture ring overflow");
            captured += 1;
        }
        sender
            .poll(&mut |d| {
                sim.send(d.to_vec(), now_ms);
                sent.push(d.to_vec());
            })
            .expect("encode");
        if hang_up && !hung_up && captured == input.len() {
            hung_up = true;
            sender
                .finish(&mut |d| {
                    sim.send(d.to_vec(), now_ms);
                })
                .expect("finish");
        }
        sim.deliver_into(now_ms, &mut arrived);
        for (d, _) in arrived.drain(..) {
            receiver.accept(&d, now_ms);
        }
        for (_, f) in forged.iter().filter(|(at, _)| *at == ms) {
            receiver.accept(&forge(*f, &sent, rtp, &package), now_ms);
        }
        receiver.fill(now_ms).expect("decode");
        if ms % 10 != 9 {
            continue;
        }
        let got = spk.pop_slice(&mut buffer);
        played_started |= got > 0;
        assert!(!played_started || got == TICK, "playback underrun at {ms} ms: {got} of {TICK}");
        run.output.extend_from_slice(&buffer[..got]);
        run.depths.push(counters.jitter_depth_frames.load(Relaxed));
        run.drift_ppm.push(counters.snapshot().drift_ppm);
        assert!(spk.occupied_len() <= 4 * TICK, "playback ring grew to {}", spk.occupied_len());
    }
    run.stats = counters.snapshot();
    run.lost = sim.stats().lost;
    run
}

/// The datagram `forged` stands for, in a call whose sender sent `sent`.
fn forge(forged: Forged, sent: &[Vec<u8>], rtp: &RtpSettings, package: &ModelPackage) -> Vec<u8> {
    let first = sent.first().expect("the call has begun");
    let word = |at: usize| u32::from_be_bytes(first[at..at + 4].try_into().expect("4 bytes"));
    let (first_timestamp, ssrc) = (word(4), word(8));
    let q = package.quantizer();
    let codebooks = u8::try_from(q.codes_per_frame(package.default_stages())).expect("codebooks");
    let frames = |index: u32| Packet {
        frame_index: index,
        model_tag: package.tag(),
        bits: q.bits_per_code(),
        codebooks,
        frames: 1,
        codes: vec![511; usize::from(codebooks)],
        ..Packet::default()
    };
    let mut d = Vec::new();
    match forged {
        Forged::Goodbye(frames_sent) => {
            let end = Packet::end_of_stream(package.tag(), q.bits_per_code(), codebooks, 0, frames_sent);
            let mut out =
                RtpOut::starting_at(rtp, package.tag(), package.hop(), ssrc, 7, first_timestamp).expect("rtp");
            out.write(&end, &mut d).expect("goodbye");
        }
        Forged::Replay(n) => d.clone_from(&sent[n.min(sent.len() - 1)]),
        Forged::Tampered => {
            d.clone_from(sent.last().expect("sent"));
            let seq = u16::from_be_bytes([d[2], d[3]]).wrapping_add(1);
            d[2..4].copy_from_slice(&seq.to_be_bytes());
            *d.last_mut().expect("bytes") ^= 1;
        }
        Forged::OtherSource => {
            let index = sent.len() as u32 + 3;
            let mut out =
                RtpOut::starting_at(rtp, package.tag(), package.hop(), !ssrc, 0, first_timestamp).expect("rtp");
            out.write(&frames(index), &mut d).expect("frames");
        }
    }
    d
}

/// Normalised cross-correlation of `b` against `a` at the best lag in `0..max_lag`.
fn best_correlation(a: &[f32], b: &[f32], max_lag: usize) -> (usize, f64) {
    let n = b.len().min(a.len().saturating_sub(max_lag));
    let b = &b[..n];
    let bb: f64 = b.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    (0..max_lag)
        .map(|lag| {
            let a = &a[lag..lag + n];
            let ab: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
            let aa: f64 = a.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            (lag, ab / (aa * bb).sqrt().max(1e-12))
        })
        .fold((0, f64::MIN), |best, c| if c.1 > best.1 { c } else { best })
}

fn offline_decode(input: &[f32]) -> Vec<f32> {
    let package = ModelPackage::open("default").expect("model");
    let tokens =
        encode_pcm(&package, RuntimeOptions::default(), package.default_stages(), input, |_| {}).expect("encode");
    decode_tokens(&package, RuntimeOptions::default(), &tokens, |_| {}).expect("decode")
}

#[test]
fn a_perfect_link_plays_the_offline_decode_after_a_short_delay() {
    let input = speech();
    let run = simulate(NetSimConfig::default(), 1.0, 6.0, &input);
    assert_eq!((run.stats.concealed, run.stats.dropped_for_delay), (0, 0), "{:?}", run.stats);
    let (lag, corr) = best_correlation(&run.output, &offline_decode(&input), 4000);
    let delay_ms = lag as f64 / 16.0;
    println!("streamed vs offline decode: correlation {corr:.4} at {delay_ms:.1} ms");
    // Only the playback resampler (ratio 1 +- drift steering) separates the two.
    assert!(corr > 0.97, "correlation {corr}");
    // Frame and overlap (40 ms) plus the jitter buffer and a 20 ms playback ring.
    assert!((40.0..=100.0).contains(&delay_ms), "delay {delay_ms} ms");
}

#[test]
fn three_frames_a_packet_send_half_the_bytes_for_the_same_audio_40_ms_later() {
    let input = speech();
    let offline = offline_decode(&input);
    let one = simulate(NetSimConfig::default(), 1.0, 6.0, &input);
    let three = simulate_packets(NetSimConfig::default(), 1.0, 6.0, &input, 3);
    let (one_lag, _) = best_correlation(&one.output, &offline, 4000);
    let (lag, corr) = best_correlation(&three.output, &offline, 4000);
    let (one_bytes, bytes) = (one.stats.bytes_sent as f64, three.stats.bytes_sent as f64);
    println!(
        "3 frames a packet: {} packets, {bytes} bytes (1 frame: {} packets, {one_bytes} bytes); \
         correlation {corr:.4}, delay {:.1} ms (1 frame: {:.1} ms)",
        three.stats.packets_sent,
        one.stats.packets_sent,
        lag as f64 / 16.0,
        one_lag as f64 / 16.0
    );
    assert_eq!(
        (three.stats.concealed, three.stats.late, three.stats.dropped_for_delay),
        (0, 0, 0),
        "{:?}",
        three.stats
    );
    assert!(corr > 0.97, "correlation {corr}");
    // The same frames in a third of the packets: 16 header bytes a packet.
    let frames = one.stats.packets_sent;
    assert!(
        three.stats.packets_sent.abs_diff(frames / 3) <= 1,
        "{} packets for {frames} frames",
        three.stats.packets_sent
    );
    assert!(bytes < 0.55 * one_bytes, "{bytes} bytes against {one_bytes}");
    // Two frames wait for the third before leaving, and the buffer sees them arrive in threes.
    let extra_ms = (lag as f64 - one_lag as f64) / 16.0;
    assert!((30.0..=70.0).contains(&extra_ms), "{extra_ms} ms more delay");
    // Frames arriving in threes are not clock drift: the playback rate stays put.
    let steered = three.drift_ppm.iter().filter(|&&p| p != -1_000_000);
    assert!(steered.clone().all(|p| p.abs() < 100), "drift correction {:?}", steered.max_by_key(|p| p.abs()));
}

#[test]
fn a_stream_that_ends_plays_out_whole_then_silence_not_concealment() {
    let input: Vec<f32> = speech()[..2 * RATE as usize].to_vec();
    let run = simulate_call(NetSimConfig::default(), 1.0, 4.0, &input, 1, true, &[]);
    let s = &run.stats;
    println!("2 s then hang-up: {s:?}");
    assert_eq!(s.streams_ended, 1, "{s:?}");
    assert_eq!((s.concealed, s.stretched), (0, 0), "the 2 s after the end were concealed as loss: {s:?}");
    assert_eq!(s.frames_decoded, s.packets_sent, "{s:?}");
    // Every frame of the 2 s was sent and played; what follows is silence.
    assert!(s.packets_sent >= 99, "{s:?}");
    let speech_end = run.output.iter().rposition(|v| v.abs() > 1e-6).unwrap_or(0);
    assert!(speech_end < 2 * RATE as usize + 2400, "audio goes on {} ms after the end", speech_end / 16);
    // Three frames a packet: the last, partial packet goes out before the goodbye.
    let run = simulate_call(NetSimConfig::default(), 1.0, 4.0, &input, 3, true, &[]);
    assert_eq!((run.stats.streams_ended, run.stats.concealed), (1, 0), "{:?}", run.stats);
    assert!(run.stats.frames_decoded >= 99, "{:?}", run.stats);
}

#[test]
fn a_stream_shorter_than_the_jitter_buffer_still_plays() {
    let input: Vec<f32> = speech()[RATE as usize..RATE as usize + 640].to_vec();
    let run = simulate_call(NetSimConfig::default(), 1.0, 1.0, &input, 1, true, &[]);
    let s = &run.stats;
    assert!(s.packets_sent >= 1, "{s:?}");
    assert_eq!((s.frames_decoded, s.streams_ended, s.concealed), (s.packets_sent, 1, 0), "{s:?}");
    assert!(run.output.iter().any(|v| v.abs() > 1e-4), "nothing audible played");
}

#[test]
fn a_stale_or_forged_end_marker_does_not_end_a_call_that_goes_on() {
    let input = speech();
    // At 2 s a marker for frame 0 (a stale copy, or a forger's); at 3 s one
    // far ahead; at 4 s one just past the frames received (frame ~200), which
    // the frames that follow it show to be wrong.
    let forged = [(2000, Forged::Goodbye(0)), (3000, Forged::Goodbye(1_000_000)), (4000, Forged::Goodbye(205))];
    let run = simulate_call(NetSimConfig::default(), 1.0, 6.0, &input, 1, false, &forged);
    let s = &run.stats;
    println!("forged end markers: {s:?}");
    assert_eq!(s.streams_ended, 0, "{s:?}");
    assert_eq!((s.concealed, s.stretched), (0, 0), "{s:?}");
    assert_eq!(s.stale, 2, "{s:?}");
    // Every frame sent in time to play was played, to the end of the 6 s.
    assert!(s.frames_decoded + 5 >= s.packets_sent && s.frames_decoded >= 290, "{s:?}");
}

#[test]
fn a_lost_packet_of_three_frames_is_three_concealed_frames() {
    let input: Vec<f32> = speech().repeat(4);
    let net = NetSimConfig { loss_pct: 10.0, seed: 14, ..NetSimConfig::default() };
    let run = simulate_packets(net, 1.0, 20.0, &input, 3);
    let s = &run.stats;
    println!("3 frames a packet, 10% loss: lost {} of {} packets, concealed {}", run.lost, s.packets_sent, s.concealed);
    assert!(run.lost > 0, "the simulated network lost nothing");
    assert!(
        s.concealed + 6 >= 3 * run.lost && s.concealed <= 3 * run.lost + 6,
        "concealed {} lost {}",
        s.concealed,
        run.lost
    );
    assert_eq!(s.late, 0, "{s:?}");
    assert!(run.output.len() >= (run.depths.len() - 10) * TICK);
}

fn check_lossy(net: NetSimConfig, label: &str) {
    let input: Vec<f32> = speech().repeat(4);
    let run = simulate(net, 1.0, 20.0, &input);
    let s = &run.stats;
    println!(
        "{label}: lost {} of {} packets, concealed {}, late {}, dropped for delay {}, max depth {}",
        run.lost,
        s.packets_sent,
        s.concealed,
        s.late,
        s.dropped_for_delay,
        run.depths.iter().max().unwrap_or(&0)
    );
    assert!(run.lost > 0, "the simulated network lost nothing");
    // Every lost frame is concealed once (the last few may still be in flight).
    assert!(s.concealed + 2 >= run.lost && s.concealed <= run.lost + 5, "concealed {} lost {}", s.concealed, run.lost);
    // Loss is not lateness: the delay does not grow.
    let second_half = &run.depths[run.depths.len() / 2..];
    assert!(second_half.iter().all(|&d| d <= 3), "depth grew: {:?}", second_half.iter().max());
    // Continuous audio: the output is exactly as long as the time played (no underrun, checked per tick).
    assert!(run.output.len() >= (run.depths.len() - 10) * TICK);
}

#[test]
fn five_percent_loss_is_concealed_without_growing_the_delay() {
    check_lossy(NetSimConfig { loss_pct: 5.0, seed: 11, ..NetSimConfig::default() }, "5% loss");
}

#[test]
fn twenty_percent_loss_is_concealed_without_growing_the_delay() {
    check_lossy(NetSimConfig { loss_pct: 20.0, seed: 12, ..NetSimConfig::default() }, "20% loss");
}

#[test]
fn bursts_of_five_packets_are_concealed_without_growing_the_delay() {
    check_lossy(NetSimConfig { loss_pct: 10.0, burst_len: 5.0, seed: 13, ..NetSimConfig::default() }, "bursts of 5");
}

fn check_drift(speed: f64, frames_per_packet: u8) {
    let input: Vec<f32> = speech().repeat(13);
    let seconds = 60.0;
    let run = simulate_packets(NetSimConfig::default(), speed, seconds, &input, frames_per_packet);
    let s = &run.stats;
    let late_depths = &run.depths[run.depths.len() * 3 / 4..];
    let final_ppm = run.drift_ppm.last().copied().unwrap_or(0);
    println!(
        "capture clock x{speed}, {frames_per_packet} frames a packet: playback corrected by {final_ppm:+} ppm, depth at the end {:?}, \
         dropped {} stretched {} concealed {}",
        late_depths.iter().max(),
        s.dropped_for_delay,
        s.stretched,
        s.concealed
    );
    // Uncorrected, 0.3 % over a minute is 9 frames of delay gained or lost.
    assert!(late_depths.iter().all(|&d| d <= 3), "delay grew: {:?}", late_depths.iter().max());
    assert!(
        s.dropped_for_delay + s.stretched + s.concealed <= 6,
        "the drift was fixed by skipping or inserting frames"
    );
    let want = (speed - 1.0) * 1e6;
    // The correction matches the drift (sign: a fast sender means playing faster).
    assert!((-(final_ppm as f64) - want).abs() < 1500.0, "correction {final_ppm} ppm for a drift of {want} ppm");
}

#[test]
fn a_fast_sender_clock_is_followed_without_growing_the_delay() {
    check_drift(1.003, 1);
}

#[test]
fn a_fast_sender_clock_is_followed_when_frames_come_three_to_a_packet() {
    check_drift(1.003, 3);
}

#[test]
fn a_slow_sender_clock_is_followed_without_underruns() {
    check_drift(0.997, 1);
}

#[test]
fn with_srtp_replayed_tampered_and_foreign_packets_reach_no_speaker() {
    let input = speech();
    let rtp = RtpSettings {
        srtp: Some(SrtpKey::from_bytes(std::array::from_fn(|i| i as u8 ^ 0x5a))),
        ..RtpSettings::default()
    };
    let clean = simulate_rtp(NetSimConfig::default(), 1.0, 4.0, &input, 1, false, &[], &rtp);
    // From 1 s on, every 10 ms: a replay of a packet 2 s old, of one just
    // played, and of the newest; the newest with its tag flipped; a packet
    // of frames from another source under the same key; a goodbye from the
    // call's own source, forged, encrypted with the key (a replayed goodbye
    // would be a replay).
    let mut forged = Vec::new();
    for ms in (1000..3500usize).step_by(10) {
        let newest = ms / 20 - 10;
        forged.extend([
            (ms, Forged::Replay(newest.saturating_sub(100))),
            (ms, Forged::Replay(newest - 3)),
            (ms, Forged::Replay(newest)),
            (ms, Forged::Tampered),
            (ms, Forged::OtherSource),
        ]);
    }
    let attacked = simulate_rtp(NetSimConfig::default(), 1.0, 4.0, &input, 1, false, &forged, &rtp);
    let (c, a) = (&clean.stats, &attacked.stats);
    println!("clean {c:?}\nattacked {a:?}");
    assert_eq!(a.replayed, 3 * 250, "{a:?}");
    assert_eq!(a.unauthenticated, 250, "{a:?}");
    assert_eq!(a.other_source, 250, "{a:?}");
    assert_eq!(
        (a.frames_decoded, a.concealed, a.packets_received),
        (c.frames_decoded, c.concealed, c.packets_received)
    );
    // Not one sample differs: nothing forged reached the speaker.
    assert_eq!(attacked.output.len(), clean.output.len());
    assert!(attacked.output == clean.output, "the attacked call played something else");
}
