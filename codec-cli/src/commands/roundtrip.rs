use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use codec_core::bitstream::TokenReader;
use codec_core::{audio, offline, Decoder, Encoder};

use crate::io;
use crate::model_args::{notice_fallback, ModelArgs, RateArgs};
use crate::progress::Progress;

#[derive(clap::Args)]
pub struct Args {
    /// Input audio file, or - for stdin
    pub input: PathBuf,
    /// Output WAV file (16-bit; a name ending .mp3, .flac, .ogg ... is refused), or - for stdout
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
    io::check_wav_name(&args.output)?;
    let package = args.model.open()?;
    let stages = args.rate.stages(&package)?;
    let mut input = io::open_audio(&args.input)?;
    let rate = args.out_rate.unwrap_or(input.sample_rate());
    audio::check_rate(rate).context("--rate")?;
    let mut output = io::create_output(&args.output, &args.input)?;
    let declared = input.declared_samples().map_or(0.0, |n| n as f64 / f64::from(input.sample_rate()));
    let bar = Progress::new("round trip", declared);
    let mut encoder = Encoder::new(&package, args.model.runtime(), stages)?;
    let mut decoder = Decoder::new(&package, args.model.runtime(), stages)?;
    notice_fallback(encoder.device());
    let stream_error = |e| io::stream_error(e, &args.input, &args.output);
    // The input is read and resampled as it is encoded, and the output
    // written as it is decoded: both are in these times.
    let started = Instant::now();
    let tokens =
        offline::encode_audio(&package, &mut encoder, &mut input, |f| bar.set(f * 0.5)).map_err(stream_error)?;
    let encoded = started.elapsed().as_secs_f64();
    let seconds = tokens.header.duration_seconds();
    let bytes = tokens.to_bytes()?;
    drop(tokens);
    let reader = TokenReader::new(&bytes[..])?;
    offline::decode_to_wav(&package, &mut decoder, reader, rate, &mut output, |f| bar.set(0.5 + f * 0.5))
        .map_err(stream_error)?;
    output.commit()?;
    let total = started.elapsed().as_secs_f64();
    bar.finish();
    if args.quiet {
        return Ok(());
    }
    eprintln!(
        "{}: {stages} stages, {:.2} kbps ({} bytes for {seconds:.2} s, {:.2} kbps with the header); \
         encode {encoded:.3} s + decode {:.3} s = {} realtime",
        package.name(),
        package.bitrate(stages) / 1000.0,
        bytes.len(),
        bytes.len() as f64 * 8.0 / seconds / 1000.0,
        total - encoded,
        crate::wording::times(seconds / total)
    );
    Ok(())
}
