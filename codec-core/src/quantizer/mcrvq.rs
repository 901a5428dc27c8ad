//! Mask-channel residual VQ (Language-Codec).

use std::ops::Range;

use ndarray::{s, ArrayView2, ArrayViewMut2, Zip};

use super::{check_code, check_len, Codebook, Quantizer, QuantizerError, QuantizerKind, Scratch, Steer};

/// The first `masks.len()` stages each read one channel range of the latent
/// (the rest taken as zero) and their full-width codewords are summed; the
/// stages after them quantize what remains, as residual VQ.
#[derive(Debug, Clone)]
pub struct Mcrvq {
    latent_dim: usize,
    books: Vec<Codebook>,
    masks: Vec<Range<usize>>,
    min_stages: usize,
}

impl Mcrvq {
    /// # Errors
    /// Codebooks that are not full-width or of unequal size, masks outside the
    /// latent, or more masks than stages.
    pub fn new(
        latent_dim: usize,
        books: Vec<Codebook>,
        masks: Vec<Range<usize>>,
        min_stages: usize,
    ) -> Result<Self, QuantizerError> {
        let size = books.first().map_or(0, Codebook::size);
        if books.is_empty() || masks.len() > books.len() {
            return Err(QuantizerError::ShapeMismatch {
                what: "MCRVQ stages",
                expected: masks.len().max(1),
                actual: books.len(),
            });
        }
        for book in &books {
            check_len("codebook width", latent_dim, book.dim())?;
            check_len("codebook size", size, book.size())?;
        }
        for m in &masks {
            if m.start >= m.end || m.end > latent_dim {
                return Err(QuantizerError::ShapeMismatch { what: "mask end", expected: latent_dim, actual: m.end });
            }
        }
        if min_stages == 0 || min_stages > books.len() {
            return Err(QuantizerError::StagesOutOfRange { requested: min_stages, min: 1, max: books.len() });
        }
        Ok(Self { latent_dim, books, masks, min_stages })
    }
}

impl Quantizer for Mcrvq {
    fn kind(&self) -> QuantizerKind {
        QuantizerKind::Mcrvq
    }
    fn latent_dim(&self) -> usize {
        self.latent_dim
    }
    fn groups(&self) -> usize {
        1
    }
    fn stages(&self) -> usize {
        self.books.len()
    }
    fn min_stages(&self) -> usize {
        self.min_stages
    }
    fn codebook_size(&self) -> usize {
        self.books[0].size()
    }

    fn steerable_stages(&self) -> usize {
        self.masks.len()
    }

    fn encode(
        &self,
        latent: ArrayView2<'_, f32>,
        stages: usize,
        codes: &mut [u16],
        scratch: &mut Scratch,
    ) -> Result<(), QuantizerError> {
        self.encode_with(latent, stages, codes, scratch, None)
    }

    fn encode_steered(
        &self,
        latent: ArrayView2<'_, f32>,
        stages: usize,
        codes: &mut [u16],
        scratch: &mut Scratch,
        steer: &mut dyn Steer,
    ) -> Result<(), QuantizerError> {
        self.encode_with(latent, stages, codes, scratch, Some(steer))
    }

    fn decode(&self, codes: &[u16], stages: usize, mut latent: ArrayViewMut2<'_, f32>) -> Result<(), QuantizerError> {
        self.check_stages(stages)?;
        check_len("latent width", self.latent_dim, latent.ncols())?;
        check_len("codes", latent.nrows() * stages, codes.len())?;
        let size = self.codebook_size();
        latent.fill(0.0);
        for (frame_codes, mut row) in codes.chunks_exact(stages).zip(latent.rows_mut()) {
            for (book, &code) in self.books.iter().zip(frame_codes) {
                let entry = book.entry(check_code(code, size)?);
                Zip::from(&mut row).and(&entry).for_each(|r, &c| *r += c);
            }
        }
        Ok(())
    }
}

impl Mcrvq {
    fn encode_with(
        &self,
        latent: ArrayView2<'_, f32>,
        stages: usize,
        codes: &mut [u16],
        scratch: &mut Scratch,
        mut steer: Option<&mut dyn Steer>,
    ) -> Result<(), QuantizerError> {
        self.check_stages(stages)?;
        check_len("latent width", self.latent_dim, latent.ncols())?;
        let frames = latent.nrows();
        check_len("codes", frames * stages, codes.len())?;
        let v = scratch.views(frames, self.latent_dim, self.codebook_size());
        let (mut residual, mut summed, mut scores, found) = (v.residual, v.summed, v.scores, v.codes);
        residual.assign(&latent);
        summed.fill(0.0);
        let masked = self.masks.len();
        for (st, book) in self.books.iter().enumerate().take(stages) {
            let mask = self.masks.get(st).cloned().unwrap_or(0..self.latent_dim);
            book.nearest_into(residual.slice(s![.., mask.clone()]), mask.start, scores.view_mut(), found);
            if let (Some(steer), true) = (steer.as_deref_mut(), st < masked) {
                let x = residual.slice(s![.., mask.clone()]);
                for ((x, mut row), code) in x.rows().into_iter().zip(scores.rows_mut()).zip(found.iter_mut()) {
                    // The scores hold x.c; half the squared error is |c|^2/2 - x.c + |x|^2/2.
                    let floor = 0.5 * x.dot(&x);
                    Zip::from(&mut row).and(book.half_norms()).for_each(|e, &h| *e = (h - *e + floor).max(0.0));
                    let half_errors = row.as_slice().ok_or(QuantizerError::ShapeMismatch {
                        what: "contiguous scores",
                        expected: 1,
                        actual: 0,
                    })?;
                    *code = steer.choose(st, half_errors, *code);
                    check_code(*code, half_errors.len())?;
                }
            }
            // The masked stages all read the latent itself; their sum leaves it at once.
            let target = if st < masked { &mut summed } else { &mut residual };
            let sign = if st < masked { 1.0 } else { -1.0 };
            for (t, (&code, mut row)) in found.iter().zip(target.rows_mut()).enumerate() {
                codes[t * stages + st] = code;
                Zip::from(&mut row).and(&book.entry(code as usize)).for_each(|r, &c| *r += sign * c);
            }
            if st + 1 == masked {
                Zip::from(&mut residual).and(&summed).for_each(|r, &q| *r -= q);
            }
        }
        Ok(())
    }
}
