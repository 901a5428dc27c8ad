//! `Model`: a model package, whole signals to codes and back with the same
//! calls `codec encode` and `codec decode` make, the GIL released while the
//! networks run.

use std::sync::{Mutex, PoisonError};

use codec_core::bitstream::TokenFile;
use codec_core::{audio, offline, CodecError, Decoder, Encoder, ModelPackage, RuntimeOptions};
use numpy::{IntoPyArray, PyArray1, PyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::{arrays, codec_err};
use codec_core::watermark::{self, Message, Watermark, WatermarkKey};

/// The watermark of `key`'s file and `message`, for `encode`.
fn watermark_of(key: Option<&std::path::Path>, message: Option<&str>) -> PyResult<Option<Watermark>> {
    let value = |e: watermark::WatermarkError| PyValueError::new_err(e.to_string());
    let Some(key) = key else {
        if message.is_some() {
            return Err(PyValueError::new_err("message= needs watermark= (a key file)"));
        }
        return Ok(None);
    };
    let key = WatermarkKey::read_file(key).map_err(value)?;
    let message = message.map(Message::parse).transpose().map_err(value)?;
    Ok(Some(Watermark::new(key, message)))
}

/// A model package, opened by name (`"default"`, `"mcrvq"`, `"grvq"`) or by
/// the path of a package folder, as `codec --model` does.
#[pyclass(frozen, module = "speechcodec")]
pub(crate) struct Model {
    pub(crate) package: ModelPackage,
    pub(crate) options: RuntimeOptions,
    /// Encoders and decoders between calls, with their stage counts: loading
    /// a network costs more than encoding a few seconds, and each thread
    /// calling at once takes its own.
    encoders: Mutex<Vec<Idle<Encoder>>>,
    decoders: Mutex<Vec<Idle<Decoder>>>,
}

/// A streaming object waiting in a pool, with its stage count.
struct Idle<T>(usize, T);

// SAFETY: as for `stream::Encoder`: ONNX Runtime's sessions and values may
// be used from any thread, one at a time, and a pooled object is used only
// by the call that took it out of the pool.
unsafe impl<T> Send for Idle<T> {}

/// Takes an object of `stages` stages out of `pool`, or makes one; runs
/// `f` on it and puts it back.
fn pooled<T, R>(
    pool: &Mutex<Vec<Idle<T>>>,
    stages: usize,
    make: impl FnOnce() -> Result<T, CodecError>,
    f: impl FnOnce(&mut T) -> Result<R, CodecError>,
) -> Result<R, CodecError> {
    let taken = {
        let mut idle = pool.lock().unwrap_or_else(PoisonError::into_inner);
        idle.iter().position(|i| i.0 == stages).map(|at| idle.swap_remove(at).1)
    };
    let mut object = match taken {
        Some(object) => object,
        None => make()?,
    };
    let result = f(&mut object);
    // One that failed part-way may be in any state: dropped.
    if result.is_ok() {
        pool.lock().unwrap_or_else(PoisonError::into_inner).push(Idle(stages, object));
    }
    result
}

impl Model {
    /// The stage count of `stages`, or the model's default; checked.
    pub(crate) fn stages_or_default(&self, stages: Option<usize>) -> PyResult<usize> {
        let stages = stages.unwrap_or(self.package.default_stages());
        self.package.quantizer().check_stages(stages).map_err(codec_err)?;
        Ok(stages)
    }

    /// `original_len` of `frames` frames, checked as a token file's header is:
    /// the frames must cover it.
    pub(crate) fn check_original_len(&self, original_len: u64, frames: usize) -> PyResult<usize> {
        let (hop, rate) = (self.package.hop(), self.package.sample_rate());
        let covered = frames as u64 * hop as u64;
        if original_len > covered {
            return Err(PyValueError::new_err(format!(
                "original_len {original_len} is more than {frames} frames cover: it counts samples at the model's \
                 rate ({rate} Hz), at most frames * hop = {frames} * {hop} = {covered}"
            )));
        }
        Ok(usize::try_from(original_len).unwrap_or(usize::MAX))
    }

    /// Codes `[frames, codebooks]` from Python, checked against this model's codebooks.
    pub(crate) fn codes_in(&self, codes: &Bound<'_, PyAny>, allow_empty: bool) -> PyResult<(Vec<u16>, usize)> {
        let q = self.package.quantizer();
        let (flat, per_frame) = arrays::codes(codes, q.codebook_size(), q.groups(), allow_empty)?;
        self.stages_or_default(Some(per_frame / q.groups()))?;
        Ok((flat, per_frame))
    }
}

#[pymethods]
impl Model {
    #[new]
    #[pyo3(signature = (name_or_path = "default", device = "cpu", threads = None))]
    fn new(py: Python<'_>, name_or_path: &str, device: &str, threads: Option<usize>) -> PyResult<Self> {
        let device = device.parse().map_err(PyValueError::new_err)?;
        let threads = codec_core::runtime::check_threads(threads.unwrap_or(1))
            .map_err(|e| PyValueError::new_err(format!("threads: {e}")))?;
        let options = RuntimeOptions { device, intra_threads: threads };
        let package = py.allow_threads(|| ModelPackage::open(name_or_path)).map_err(codec_err)?;
        codec_core::runtime::init().map_err(codec_err)?;
        Ok(Self { package, options, encoders: Mutex::new(Vec::new()), decoders: Mutex::new(Vec::new()) })
    }

    fn __repr__(&self) -> String {
        format!("Model({:?})", self.package.name())
    }

    /// The model's name.
    #[getter]
    fn name(&self) -> &str {
        self.package.name()
    }
    /// PCM rate of `decode`'s output, in Hz.
    #[getter]
    fn sample_rate(&self) -> u32 {
        self.package.sample_rate()
    }
    /// Samples a frame of codes stands for, at `sample_rate`.
    #[getter]
    fn hop(&self) -> usize {
        self.package.hop()
    }
    /// Frames of codes a second.
    #[getter]
    fn frame_rate(&self) -> f64 {
        f64::from(self.package.sample_rate()) / self.package.hop() as f64
    }
    /// Samples the decoder's output lags the frames it got: `hop`, or a hop
    /// and a half for a model that synthesizes two frames a token.
    #[getter]
    fn decoder_delay(&self) -> usize {
        self.package.manifest().decoder_delay_samples()
    }
    /// Codes a frame at the default stages.
    #[getter]
    fn codebooks(&self) -> usize {
        self.package.quantizer().codes_per_frame(self.package.default_stages())
    }
    /// Entries in each codebook: every code is below this.
    #[getter]
    fn codebook_size(&self) -> usize {
        self.package.quantizer().codebook_size()
    }
    /// `(fewest, most, default)` stages.
    #[getter]
    fn stages(&self) -> (usize, usize, usize) {
        let q = self.package.quantizer();
        (q.min_stages(), q.stages(), self.package.default_stages())
    }

    /// Encodes `audio` (float32, float64 or int16; `[samples]` or
    /// `[channels, samples]`, mixed down; soundfile's `[samples, channels]`
    /// is refused: pass `audio.T`) at `sample_rate` Hz to codes, uint16
    /// `[frames, codebooks]`: the codes `codec encode` writes.
    ///
    /// `watermark`: the path of a watermark key file (`docs/watermark.md`;
    /// refused if others may read it), to embed its watermark and `message`
    /// (1 to 32 characters of `0` and `1`), as `codec encode --watermark`.
    #[pyo3(signature = (audio, sample_rate, stages = None, watermark = None, message = None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        audio: &Bound<'py, PyAny>,
        sample_rate: u32,
        stages: Option<usize>,
        watermark: Option<std::path::PathBuf>,
        message: Option<&str>,
    ) -> PyResult<Bound<'py, PyArray2<u16>>> {
        let input = arrays::samples(audio)?;
        let stages = self.stages_or_default(stages)?;
        let watermark = watermark_of(watermark.as_deref(), message)?;
        let tokens = py
            .allow_threads(|| -> Result<TokenFile, CodecError> {
                let pcm = audio::resample(&input, sample_rate, self.package.sample_rate())?;
                pooled(
                    &self.encoders,
                    stages,
                    || Encoder::new(&self.package, self.options, stages),
                    |encoder| {
                        encoder.set_watermark(watermark.as_ref())?;
                        let tokens = offline::encode_with(&self.package, encoder, &pcm, |_| {});
                        // Back to the pool plain.
                        encoder.set_watermark(None)?;
                        tokens
                    },
                )
            })
            .map_err(codec_err)?;
        let per_frame = usize::from(tokens.header.layout.codebooks);
        arrays::codes_array(py, tokens.codes, per_frame)
    }

    /// Whether `audio` at `sample_rate` Hz carries the watermark of the key
    /// in the file `key`, as `codec detect` says: a dict of `found`,
    /// `false_alarm` (the probability that audio without it scores as high),
    /// `message` (a string of 0 and 1, or None) and `seconds` (the (start,
    /// end) spans that show it on their own, when found).
    #[pyo3(signature = (audio, sample_rate, key, threshold = codec_core::watermark::DEFAULT_THRESHOLD))]
    fn detect_watermark<'py>(
        &self,
        py: Python<'py>,
        audio: &Bound<'py, PyAny>,
        sample_rate: u32,
        key: std::path::PathBuf,
        threshold: f64,
    ) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err(PyValueError::new_err("threshold must be between 0 and 1"));
        }
        let input = arrays::samples(audio)?;
        let key = WatermarkKey::read_file(&key).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let report = py
            .allow_threads(|| -> Result<_, CodecError> {
                let pcm = audio::resample(&input, sample_rate, self.package.sample_rate())?;
                watermark::detect_pcm(&self.package, self.options, &pcm, &key, threshold)
            })
            .map_err(codec_err)?;
        let d = pyo3::types::PyDict::new(py);
        d.set_item("found", report.found)?;
        d.set_item("false_alarm", report.false_alarm)?;
        d.set_item("message", report.found.then(|| report.message.as_ref().map(ToString::to_string)).flatten())?;
        d.set_item("seconds", if report.found { report.seconds.clone() } else { Vec::new() })?;
        Ok(d)
    }

    /// Decodes codes `[frames, codebooks]` to float32 PCM at the model's rate
    /// (or `sample_rate`). `original_len` (samples at the model's rate, as
    /// `write_tok` takes it) trims the output to the input's length, as
    /// `codec decode` trims to the length a token file records; without it,
    /// `frames * hop - decoder_delay` samples, all the frames make.
    #[pyo3(signature = (codes, sample_rate = None, original_len = None))]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        codes: &Bound<'py, PyAny>,
        sample_rate: Option<u32>,
        original_len: Option<u64>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let (flat, per_frame) = self.codes_in(codes, false)?;
        let keep = match original_len {
            Some(n) => self.check_original_len(n, flat.len() / per_frame)?,
            None => usize::MAX,
        };
        let groups = self.package.quantizer().groups();
        let pcm = py
            .allow_threads(|| -> Result<Vec<f32>, CodecError> {
                let stages = per_frame / groups;
                let mut pcm = Vec::with_capacity(flat.len() / per_frame * self.package.hop());
                pooled(
                    &self.decoders,
                    stages,
                    || Decoder::new(&self.package, self.options, stages),
                    |decoder| {
                        decoder.reset();
                        decoder.push(&flat, &mut pcm)
                    },
                )?;
                pcm.truncate(keep);
                match sample_rate {
                    Some(rate) if rate != self.package.sample_rate() => {
                        Ok(audio::resample(&pcm, self.package.sample_rate(), rate)?)
                    }
                    _ => Ok(pcm),
                }
            })
            .map_err(codec_err)?;
        Ok(pcm.into_pyarray(py))
    }
}
