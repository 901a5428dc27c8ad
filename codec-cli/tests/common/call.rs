//! What the tests of live calls share: taking turns at real time, waiting
//! for a call's processes, reading their summaries and checking that what
//! was played is the offline decode.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use super::sample;

/// The tests that run the pipeline against real-time clocks take turns: on a
/// 2-core machine, two calls at once starve each other into xruns.
pub static REALTIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn realtime() -> std::sync::MutexGuard<'static, ()> {
    REALTIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits for `child` at most `limit`, killing it past that (a hang is a failure).
pub fn wait(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    panic!("still running after {limit:?}; stderr: {}", String::from_utf8_lossy(&out.stderr));
}

/// The number after `name ` in the summary.
pub fn count(text: &str, name: &str) -> u64 {
    let at = text.rfind(&format!("{name} ")).unwrap_or_else(|| panic!("no `{name}` in: {text}"));
    text[at + name.len() + 1..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{name}` in: {text}"))
}

pub fn wav_samples(path: &Path) -> (Vec<f32>, u32) {
    let mut r = hound::WavReader::open(path).expect("wav");
    let rate = r.spec().sample_rate;
    (r.samples::<i16>().map(|x| f32::from(x.expect("sample")) / 32768.0).collect(), rate)
}

/// The offline decode of the sample (the whole file encoded and decoded at once).
pub fn offline_decode() -> Vec<f32> {
    let package = codec_core::ModelPackage::open("default").expect("model");
    let options = codec_core::RuntimeOptions::default();
    let input = codec_core::audio::read_audio(&sample()).expect("sample").samples;
    let tokens =
        codec_core::offline::encode_pcm(&package, options, package.default_stages(), &input, |_| {}).expect("encode");
    codec_core::offline::decode_tokens(&package, options, &tokens, |_| {}).expect("decode")
}

/// Checks that `audio` plays `offline` (the offline decode) second by
/// second, allowing for the slips the receiver's summary `err` counts.
///
/// A busy machine may make the receiver's clock play a moment of silence (an
/// xrun) or the jitter buffer stretch a frame (a late packet); all after such
/// a slip comes that much later, which one lag for the whole file reads as a
/// poor match. So each second is matched on its own: without a slip in it,
/// it is the decode's (0.99 and more); a 20 ms slip inside a second brings it
/// to 0.8-0.9. A third of the frames missing or repeated, the frames of a
/// packet out of order, or the speech backwards, bring every second below
/// 0.95. Returns the delay of the last second.
pub fn assert_plays_the_decode(offline: &[f32], audio: &[f32], rate: u32, around_ms: f64, err: &str) -> f64 {
    let track = codec_stream::delay::envelope_track(offline, audio, rate, 1000.0, around_ms, 300.0);
    println!("second by second: {track:?}");
    assert!(track.len() >= 4, "{track:?}");
    // A frame the jitter buffer sheds to cut its delay is a slip as a concealed one is.
    let shed = if err.contains("dropped for delay ") { count(err, "dropped for delay") } else { 0 };
    let slips = count(err, "xruns") + count(err, "concealed") + shed;
    let loose = track.iter().filter(|m| m.corr < 0.95).count() as u64;
    assert!(loose <= slips, "{loose} seconds unlike the sent speech after {slips} slips: {track:?}");
    assert!(track.iter().all(|m| m.corr > 0.6), "the output is not the sent speech: {track:?}");
    track.last().map_or(around_ms, |m| m.delay_ms)
}

pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}
