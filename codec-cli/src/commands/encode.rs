use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use codec_core::{audio, offline, Encoder};

use crate::io;
use crate::model_args::{notice_fallback, ModelArgs, RateArgs};
use crate::progress::Progress;

#[derive(clap::Args)]
pub struct Args {
    /// Input audio file, or - for stdin
    pub input: PathBuf,
    /// Output .tok file, or - for stdout
    pub output: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub rate: RateArgs,
    /// Print nothing but errors
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: Args) -> Result<()> {
    crate::stdout::refuse_terminal(&args.output, "tokens")?;
    let package = args.model.open()?;
    let stages = args.rate.stages(&package)?;
    let input = io::read_audio(&args.input)?;
    let started = Instant::now();
    let pcm = audio::resample(&input.samples, input.sample_rate, package.sample_rate()).context("cannot resample")?;
    let seconds = pcm.len() as f64 / f64::from(package.sample_rate());
    let bar = Progress::new("encoding", seconds);
    let mut encoder = Encoder::new(&package, args.model.runtime(), stages)?;
    notice_fallback(encoder.device());
    let tokens = offline::encode_with(&package, &mut encoder, &pcm, |f| bar.set(f))?;
    bar.finish();
    let bytes = tokens.to_bytes()?;
    io::write_atomic(&args.output, &bytes)?;
    if !args.quiet {
        eprintln!(
            "encoded {seconds:.2} s with {} ({} stages, {:.2} kbps; {} bytes, {:.2} kbps with the header) in {:.2} s",
            package.name(),
            stages,
            package.bitrate(stages) / 1000.0,
            bytes.len(),
            bytes.len() as f64 * 8.0 / seconds / 1000.0,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
