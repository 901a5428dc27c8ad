//! `speechcodec`: the codec for Python. Whole signals to codes and back with
//! the same calls `codec encode` and `codec decode` make, with the GIL
//! released while the networks run.

use codec_core::bitstream::TokenFile;
use codec_core::{audio, offline, Decoder, Encoder, ModelPackage, RuntimeOptions};
use numpy::ndarray::{Array2, ArrayViewD, Axis};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray2, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    _speechcodec,
    CodecError,
    PyException,
    "An error of the codec, with the message the CLI prints."
);

fn codec_err(e: impl std::fmt::Display) -> PyErr {
    CodecError::new_err(e.to_string())
}

/// A model package, opened by name (`"default"`) or path as `codec --model` does.
#[pyclass(frozen, module = "speechcodec")]
struct Model {
    package: ModelPackage,
    options: RuntimeOptions,
}

/// Mono samples from a 1-D array or the mean of a `[channels, samples]` one.
fn mono<T: Copy>(a: ArrayViewD<'_, T>, to_f32: impl Fn(T) -> f32) -> PyResult<Vec<f32>> {
    match a.ndim() {
        1 => Ok(a.iter().map(|&x| to_f32(x)).collect()),
        2 => {
            let channels = a.len_of(Axis(0));
            if channels == 0 {
                return Err(PyValueError::new_err("audio has no channels"));
            }
            let mut out = vec![0.0f32; a.len_of(Axis(1))];
            for channel in a.axis_iter(Axis(0)) {
                for (o, &x) in out.iter_mut().zip(channel.iter()) {
                    *o += to_f32(x) / channels as f32;
                }
            }
            Ok(out)
        }
        n => Err(PyValueError::new_err(format!("audio must be [samples] or [channels, samples], not {n}-D"))),
    }
}

fn samples(audio: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
    let pcm = if let Ok(a) = audio.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        mono(a.as_array(), |x| x)?
    } else if let Ok(a) = audio.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        mono(a.as_array(), |x| x as f32)?
    } else if let Ok(a) = audio.extract::<PyReadonlyArrayDyn<'_, i16>>() {
        mono(a.as_array(), |x| f32::from(x) / 32768.0)?
    } else {
        return Err(PyTypeError::new_err("audio must be a numpy array of float32, float64 or int16"));
    };
    if let Some(i) = pcm.iter().position(|x| !x.is_finite()) {
        return Err(PyValueError::new_err(format!("sample {i} is {}, not a finite number", pcm[i])));
    }
    Ok(pcm)
}

#[pymethods]
impl Model {
    #[new]
    #[pyo3(signature = (name_or_path = "default", device = "cpu", threads = None))]
    fn new(py: Python<'_>, name_or_path: &str, device: &str, threads: Option<usize>) -> PyResult<Self> {
        let device = device.parse().map_err(PyValueError::new_err)?;
        let options = RuntimeOptions { device, intra_threads: threads.unwrap_or(1).max(1) };
        let package = py.allow_threads(|| ModelPackage::open(name_or_path)).map_err(codec_err)?;
        Ok(Self { package, options })
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
    /// Frames of codes a second.
    #[getter]
    fn frame_rate(&self) -> f64 {
        f64::from(self.package.sample_rate()) / self.package.hop() as f64
    }
    /// Codes a frame at the default stages.
    #[getter]
    fn codebooks(&self) -> usize {
        self.package.quantizer().codes_per_frame(self.package.default_stages())
    }
    /// `(fewest, most, default)` stages.
    #[getter]
    fn stages(&self) -> (usize, usize, usize) {
        let q = self.package.quantizer();
        (q.min_stages(), q.stages(), self.package.default_stages())
    }

    /// Encodes `audio` (float32, float64 or int16; `[samples]` or
    /// `[channels, samples]`, mixed down) at `sample_rate` Hz to codes,
    /// uint16 `[frames, codebooks]`: the codes `codec encode` writes.
    #[pyo3(signature = (audio, sample_rate, stages = None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        audio: &Bound<'py, PyAny>,
        sample_rate: u32,
        stages: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<u16>>> {
        let input = samples(audio)?;
        let stages = stages.unwrap_or(self.package.default_stages());
        let tokens = py
            .allow_threads(|| -> Result<TokenFile, codec_core::CodecError> {
                let pcm = audio::resample(&input, sample_rate, self.package.sample_rate())?;
                let mut encoder = Encoder::new(&self.package, self.options, stages)?;
                offline::encode_with(&self.package, &mut encoder, &pcm, |_| {})
            })
            .map_err(codec_err)?;
        let per_frame = usize::from(tokens.header.layout.codebooks);
        let frames = tokens.codes.len() / per_frame;
        let codes = Array2::from_shape_vec((frames, per_frame), tokens.codes).map_err(codec_err)?;
        Ok(codes.into_pyarray(py))
    }

    /// Decodes codes `[frames, codebooks]` to float32 PCM at the model's rate
    /// (or `sample_rate`): `(frames - 1) * hop` samples, the decoder being a hop behind.
    #[pyo3(signature = (codes, sample_rate = None))]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        codes: PyReadonlyArray2<'py, u16>,
        sample_rate: Option<u32>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let [frames, per_frame] = [codes.shape()[0], codes.shape()[1]];
        let groups = self.package.quantizer().groups();
        if frames == 0 || per_frame == 0 || per_frame % groups != 0 {
            return Err(PyValueError::new_err(format!(
                "codes must be [frames, codebooks] with frames > 0 and codebooks a multiple of {groups}; got [{frames}, {per_frame}]"
            )));
        }
        let flat: Vec<u16> = codes.as_array().iter().copied().collect();
        let pcm = py
            .allow_threads(|| -> Result<Vec<f32>, codec_core::CodecError> {
                let mut decoder = Decoder::new(&self.package, self.options, per_frame / groups)?;
                let mut pcm = Vec::with_capacity(frames * self.package.hop());
                decoder.push(&flat, &mut pcm)?;
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

/// The codes of a `.tok` file, uint16 `[frames, codebooks]`.
#[pyfunction]
fn read_tok<'py>(py: Python<'py>, path: std::path::PathBuf) -> PyResult<Bound<'py, PyArray2<u16>>> {
    let mut file = std::fs::File::open(&path).map_err(|e| codec_err(format!("cannot read {}: {e}", path.display())))?;
    let tokens = TokenFile::read_from(&mut file).map_err(codec_err)?;
    let per_frame = usize::from(tokens.header.layout.codebooks);
    let frames = tokens.codes.len() / per_frame.max(1);
    let codes = Array2::from_shape_vec((frames, per_frame), tokens.codes).map_err(codec_err)?;
    Ok(codes.into_pyarray(py))
}

#[pymodule]
fn _speechcodec(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(read_tok, m)?)?;
    m.add("CodecError", m.py().get_type::<CodecError>())?;
    Ok(())
}
