//! Reusable buffers, so that encoding allocates nothing once warm.

use ndarray::{s, Array2, ArrayViewMut2};

/// Working memory of a quantizer's encode; grows to the largest block seen.
#[derive(Debug, Default)]
pub struct Scratch {
    residual: Array2<f32>,
    summed: Array2<f32>,
    scores: Array2<f32>,
    codes: Vec<u16>,
}

pub(crate) struct Views<'a> {
    pub residual: ArrayViewMut2<'a, f32>,
    pub summed: ArrayViewMut2<'a, f32>,
    pub scores: ArrayViewMut2<'a, f32>,
    pub codes: &'a mut [u16],
}

impl Scratch {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn views(&mut self, frames: usize, dim: usize, size: usize) -> Views<'_> {
        if self.residual.nrows() < frames || self.residual.ncols() < dim {
            self.residual = Array2::zeros((frames, dim));
            self.summed = Array2::zeros((frames, dim));
        }
        if self.scores.nrows() < frames || self.scores.ncols() < size {
            self.scores = Array2::zeros((frames, size));
        }
        if self.codes.len() < frames {
            self.codes.resize(frames, 0);
        }
        Views {
            residual: self.residual.slice_mut(s![..frames, ..dim]),
            summed: self.summed.slice_mut(s![..frames, ..dim]),
            scores: self.scores.slice_mut(s![..frames, ..size]),
            codes: &mut self.codes[..frames],
        }
    }
}
