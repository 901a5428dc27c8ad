use std::path::PathBuf;

use anyhow::Result;
use codec_core::audio;

use crate::io;
use crate::stdout::outln;

#[derive(clap::Args)]
pub struct Args {
    /// A .tok file, or - for stdin
    pub input: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let h = &io::read_token_header(&args.input)?;
    let bytes = h.encoded_len();
    let seconds = h.duration_seconds();
    let hash: String = h.model_hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    outln!("model:        {} ({hash}...)", h.model_name)?;
    outln!(
        "sample rate:  {} Hz, hop {} samples ({:.1} frames/s)",
        h.sample_rate,
        h.hop,
        f64::from(h.sample_rate) / f64::from(h.hop)
    )?;
    outln!(
        "layout:       {} codes/frame ({} group{} x {} stages), {} bits each",
        h.layout.codebooks,
        h.layout.groups,
        if h.layout.groups == 1 { "" } else { "s" },
        h.layout.stages,
        h.layout.bits
    )?;
    outln!("frames:       {}", h.frames)?;
    outln!("duration:     {seconds:.3} s ({} samples at {} Hz)", h.original_len, h.sample_rate)?;
    // A .tok file does not record the input's rate: say so rather than let
    // the model's rate pass for it.
    outln!(
        "decodes to:   {} Hz, the model's rate (the input's own rate is not recorded; `codec decode --rate HZ` \
         gives any rate from {} to {} Hz)",
        h.sample_rate,
        audio::MIN_SAMPLE_RATE,
        audio::MAX_SAMPLE_RATE
    )?;
    outln!("bitrate:      {:.3} kbps (codes)", h.bitrate_bps() / 1000.0)?;
    if seconds > 0.0 {
        outln!("file:         {bytes} bytes, {:.3} kbps with the header", bytes as f64 * 8.0 / seconds / 1000.0)?;
    }
    Ok(())
}
