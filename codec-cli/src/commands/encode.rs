use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use codec_core::{offline, Encoder};

use crate::io;
use crate::model_args::{notice_fallback, ModelArgs, RateArgs};
use crate::progress::Progress;
use crate::watermark_args::WatermarkArgs;

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
    #[command(flatten)]
    pub watermark: WatermarkArgs,
    /// Print nothing but errors
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: Args) -> Result<()> {
    crate::stdout::refuse_terminal(&args.output, "tokens")?;
    let package = args.model.open()?;
    let stages = args.rate.stages(&package)?;
    let watermark = args.watermark.watermark()?;
    let mut input = io::open_audio(&args.input)?;
    let mut output = io::create_output(&args.output, &args.input)?;
    let started = Instant::now();
    let declared = input.declared_samples().map_or(0.0, |n| n as f64 / f64::from(input.sample_rate()));
    let bar = Progress::new("encoding", declared);
    let mut encoder = Encoder::new(&package, args.model.runtime(), stages)?;
    notice_fallback(encoder.device());
    encoder.set_watermark(watermark.as_ref()).context("--watermark")?;
    let tokens = offline::encode_audio(&package, &mut encoder, &mut input, |f| bar.set(f))
        .map_err(|e| io::stream_error(e, &args.input, &args.output))?;
    bar.finish();
    tokens.write_to(&mut output).with_context(|| format!("cannot write {}", io::out_name(&args.output)))?;
    output.commit()?;
    if !args.quiet {
        let seconds = tokens.header.duration_seconds();
        let bytes = tokens.encoded_len();
        eprintln!(
            "encoded {seconds:.2} s with {} ({} stages, {:.2} kbps; {} bytes, {:.2} kbps with the header) in {:.2} s",
            package.name(),
            stages,
            package.bitrate(stages) / 1000.0,
            bytes,
            bytes as f64 * 8.0 / seconds / 1000.0,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
