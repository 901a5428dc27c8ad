//! Reads a stereo recording (raw s16le, 48 kHz: the input of a call on the
//! left, its output on the right, as `scripts/measure-latency.sh` records
//! them) and prints the output's delay in every 10 s window, from the
//! envelopes of the two sides.
//!
//!     cargo run --release -p codec-stream --example measure_delay -- duplex.raw
//!
//! `measure_delay make SECONDS OUT.wav` writes the call's input: the shipped
//! sample over and over with half a second between, as one file, so one
//! player stream lasts the whole call (each new stream on a sound server
//! reconfigures it, which the call under test would suffer as glitches).

use codec_stream::delay::envelope_delay;

const RATE: u32 = 48_000;
const WINDOW_S: usize = 10;

fn make(seconds: f64, out: &str) -> Result<(), Box<dyn std::error::Error>> {
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/sample.wav");
    let audio = codec_core::audio::read_audio(&sample)?;
    let gap = vec![0.0f32; audio.sample_rate as usize / 2];
    let mut signal = Vec::new();
    while (signal.len() as f64) < seconds * f64::from(audio.sample_rate) {
        signal.extend_from_slice(&audio.samples);
        signal.extend_from_slice(&gap);
    }
    codec_core::audio::write_wav(std::path::Path::new(out), &signal, audio.sample_rate)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("make") {
        let seconds: f64 = args.get(1).ok_or("usage: measure_delay make SECONDS OUT.wav")?.parse()?;
        return make(seconds, args.get(2).ok_or("usage: measure_delay make SECONDS OUT.wav")?);
    }
    let path = args.first().ok_or("usage: measure_delay RECORDING.raw | make SECONDS OUT.wav")?;
    let bytes = std::fs::read(path)?;
    let samples: Vec<f32> =
        bytes.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect();
    let (left, right): (Vec<f32>, Vec<f32>) = samples.chunks_exact(2).map(|f| (f[0], f[1])).unzip();
    let window = RATE as usize * WINDOW_S;
    let mut delays = Vec::new();
    for (i, (l, r)) in left.chunks(window).zip(right.chunks(window)).enumerate() {
        if l.len() < window / 2 {
            break;
        }
        let loud = l.iter().map(|x| x * x).sum::<f32>() / l.len() as f32;
        if loud < 1e-6 {
            continue; // nothing played in this window
        }
        let (ms, corr) = envelope_delay(l, r, RATE, 500.0);
        println!("{:>5} s: {ms:>5.0} ms (envelope correlation {corr:.2})", i * WINDOW_S);
        if corr > 0.3 {
            delays.push(ms);
        }
    }
    if delays.is_empty() {
        return Err("no window with the output following the input".into());
    }
    delays.sort_by(f64::total_cmp);
    let median = delays[delays.len() / 2];
    println!(
        "end-to-end delay over {} windows: median {median:.0} ms, min {:.0}, max {:.0}",
        delays.len(),
        delays[0],
        delays[delays.len() - 1]
    );
    Ok(())
}
