//! `codec detect`: whether audio or tokens carry the watermark of a key.

use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use codec_core::watermark::{self, DEFAULT_THRESHOLD};

use crate::io;
use crate::model_args::ModelArgs;
use crate::progress::Progress;
use crate::stdout::outln;
use crate::watermark_args::read_key;

#[derive(clap::Args)]
#[command(after_help = "Exit status: 0 when the watermark is found, 1 when it is not, 2 on an error.")]
pub struct Args {
    /// Audio (WAV, FLAC, MP3, Ogg; any rate) or a .tok file, or - for audio on stdin
    pub input: PathBuf,
    /// The key file the watermark was made with (`codec encode --watermark`)
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Report the watermark found when the probability that unmarked audio scores as high is at most this
    #[arg(long, value_name = "P", default_value_t = DEFAULT_THRESHOLD, value_parser = probability)]
    pub threshold: f64,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print only the verdict line
    #[arg(long, short)]
    pub quiet: bool,
}

fn probability(text: &str) -> Result<f64, String> {
    let p: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if !(p > 0.0 && p < 1.0) {
        return Err("a probability between 0 and 1, e.g. 1e-6".into());
    }
    Ok(p)
}

/// Whether the input starts as a token file does.
fn is_token_file(path: &std::path::Path) -> bool {
    let mut start = [0u8; 4];
    !io::is_stdio(path)
        && codec_core::input::open_regular(path).is_ok_and(|mut f| f.read_exact(&mut start).is_ok())
        && &start == b"CDCT"
}

/// Returns whether the watermark was found.
pub fn run(args: Args) -> Result<bool> {
    let key = read_key("--key", &args.key)?;
    let package = args.model.open()?;
    let started = Instant::now();
    let report = if is_token_file(&args.input) {
        let mut tokens = io::open_tokens(&args.input)?;
        watermark::detect_tokens(&package, &mut tokens, &key, args.threshold)
            .with_context(|| format!("cannot read tokens from {}", io::name(&args.input)))?
    } else {
        let mut input = io::open_audio(&args.input)?;
        let declared = input.declared_samples().map_or(0.0, |n| n as f64 / f64::from(input.sample_rate()));
        let bar = Progress::new("detecting", declared);
        let report = watermark::detect_audio(&package, args.model.runtime(), &mut input, &key, args.threshold, |s| {
            bar.set(s / declared.max(1e-9))
        })
        .with_context(|| format!("cannot detect in {}", io::name(&args.input)))?;
        bar.finish();
        report
    };
    let verdict = if report.found { "watermark found" } else { "no watermark found" };
    outln!("{verdict} (false-alarm probability {:.2e}, threshold {:.0e})", report.false_alarm, args.threshold)?;
    if !args.quiet {
        outln!(
            "score:        {:.1} (-log10 of the false-alarm probability; {} of {} codes of the keyed colour in the best window)",
            report.score(),
            report.agreeing,
            report.observations
        )?;
        match (&report.message, report.found) {
            (Some(m), true) => outln!("message:      {m} ({} bits)", m.bits().len())?,
            (None, true) => outln!("message:      none")?,
            _ => {}
        }
        if report.found {
            let seconds: Vec<String> = report.seconds.iter().map(|(a, b)| format!("{a}-{b}")).collect();
            outln!(
                "seconds:      {} of {} s show it on their own{}{}",
                report.seconds.iter().map(|(a, b)| b - a).sum::<u32>(),
                report.duration,
                if seconds.is_empty() { "" } else { ": " },
                seconds.join(", ")
            )?;
        }
        eprintln!("checked in {:.2} s ({} tests corrected for)", started.elapsed().as_secs_f64(), report.tests);
    }
    Ok(report.found)
}
