use std::path::PathBuf;

use anyhow::{Context, Result};
use codec_core::{audio, offline, Decoder};

use crate::io;
use crate::model_args::{notice_fallback, open_given_or_named, LEGACY_ID_NOTICE};
use crate::progress::Progress;

#[derive(clap::Args)]
pub struct Args {
    /// Input .tok file, or - for stdin
    pub input: PathBuf,
    /// Output WAV file (16-bit; a name ending .mp3, .flac, .ogg ... is refused), or - for stdout
    pub output: PathBuf,
    /// Model package; by default the model named in the token file
    #[arg(long, short)]
    pub model: Option<String>,
    /// Output sample rate in Hz; default: the model's rate
    #[arg(long)]
    pub rate: Option<u32>,
    /// Where the networks run: cpu, cuda or tensorrt (falls back to cpu with a notice)
    #[arg(long, default_value = "cpu")]
    pub device: codec_core::Device,
    /// Threads inside each network call (at most 256)
    #[arg(long, default_value_t = 1, value_parser = crate::model_args::threads)]
    pub threads: usize,
    /// Print nothing but errors
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: Args) -> Result<()> {
    crate::stdout::refuse_terminal(&args.output, "WAV audio")?;
    io::check_wav_name(&args.output)?;
    let tokens = io::open_tokens(&args.input)?;
    let header = tokens.header().clone();
    let package = open_given_or_named(args.model.as_deref(), &header.model_name, "the token file")?;
    let runtime = codec_core::RuntimeOptions { device: args.device, intra_threads: args.threads };
    offline::check_header(&package, &header)?;
    if offline::header_of_earlier_release(&package, &header) && !args.quiet {
        eprintln!("notice: {LEGACY_ID_NOTICE}");
    }
    let rate = args.rate.unwrap_or(package.sample_rate());
    audio::check_rate(rate).context("--rate")?;
    let mut output = io::create_output(&args.output, &args.input)?;
    let bar = Progress::new("decoding", header.duration_seconds());
    let mut decoder = Decoder::new(&package, runtime, usize::from(header.layout.stages))?;
    notice_fallback(decoder.device());
    let samples = offline::decode_to_wav(&package, &mut decoder, tokens, rate, &mut output, |f| bar.set(f))
        .map_err(|e| io::stream_error(e, &args.input, &args.output))?;
    output.commit()?;
    bar.finish();
    if !args.quiet {
        eprintln!("decoded {:.2} s at {rate} Hz with {}", samples as f64 / f64::from(rate), package.name());
    }
    Ok(())
}
