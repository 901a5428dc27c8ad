//! One codebook and its nearest-codeword search.

use ndarray::linalg::{general_mat_mul, general_mat_vec_mul};
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis};

/// A table of `size` codewords of width `dim`, with half their squared norms
/// computed once so that the search is `argmin(|c|^2 / 2 - x.c)`: one matrix
/// product per block of frames instead of a loop of distances.
#[derive(Debug, Clone)]
pub struct Codebook {
    entries: Array2<f32>,
    half_norms: Array1<f32>,
}

impl Codebook {
    /// `entries` is `[size, dim]`.
    pub fn new(entries: Array2<f32>) -> Self {
        let half_norms = entries.map_axis(Axis(1), |row| 0.5 * row.dot(&row));
        Self { entries, half_norms }
    }

    /// Number of codewords.
    pub fn size(&self) -> usize {
        self.entries.nrows()
    }

    /// Width of a codeword.
    pub fn dim(&self) -> usize {
        self.entries.ncols()
    }

    /// Half the squared norm of each codeword.
    pub fn half_norms(&self) -> &Array1<f32> {
        &self.half_norms
    }

    /// The codeword for `code` (`code < size`).
    pub fn entry(&self, code: usize) -> ndarray::ArrayView1<'_, f32> {
        self.entries.row(code)
    }

    /// The nearest codeword of each row of `x` (`[n, k]`), where `x` holds only
    /// the codeword channels `offset..offset + k` and the others are taken as zero.
    /// `scores` (`[n, size]`) is caller-provided scratch.
    pub fn nearest_into(
        &self,
        x: ArrayView2<'_, f32>,
        offset: usize,
        mut scores: ArrayViewMut2<'_, f32>,
        codes: &mut [u16],
    ) {
        let k = x.ncols();
        let table = self.entries.slice(ndarray::s![.., offset..offset + k]);
        if x.nrows() == 1 {
            // A streaming frame: the matrix-vector product, which needs no packing buffers.
            general_mat_vec_mul(1.0, &table, &x.row(0), 0.0, &mut scores.row_mut(0));
        } else {
            general_mat_mul(1.0, &x, &table.t(), 0.0, &mut scores);
        }
        for (row, code) in scores.rows().into_iter().zip(codes.iter_mut()) {
            let mut best = f32::INFINITY;
            let mut best_i = 0usize;
            for (i, (&s, &h)) in row.iter().zip(self.half_norms.iter()).enumerate() {
                let d = h - s;
                if d < best {
                    best = d;
                    best_i = i;
                }
            }
            // Codebooks hold at most 65536 entries (checked at load).
            *code = best_i as u16;
        }
    }

    /// The reference search: a loop of full squared distances. For tests and benchmarks.
    pub fn nearest_slow(&self, x: &[f32], offset: usize) -> u16 {
        let mut best = f32::INFINITY;
        let mut best_i = 0usize;
        for (i, c) in self.entries.rows().into_iter().enumerate() {
            let mut d = 0.0f32;
            for (j, &cj) in c.iter().enumerate() {
                let xj = if j >= offset && j < offset + x.len() { x[j - offset] } else { 0.0 };
                d += (xj - cj) * (xj - cj);
            }
            if d < best {
                best = d;
                best_i = i;
            }
        }
        best_i as u16
    }
}
