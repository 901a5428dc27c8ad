//! numpy arrays in and out: audio mixed down to mono float32, codes checked
//! against the codebook before any network sees them.

use numpy::ndarray::{Array2, ArrayView2, ArrayViewD, Axis};
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::codec_err;

/// Mono samples from a 1-D array or the mean of a `[channels, samples]` one.
/// An array with more rows than columns is refused: it is soundfile's
/// `[samples, channels]`, and taking its rows for channels would encode a
/// few samples of thousands of channels.
fn mono<T: Copy>(a: ArrayViewD<'_, T>, to_f32: impl Fn(T) -> f32) -> PyResult<Vec<f32>> {
    match a.ndim() {
        1 => Ok(a.iter().map(|&x| to_f32(x)).collect()),
        2 => {
            let (channels, samples) = (a.len_of(Axis(0)), a.len_of(Axis(1)));
            if channels == 0 {
                return Err(PyValueError::new_err("audio has no channels"));
            }
            if channels > samples {
                return Err(PyValueError::new_err(format!(
                    "audio of shape [{channels}, {samples}] would be {channels} channels of {samples} samples: \
                     pass [samples] or [channels, samples] (soundfile's [samples, channels] transposed: audio.T)"
                )));
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

/// The samples of a float32, float64 or int16 array, mono, all finite.
pub(crate) fn samples(audio: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
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

/// Codes `[frames, codebooks]` (uint16, or int32/int64 as PyTorch gives
/// them), frame-major, each below `codebook_size`. `codebooks` must be a
/// multiple of `groups`; `allow_empty` lets zero frames through.
pub(crate) fn codes(
    codes: &Bound<'_, PyAny>,
    codebook_size: usize,
    groups: usize,
    allow_empty: bool,
) -> PyResult<(Vec<u16>, usize)> {
    fn flat<T: Copy + Into<i64>>(a: ArrayView2<'_, T>, size: usize) -> PyResult<Vec<u16>> {
        let per_frame = a.ncols().max(1);
        let mut out = Vec::with_capacity(a.len());
        for (i, &x) in a.iter().enumerate() {
            let v: i64 = x.into();
            match u16::try_from(v) {
                Ok(c) if usize::from(c) < size => out.push(c),
                _ => {
                    return Err(codec_err(format!(
                        "code {v} at frame {}, position {} is outside a codebook of {size} entries",
                        i / per_frame,
                        i % per_frame
                    )))
                }
            }
        }
        Ok(out)
    }
    let (flat, shape) = if let Ok(a) = codes.extract::<PyReadonlyArray2<'_, u16>>() {
        (flat(a.as_array(), codebook_size)?, a.as_array().dim())
    } else if let Ok(a) = codes.extract::<PyReadonlyArray2<'_, i64>>() {
        (flat(a.as_array(), codebook_size)?, a.as_array().dim())
    } else if let Ok(a) = codes.extract::<PyReadonlyArray2<'_, i32>>() {
        (flat(a.as_array(), codebook_size)?, a.as_array().dim())
    } else {
        return Err(PyTypeError::new_err(
            "codes must be a 2-D numpy array [frames, codebooks] of uint16, int32 or int64",
        ));
    };
    let (frames, per_frame) = shape;
    if (frames == 0 && !allow_empty) || per_frame == 0 || per_frame % groups != 0 {
        return Err(PyValueError::new_err(format!(
            "codes must be [frames, codebooks] with frames > 0 and codebooks a multiple of {groups}; got [{frames}, {per_frame}]"
        )));
    }
    Ok((flat, per_frame))
}

/// Frame-major codes as a uint16 `[frames, per_frame]` array.
pub(crate) fn codes_array(py: Python<'_>, codes: Vec<u16>, per_frame: usize) -> PyResult<Bound<'_, PyArray2<u16>>> {
    let frames = codes.len() / per_frame.max(1);
    let codes = Array2::from_shape_vec((frames, per_frame), codes).map_err(codec_err)?;
    Ok(codes.into_pyarray(py))
}
