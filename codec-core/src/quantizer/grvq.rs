//! Group-residual VQ (HiFi-Codec): channel groups, each a residual VQ.

use ndarray::{s, ArrayView2, ArrayViewMut2, Zip};

use super::{check_code, check_len, Codebook, Quantizer, QuantizerError, QuantizerKind, Scratch};

/// `groups` residual VQs of `stages` stages, group `g` owning latent channels
/// `g * dim / groups .. (g + 1) * dim / groups`. One group is plain RVQ.
#[derive(Debug, Clone)]
pub struct Grvq {
    latent_dim: usize,
    /// `books[g][s]`.
    books: Vec<Vec<Codebook>>,
    min_stages: usize,
}

impl Grvq {
    /// # Errors
    /// Groups of unequal stage counts, codebooks of unequal size, or widths that
    /// do not tile `latent_dim`.
    pub fn new(latent_dim: usize, books: Vec<Vec<Codebook>>, min_stages: usize) -> Result<Self, QuantizerError> {
        let groups = books.len();
        let stages = books.first().map_or(0, Vec::len);
        if groups == 0 || stages == 0 {
            return Err(QuantizerError::ShapeMismatch { what: "GRVQ groups and stages", expected: 1, actual: 0 });
        }
        let size = books[0][0].size();
        for group in &books {
            check_len("stages per group", stages, group.len())?;
            for book in group {
                check_len("codebook width", latent_dim / groups, book.dim())?;
                check_len("codebook size", size, book.size())?;
            }
        }
        check_len("latent width", latent_dim, groups * (latent_dim / groups))?;
        if min_stages == 0 || min_stages > stages {
            return Err(QuantizerError::StagesOutOfRange { requested: min_stages, min: 1, max: stages });
        }
        Ok(Self { latent_dim, books, min_stages })
    }

    fn group_dim(&self) -> usize {
        self.latent_dim / self.books.len()
    }
}

impl Quantizer for Grvq {
    fn kind(&self) -> QuantizerKind {
        QuantizerKind::Grvq
    }
    fn latent_dim(&self) -> usize {
        self.latent_dim
    }
    fn groups(&self) -> usize {
        self.books.len()
    }
    fn stages(&self) -> usize {
        self.books[0].len()
    }
    fn min_stages(&self) -> usize {
        self.min_stages
    }
    fn codebook_size(&self) -> usize {
        self.books[0][0].size()
    }

    fn encode(
        &self,
        latent: ArrayView2<'_, f32>,
        stages: usize,
        codes: &mut [u16],
        scratch: &mut Scratch,
    ) -> Result<(), QuantizerError> {
        self.check_stages(stages)?;
        check_len("latent width", self.latent_dim, latent.ncols())?;
        let frames = latent.nrows();
        let per_frame = self.codes_per_frame(stages);
        check_len("codes", frames * per_frame, codes.len())?;
        let gd = self.group_dim();
        let groups = self.groups();
        let v = scratch.views(frames, gd, self.codebook_size());
        let (mut residual, mut scores, found) = (v.residual, v.scores, v.codes);
        for (g, books) in self.books.iter().enumerate() {
            residual.assign(&latent.slice(s![.., g * gd..(g + 1) * gd]));
            for (st, book) in books.iter().take(stages).enumerate() {
                book.nearest_into(residual.view(), 0, scores.view_mut(), found);
                for (t, (&code, mut row)) in found.iter().zip(residual.rows_mut()).enumerate() {
                    codes[t * per_frame + st * groups + g] = code;
                    Zip::from(&mut row).and(&book.entry(code as usize)).for_each(|r, &c| *r -= c);
                }
            }
        }
        Ok(())
    }

    fn decode(&self, codes: &[u16], stages: usize, mut latent: ArrayViewMut2<'_, f32>) -> Result<(), QuantizerError> {
        self.check_stages(stages)?;
        check_len("latent width", self.latent_dim, latent.ncols())?;
        let per_frame = self.codes_per_frame(stages);
        check_len("codes", latent.nrows() * per_frame, codes.len())?;
        let gd = self.group_dim();
        let groups = self.groups();
        let size = self.codebook_size();
        latent.fill(0.0);
        for (frame_codes, mut row) in codes.chunks_exact(per_frame).zip(latent.rows_mut()) {
            for st in 0..stages {
                for g in 0..groups {
                    let code = check_code(frame_codes[st * groups + g], size)?;
                    let entry = self.books[g][st].entry(code);
                    Zip::from(row.slice_mut(s![g * gd..(g + 1) * gd])).and(&entry).for_each(|r, &c| *r += c);
                }
            }
        }
        Ok(())
    }
}
