use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use codec_core::{audio, offline, Decoder, Encoder};

use crate::io;
use crate::model_args::{notice_fallback, ModelArgs, RateArgs};
use crate::progress::Progress;

#[derive(clap::Args)]
pub struct Args {
    /// Input audio file, or - for stdin
    pub input: PathBuf,
    /// Output WAV file, or - for stdout
    pub output: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub rate: RateArgs,
    /// Output sample rate in Hz; default: the input's rate
    #[arg(long = "rate", alias = "out-rate", value_name = "RATE")]
    pub out_rate: Option<u32>,
    /// Print nothing but errors
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: Args) -> Result<()> {
    crate::stdout::refuse_terminal(&args.output, "WAV audio")?;
    let package = args.model.open()?;
    let stages = args.rate.stages(&package)?;
    let input = io::read_audio(&args.input)?;
    let pcm = audio::resample(&input.samples, input.sample_rate, package.sample_rate()).context("cannot resample")?;
    let seconds = pcm.len() as f64 / f64::from(package.sample_rate());
    let bar = Progress::new("round trip", seconds);
    let mut encoder = Encoder::new(&package, args.model.runtime(), stages)?;
    let mut decoder = Decoder::new(&package, args.model.runtime(), stages)?;
    notice_fallback(encoder.device());
    let started = Instant::now();
    let tokens = offline::encode_with(&package, &mut encoder, &pcm, |f| bar.set(f * 0.5))?;
    let encoded = started.elapsed().as_secs_f64();
    let bytes = tokens.to_bytes()?;
    let tokens = codec_core::bitstream::TokenFile::from_bytes(&bytes)?;
    let out = offline::decode_with(&package, &mut decoder, &tokens, |f| bar.set(0.5 + f * 0.5))?;
    let total = started.elapsed().as_secs_f64();
    bar.finish();
    let rate = args.out_rate.unwrap_or(input.sample_rate);
    let out = audio::resample(&out, package.sample_rate(), rate).context("cannot resample")?;
    io::write_wav(&args.output, &out, rate)?;
    if args.quiet {
        return Ok(());
    }
    eprintln!(
        "{}: {stages} stages, {:.2} kbps ({} bytes for {seconds:.2} s, {:.2} kbps with the header); \
         encode {encoded:.3} s + decode {:.3} s = {:.0}x realtime",
        package.name(),
        package.bitrate(stages) / 1000.0,
        bytes.len(),
        bytes.len() as f64 * 8.0 / seconds / 1000.0,
        total - encoded,
        seconds / total
    );
    Ok(())
}
