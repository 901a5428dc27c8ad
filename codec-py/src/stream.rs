//! Streaming `Encoder` and `Decoder`: pieces of any size in, what they
//! complete out, as codec-core's streaming objects do (the GIL released
//! while the networks run).

use codec_core::audio::Resampler;
use numpy::{IntoPyArray, PyArray1, PyArray2};
use pyo3::prelude::*;

use crate::model::Model;
use crate::{arrays, codec_err};

/// Audio in pieces of any size to codes. The codes of a whole stream are
/// `Model.encode`'s: identical when the stream is pushed at once, and all
/// but a rare code tipped to its neighbour (float rounding of smaller
/// network calls) when pushed in small pieces.
#[pyclass(module = "speechcodec")]
pub(crate) struct Encoder {
    encoder: codec_core::Encoder,
    /// Converts to the model's rate; `None` when the input is at it.
    resampler: Option<Resampler>,
    pcm: Vec<f32>,
    per_frame: usize,
    /// Samples pushed since the stream began.
    pushed: u64,
}

// SAFETY: ort leaves its values !Send because one may own a Rust buffer of
// any type; the values codec-core's networks bind are allocated by ONNX
// Runtime, whose sessions and values may be used from any thread, one at a
// time. Every call that touches the networks takes `&mut self`, which
// pyo3's borrow checking makes exclusive: one thread at a time. codec-ffi's
// encoder and decoder make C callers the same promise.
unsafe impl Send for Encoder {}
unsafe impl Sync for Encoder {}
// SAFETY: as for `Encoder`.
unsafe impl Send for Decoder {}
unsafe impl Sync for Decoder {}

impl Encoder {
    /// Resamples and encodes `input`, ending the stream when `end`.
    fn step(&mut self, input: &[f32], end: bool, codes: &mut Vec<u16>) -> Result<(), codec_core::CodecError> {
        self.pcm.clear();
        let pcm_in = match &mut self.resampler {
            Some(r) => {
                r.push(input, &mut self.pcm)?;
                if end {
                    r.finish(&mut self.pcm)?;
                }
                &self.pcm[..]
            }
            None => input,
        };
        self.encoder.push(pcm_in, codes)?;
        if end {
            self.encoder.flush(codes)?;
        }
        Ok(())
    }

    fn run<'py>(&mut self, py: Python<'py>, input: &[f32], end: bool) -> PyResult<Bound<'py, PyArray2<u16>>> {
        let mut codes = Vec::new();
        let this = &mut *self;
        let result = py.allow_threads(|| this.step(input, end, &mut codes));
        if let Err(e) = result {
            self.reset();
            return Err(codec_err(e));
        }
        arrays::codes_array(py, codes, self.per_frame)
    }
}

#[pymethods]
impl Encoder {
    #[new]
    #[pyo3(signature = (model, sample_rate = None, stages = None))]
    fn new(model: &Bound<'_, Model>, sample_rate: Option<u32>, stages: Option<usize>) -> PyResult<Self> {
        let model = model.get();
        let stages = model.stages_or_default(stages)?;
        let encoder = codec_core::Encoder::new(&model.package, model.options, stages).map_err(codec_err)?;
        let rate = model.package.sample_rate();
        let resampler = match sample_rate {
            Some(from) if from != rate => Some(Resampler::new(from, rate).map_err(codec_err)?),
            _ => None,
        };
        let per_frame = encoder.codes_per_frame();
        Ok(Self { encoder, resampler, pcm: Vec::new(), per_frame, pushed: 0 })
    }

    /// Takes the next piece of audio (as `Model.encode` takes it) and returns
    /// the codes of the frames it completes, uint16 `[frames, codebooks]`
    /// (often zero frames for a small piece).
    fn push<'py>(&mut self, py: Python<'py>, audio: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray2<u16>>> {
        let input = arrays::samples(audio)?;
        self.pushed += input.len() as u64;
        self.run(py, &input, false)
    }

    /// Ends the stream: returns the codes of the last frames (the partial
    /// hop padded, and the frame the decoder needs to complete it), and makes
    /// ready for the next stream.
    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<u16>>> {
        if self.pushed == 0 {
            return Err(codec_err("the audio is empty: nothing to encode"));
        }
        let codes = self.run(py, &[], true);
        self.reset();
        codes
    }

    /// Drops the stream under way: back to the state of a new encoder.
    fn reset(&mut self) {
        self.encoder.reset();
        if let Some(r) = &mut self.resampler {
            // Finishing is how a Resampler starts over; its output is dropped.
            let _ = r.finish(&mut self.pcm);
        }
        self.pcm.clear();
        self.pushed = 0;
    }

    /// Codes a frame.
    #[getter]
    fn codebooks(&self) -> usize {
        self.per_frame
    }
    /// Frames emitted since the stream began.
    #[getter]
    fn frames(&self) -> u64 {
        self.encoder.frames_out()
    }
}

/// Codes in frames of any count to audio at the model's rate. Its output
/// lags the frames by `Model.decoder_delay` samples: the first frame gives
/// nothing, and a stream of `n` frames gives `n * hop - decoder_delay`
/// samples, `Model.decode`'s.
#[pyclass(module = "speechcodec")]
pub(crate) struct Decoder {
    decoder: codec_core::Decoder,
    model: Py<Model>,
}

#[pymethods]
impl Decoder {
    #[new]
    #[pyo3(signature = (model, stages = None))]
    fn new(model: &Bound<'_, Model>, stages: Option<usize>) -> PyResult<Self> {
        let m = model.get();
        let stages = m.stages_or_default(stages)?;
        let decoder = codec_core::Decoder::new(&m.package, m.options, stages).map_err(codec_err)?;
        Ok(Self { decoder, model: model.clone().unbind() })
    }

    /// Decodes frames of codes `[frames, codebooks]` (zero frames is fine)
    /// and returns the float32 samples they complete.
    fn push<'py>(&mut self, py: Python<'py>, codes: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let (flat, per_frame) = self.model.get().codes_in(codes, true)?;
        let want = self.decoder.codes_per_frame();
        if per_frame != want {
            return Err(codec_err(format!("the codes have {per_frame} codebooks; this decoder takes {want}")));
        }
        let this = &mut *self;
        let mut pcm = Vec::new();
        py.allow_threads(|| this.decoder.push(&flat, &mut pcm)).map_err(codec_err)?;
        Ok(pcm.into_pyarray(py))
    }

    /// Stands in for one lost frame: returns its hop of samples, faded
    /// after the first of a run and silent after eight.
    fn conceal<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let this = &mut *self;
        let mut pcm = Vec::new();
        py.allow_threads(|| this.decoder.conceal(&mut pcm)).map_err(codec_err)?;
        Ok(pcm.into_pyarray(py))
    }

    /// Ends the stream and makes ready for the next. It returns no samples:
    /// the last frame's hop needs a frame after it, which the encoder's
    /// flush added, so the stream's audio has all come out of `push`.
    fn flush<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        self.decoder.reset();
        Vec::<f32>::new().into_pyarray(py)
    }

    /// Drops the stream under way: back to the state of a new decoder.
    fn reset(&mut self) {
        self.decoder.reset();
    }

    /// Codes a frame.
    #[getter]
    fn codebooks(&self) -> usize {
        self.decoder.codes_per_frame()
    }
    /// Frames decoded since the stream began.
    #[getter]
    fn frames(&self) -> u64 {
        self.decoder.frames_in()
    }
}
