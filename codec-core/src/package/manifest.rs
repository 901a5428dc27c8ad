//! `manifest.json`: everything the runtime knows about a model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::PackageError;

/// The manifest format this runtime reads.
pub const FORMAT: &str = "codec-model";
pub const FORMAT_VERSION: u32 = 1;
/// A manifest is a few kilobytes; anything larger is not one.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub name: String,
    pub sample_rate: u32,
    pub hop: usize,
    pub latent_dim: usize,
    pub encoder: GraphSpec,
    pub decoder: GraphSpec,
    pub stft: StftSpec,
    pub quantizer: QuantizerSpec,
    pub streaming: StreamingSpec,
    /// File name (a plain relative path inside the package) to its sha256, hex.
    pub files: BTreeMap<String, String>,
    #[serde(default)]
    pub training: Option<serde_json::Value>,
    #[serde(default)]
    pub quality: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct GraphSpec {
    pub file: String,
    /// `stft` for the encoder's input or the decoder's output.
    #[serde(alias = "output")]
    pub input: Option<String>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub state_size: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StftSpec {
    pub n_fft: usize,
    pub hop: usize,
    pub window: String,
    pub framing: String,
    pub layout: String,
    /// Frames the decoder synthesizes a token, at `hop / synthesis_frames`
    /// with the same window (two in packages that synthesize at 75 %
    /// overlap); packages before this field synthesize one.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub synthesis_frames: usize,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct QuantizerSpec {
    pub kind: String,
    pub groups: usize,
    pub stages: usize,
    pub codebook_size: usize,
    pub min_stages: usize,
    /// Stages used when the caller names none: the rate the model is shipped for.
    #[serde(default)]
    pub default_stages: Option<usize>,
    #[serde(default)]
    pub masked_stages: Vec<[usize; 2]>,
    pub code_order: String,
    pub file: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StreamingSpec {
    pub causal: bool,
    pub algorithmic_latency_samples: usize,
    pub decoder_delay_frames: usize,
}

fn bad(field: &'static str, value: impl ToString, expected: &'static str) -> PackageError {
    PackageError::BadManifest { field, value: value.to_string(), expected }
}

/// Whether `file` names something inside the package folder by its text
/// alone: relative, every component a plain name (no `..`, `.`, root or
/// prefix), no backslash (a separator on Windows), nothing empty.
fn is_plain_relative(file: &str) -> bool {
    use std::path::{Component, Path};
    !file.is_empty()
        && file.len() <= 255
        && !file.contains(['\\', '\0'])
        && file.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && Path::new(file).components().all(|c| matches!(c, Component::Normal(_)))
}

impl Manifest {
    /// Samples between synthesis frames: the hop, or a fraction of it for a
    /// decoder that synthesizes several frames a token.
    pub fn synthesis_hop(&self) -> usize {
        self.hop / self.stft.synthesis_frames
    }

    /// Samples the decoder's output lags the frames it has received: the
    /// overlap-add completes a sample only once every window over it has
    /// arrived (one hop at 50 % overlap).
    pub fn decoder_delay_samples(&self) -> usize {
        self.stft.n_fft - self.synthesis_hop()
    }

    /// Floats the decoder network outputs a token: each synthesis frame's
    /// real then imaginary parts, frame after frame.
    pub fn decoder_channels(&self) -> usize {
        self.stft.synthesis_frames * 2 * (self.stft.n_fft / 2 + 1)
    }

    /// Parses and checks a manifest's text.
    ///
    /// # Errors
    /// [`PackageError::BadManifest`] naming the first field that is wrong.
    pub fn parse(text: &str) -> Result<Self, PackageError> {
        let m: Manifest = serde_json::from_str(text).map_err(|e| PackageError::ManifestSyntax(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), PackageError> {
        for file in self.files.keys() {
            if !is_plain_relative(file) {
                return Err(bad("files", format!("{file:?}"), "relative paths of plain names inside the package"));
            }
        }
        if self.format != FORMAT {
            return Err(bad("format", &self.format, "codec-model"));
        }
        if self.format_version != FORMAT_VERSION {
            return Err(PackageError::UnsupportedVersion { found: self.format_version, supported: FORMAT_VERSION });
        }
        if self.name.is_empty() || self.name.len() > 64 {
            return Err(bad("name", &self.name, "1 to 64 bytes"));
        }
        if !(8000..=48000).contains(&self.sample_rate) {
            return Err(bad("sample_rate", self.sample_rate, "8000 to 48000"));
        }
        if self.hop == 0 || self.hop > 4096 {
            return Err(bad("hop", self.hop, "1 to 4096"));
        }
        if self.latent_dim == 0 || self.latent_dim > 4096 {
            return Err(bad("latent_dim", self.latent_dim, "1 to 4096"));
        }
        let s = &self.stft;
        if s.hop != self.hop || s.n_fft != 2 * self.hop {
            return Err(bad("stft.n_fft", s.n_fft, "twice the hop, with stft.hop equal to hop"));
        }
        if s.window != "hann-periodic" {
            return Err(bad("stft.window", &s.window, "hann-periodic"));
        }
        if s.framing != "causal" {
            return Err(bad("stft.framing", &s.framing, "causal"));
        }
        if s.layout != "real-then-imag" {
            return Err(bad("stft.layout", &s.layout, "real-then-imag"));
        }
        let f = s.synthesis_frames;
        if !(1..=8).contains(&f) || !self.hop.is_multiple_of(f) {
            return Err(bad("stft.synthesis_frames", f, "1 to 8, a divisor of the hop"));
        }
        for (field, g) in [("encoder", &self.encoder), ("decoder", &self.decoder)] {
            if g.input.as_deref() != Some("stft") {
                return Err(bad(field, format!("{:?}", g.input), "an STFT input (encoder) or output (decoder)"));
            }
            if g.inputs.len() != 2 || g.outputs.len() != 2 {
                return Err(bad(
                    field,
                    format!("{:?} -> {:?}", g.inputs, g.outputs),
                    "(frames, state) -> (frames, next_state)",
                ));
            }
            if g.state_size > 1 << 24 {
                return Err(bad(field, g.state_size, "a state under 16M floats"));
            }
            if !self.files.contains_key(&g.file) {
                return Err(bad("files", &g.file, "a hash for every file the manifest names"));
            }
        }
        self.validate_quantizer()
    }

    fn validate_quantizer(&self) -> Result<(), PackageError> {
        let q = &self.quantizer;
        if !(2..=65536).contains(&q.codebook_size) {
            return Err(bad("quantizer.codebook_size", q.codebook_size, "2 to 65536"));
        }
        if q.stages == 0 || q.groups == 0 || q.stages * q.groups > 64 {
            return Err(bad("quantizer.stages", q.stages * q.groups, "1 to 64 codes a frame"));
        }
        if q.min_stages == 0 || q.min_stages > q.stages {
            return Err(bad("quantizer.min_stages", q.min_stages, "1 to stages"));
        }
        if let Some(d) = q.default_stages {
            if d < q.min_stages || d > q.stages {
                return Err(bad("quantizer.default_stages", d, "min_stages to stages"));
            }
        }
        if q.code_order != "stage-major" {
            return Err(bad("quantizer.code_order", &q.code_order, "stage-major"));
        }
        if !self.latent_dim.is_multiple_of(q.groups) {
            return Err(bad("quantizer.groups", q.groups, "a divisor of latent_dim"));
        }
        match q.kind.as_str() {
            "grvq" | "rvq" => {
                if !q.masked_stages.is_empty() {
                    return Err(bad("quantizer.masked_stages", q.masked_stages.len(), "none for GRVQ"));
                }
            }
            "mcrvq" => {
                if q.groups != 1 || q.masked_stages.len() > q.stages {
                    return Err(bad(
                        "quantizer.masked_stages",
                        q.masked_stages.len(),
                        "one group and at most one mask a stage",
                    ));
                }
                for m in &q.masked_stages {
                    if m[0] >= m[1] || m[1] > self.latent_dim {
                        return Err(bad(
                            "quantizer.masked_stages",
                            format!("{m:?}"),
                            "channel ranges inside the latent",
                        ));
                    }
                }
            }
            other => return Err(bad("quantizer.kind", other, "grvq, rvq or mcrvq")),
        }
        if !self.files.contains_key(&q.file) {
            return Err(bad("files", &q.file, "a hash for every file the manifest names"));
        }
        Ok(())
    }
}
