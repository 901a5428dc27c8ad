//! The watermark options of `codec encode` and `codec send`, and the key
//! file that they and `codec detect` read.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use codec_core::watermark::{Message, Watermark, WatermarkKey};

#[derive(ClapArgs, Debug, Clone)]
pub struct WatermarkArgs {
    /// Sign the tokens with a watermark under the key in FILE, which `codec detect --key FILE` finds again, also
    /// in the decoded audio: the base64 of 16 to 64 random bytes (e.g. `head -c 32 /dev/urandom | base64 > wm.key;
    /// chmod 600 wm.key`). Refused if group or others may read it; never printed. MCRVQ models only
    #[arg(long, value_name = "FILE")]
    pub watermark: Option<PathBuf>,
    /// A message of 1 to 32 bits (a string of 0 and 1) for the watermark to carry; `codec detect` prints it
    #[arg(long, value_name = "BITS", requires = "watermark")]
    pub message: Option<String>,
    /// The watermark's quality tolerance: a codeword within this relative error of the nearest may be chosen
    #[arg(long, value_name = "X", requires = "watermark", hide = true)]
    pub watermark_tolerance: Option<f32>,
}

impl WatermarkArgs {
    pub fn watermark(&self) -> Result<Option<Watermark>> {
        let Some(path) = &self.watermark else { return Ok(None) };
        let key = read_key("--watermark", path)?;
        let message = self.message.as_deref().map(Message::parse).transpose().context("--message")?;
        let mut watermark = Watermark::new(key, message);
        if let Some(t) = self.watermark_tolerance {
            watermark = watermark.with_tolerance(t).context("--watermark-tolerance")?;
        }
        Ok(Some(watermark))
    }
}

/// Reads a watermark key file; errors name the option, never the key.
pub fn read_key(option: &str, path: &Path) -> Result<WatermarkKey> {
    WatermarkKey::read_file(path).with_context(|| format!("{option} {}", path.display()))
}
