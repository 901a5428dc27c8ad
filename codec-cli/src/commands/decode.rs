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
    /// Output WAV file (16-bit), or - for stdout
    pub output: PathBuf,
    /// Model package; by default the model named in the token file
    #[arg(long, short)]
    pub model: Option<String>,
    /// Output sample rate in Hz; default: the model's rate
    #[arg(long)]
    pub rate: Option<u32>,
    /// Where the networks run: cpu, cuda or tensorrt
    #[arg(long, default_value = "cpu")]
    pub device: codec_core::Device,
    /// Threads inside each network call
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Print nothing but errors
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: Args) -> Result<()> {
    crate::stdout::refuse_terminal(&args.output, "WAV audio")?;
    let tokens = io::read_tokens(&args.input)?;
    let package = open_given_or_named(args.model.as_deref(), &tokens.header.model_name, "the token file")?;
    let runtime = codec_core::RuntimeOptions { device: args.device, intra_threads: args.threads };
    let bar = Progress::new("decoding", tokens.header.duration_seconds());
    offline::check_compatible(&package, &tokens)?;
    if offline::made_by_earlier_release(&package, &tokens) && !args.quiet {
        eprintln!("notice: {LEGACY_ID_NOTICE}");
    }
    let mut decoder = Decoder::new(&package, runtime, usize::from(tokens.header.layout.stages))?;
    notice_fallback(decoder.device());
    let pcm = offline::decode_with(&package, &mut decoder, &tokens, |f| bar.set(f))?;
    bar.finish();
    let rate = args.rate.unwrap_or(package.sample_rate());
    let out = audio::resample(&pcm, package.sample_rate(), rate).context("cannot resample")?;
    io::write_wav(&args.output, &out, rate)?;
    if !args.quiet {
        eprintln!("decoded {:.2} s at {rate} Hz with {}", out.len() as f64 / f64::from(rate), package.name());
    }
    Ok(())
}
