use anyhow::Result;
use codec_core::package::{default_model_name, models_dir};
use codec_core::ModelPackage;

use crate::stdout::outln;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_: Args) -> Result<()> {
    let dir = models_dir();
    let default = default_model_name().unwrap_or_default();
    let mut names: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("manifest.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    outln!("models in {}:", dir.display())?;
    for name in names {
        match ModelPackage::open(&name) {
            Ok(p) => {
                let q = p.quantizer();
                let rates: Vec<String> =
                    (q.min_stages()..=q.stages()).map(|s| format!("{:.2}", p.bitrate(s) / 1000.0)).collect();
                let kind = match q.kind() {
                    codec_core::quantizer::QuantizerKind::Grvq => "GRVQ",
                    codec_core::quantizer::QuantizerKind::Mcrvq => "MCRVQ",
                };
                outln!(
                    "  {name}{}: {kind}, {} x {} stages of {} codes; kbps {} (default {:.2})",
                    if name == default { " (default)" } else { "" },
                    crate::wording::count(q.groups(), "group"),
                    q.stages(),
                    q.codebook_size(),
                    rates.join(", "),
                    p.bitrate(p.default_stages()) / 1000.0
                )?;
            }
            Err(e) => outln!("  {name}: unusable: {e}")?,
        }
    }
    Ok(())
}
