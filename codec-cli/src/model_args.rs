//! Options shared by the commands that run the networks.

use anyhow::{bail, Context, Result};
use clap::Args;
use codec_core::{Device, ModelPackage, RuntimeOptions};

/// The model alone, for a command that runs no network (`sdp`): it takes
/// no `--device` or `--threads`.
#[derive(Args, Debug, Clone)]
pub struct ModelName {
    /// Model: a shipped model's name (see `codec models`), a package folder, or `default`
    #[arg(long, short, default_value = "default")]
    pub model: String,
}

impl ModelName {
    pub fn open(&self) -> Result<ModelPackage> {
        ModelPackage::open(&self.model).with_context(|| format!("cannot open model `{}`", self.model))
    }
}

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    #[command(flatten)]
    pub name: ModelName,
    /// Where the networks run: cpu, cuda or tensorrt (falls back to cpu with a notice)
    #[arg(long, default_value = "cpu")]
    pub device: Device,
    /// Threads inside each network call (at most 256)
    #[arg(long, default_value_t = 1, value_parser = threads)]
    pub threads: usize,
}

/// Parses `--threads`: a count codec-core takes (0 is 1), or the reason it does not.
pub fn threads(text: &str) -> Result<usize, String> {
    let n: usize = text.parse().map_err(|e| format!("{e}"))?;
    codec_core::runtime::check_threads(n).map_err(|e| e.to_string())
}

impl ModelArgs {
    pub fn open(&self) -> Result<ModelPackage> {
        self.name.open()
    }

    pub fn runtime(&self) -> RuntimeOptions {
        RuntimeOptions { device: self.device, intra_threads: self.threads }
    }
}

/// Said when tokens carry the id that earlier releases gave their model
/// (the hash of its files alone), which cannot tell two manifests over the
/// same files apart.
pub const LEGACY_ID_NOTICE: &str = "these tokens were written by an earlier release, whose model ids did not \
     cover the manifest: decoding them on trust that the model's manifest was not changed since";

/// The package given by `--model` (a name or a folder), or else the shipped
/// package named in `source`, which a stranger may have written: that name is
/// matched against the shipped packages only, never taken as a path.
pub fn open_given_or_named(given: Option<&str>, named: &str, source: &str) -> Result<ModelPackage> {
    match given {
        Some(model) => ModelPackage::open(model).with_context(|| format!("cannot open model `{model}`")),
        None => ModelPackage::open_shipped(named).with_context(|| {
            format!("{source} names model `{}`, which is not a shipped model: pass --model", named.escape_debug())
        }),
    }
}

/// Says so on stderr when a network runs elsewhere than asked.
pub fn notice_fallback((_, reason): (codec_core::Device, Option<&str>)) {
    if let Some(reason) = reason {
        eprintln!("notice: {reason}");
    }
}

#[derive(Args, Debug, Clone)]
pub struct RateArgs {
    /// Residual stages to send (fewer stages, fewer bits); default: the model's default
    #[arg(long, conflicts_with = "kbps")]
    pub stages: Option<usize>,
    /// Target bitrate in kbps; picks the most stages that fit
    #[arg(long)]
    pub kbps: Option<f64>,
}

impl RateArgs {
    /// The stage count asked for, or the most that fit `--kbps` (with a
    /// notice when that is less than asked), or the model's default.
    pub fn stages(&self, package: &ModelPackage) -> Result<usize> {
        let q = package.quantizer();
        if let Some(s) = self.stages {
            if q.check_stages(s).is_err() {
                bail!("--stages {s}: {}", supported_stages(package));
            }
            return Ok(s);
        }
        if let Some(kbps) = self.kbps {
            if !(kbps.is_finite() && kbps > 0.0) {
                bail!("--kbps must be a positive number, not {kbps}");
            }
            let fits = (q.min_stages()..=q.stages()).rev().find(|&s| package.bitrate(s) <= kbps * 1000.0 + 1e-6);
            let Some(s) = fits else {
                bail!(
                    "model `{}` needs at least {:.2} kbps ({} stages)",
                    package.name(),
                    package.bitrate(q.min_stages()) / 1000.0,
                    q.min_stages()
                );
            };
            let got = package.bitrate(s) / 1000.0;
            if got < kbps - 1e-9 {
                eprintln!("notice: --kbps {kbps}: {}; using {got:.2} kbps ({s} stages)", supported_stages(package));
            }
            return Ok(s);
        }
        Ok(package.default_stages())
    }
}

/// The stage counts `package` offers, and their bitrates.
fn supported_stages(package: &ModelPackage) -> String {
    let q = package.quantizer();
    let (min, max) = (q.min_stages(), q.stages());
    let kbps = |s| package.bitrate(s) / 1000.0;
    if min == max {
        let per_group = if q.groups() > 1 { " per group" } else { "" };
        format!(
            "model `{}` has a fixed {max} stages{per_group} ({} codes a frame, {:.2} kbps)",
            package.name(),
            q.codes_per_frame(max),
            kbps(max)
        )
    } else {
        format!("model `{}` has {min} to {max} stages ({:.2} to {:.2} kbps)", package.name(), kbps(min), kbps(max))
    }
}
