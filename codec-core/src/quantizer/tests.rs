//! One suite for every quantizer: the fast search equals the naive one,
//! decode inverts encode's choices, and bad calls are refused.

use ndarray::Array2;

use super::*;

/// A small deterministic generator, so the suite needs no extra crate.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn array(&mut self, rows: usize, cols: usize) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |_| self.next())
    }
    /// A table whose first entry is zero, so that a residual stage can only
    /// lower the error (the nearest entry is at most as far as zero).
    fn table(&mut self, rows: usize, cols: usize) -> Array2<f32> {
        let mut t = self.array(rows, cols);
        t.row_mut(0).fill(0.0);
        t
    }
}

fn grvq(rng: &mut Lcg, dim: usize, groups: usize, stages: usize, size: usize) -> Grvq {
    let books =
        (0..groups).map(|_| (0..stages).map(|_| Codebook::new(rng.table(size, dim / groups))).collect()).collect();
    Grvq::new(dim, books, stages).expect("grvq")
}

fn mcrvq(rng: &mut Lcg, dim: usize, stages: usize, size: usize) -> Mcrvq {
    let third = dim / 3;
    let masks = vec![0..third, third..2 * third, 2 * third..dim];
    let books = (0..stages)
        .map(|s| {
            let mut t = rng.table(size, dim);
            // Trained masked tables are zero outside their channels.
            if let Some(m) = masks.get(s) {
                for mut row in t.rows_mut() {
                    for (c, v) in row.iter_mut().enumerate() {
                        if !m.contains(&c) {
                            *v = 0.0;
                        }
                    }
                }
            }
            Codebook::new(t)
        })
        .collect();
    Mcrvq::new(dim, books, masks, 3).expect("mcrvq")
}

fn quantizers() -> Vec<Box<dyn Quantizer>> {
    let mut rng = Lcg(7);
    vec![
        Box::new(grvq(&mut rng, 16, 1, 3, 32)),
        Box::new(grvq(&mut rng, 16, 2, 2, 64)),
        Box::new(grvq(&mut rng, 24, 4, 1, 8)),
        Box::new(mcrvq(&mut rng, 18, 5, 32)),
    ]
}

#[test]
fn fast_search_equals_the_distance_loop() {
    let mut rng = Lcg(11);
    for size in [2, 17, 256] {
        let book = Codebook::new(rng.array(size, 12));
        let x = rng.array(40, 5);
        let mut scores = Array2::zeros((40, size));
        let mut codes = vec![0u16; 40];
        book.nearest_into(x.view(), 3, scores.view_mut(), &mut codes);
        for (row, &code) in x.rows().into_iter().zip(&codes) {
            let slow = book.nearest_slow(row.as_slice().expect("row"), 3);
            assert_eq!(code, slow, "size {size}");
        }
    }
}

#[test]
fn decode_sums_the_chosen_codewords_and_reduces_error_with_stages() {
    let mut rng = Lcg(3);
    for q in quantizers() {
        let x = rng.array(50, q.latent_dim());
        let mut scratch = Scratch::new();
        let mut last_err = f32::INFINITY;
        for stages in q.min_stages()..=q.stages() {
            let mut codes = vec![0u16; 50 * q.codes_per_frame(stages)];
            q.encode(x.view(), stages, &mut codes, &mut scratch).expect("encode");
            let mut y = Array2::zeros(x.raw_dim());
            q.decode(&codes, stages, y.view_mut()).expect("decode");
            let err = (&x - &y).mapv(|v| v * v).sum();
            assert!(err <= last_err * 1.0001, "{:?}: error rose with stages", q.kind());
            last_err = err;
        }
    }
}

#[test]
fn encode_is_the_same_in_blocks_and_whole() {
    let mut rng = Lcg(5);
    for q in quantizers() {
        let x = rng.array(30, q.latent_dim());
        let pf = q.codes_per_frame(q.stages());
        let mut whole = vec![0u16; 30 * pf];
        let mut scratch = Scratch::new();
        q.encode(x.view(), q.stages(), &mut whole, &mut scratch).expect("encode");
        let mut blocks = vec![0u16; 30 * pf];
        for (i, n) in [(0, 1), (1, 7), (8, 22)] {
            q.encode(x.slice(ndarray::s![i..i + n, ..]), q.stages(), &mut blocks[i * pf..(i + n) * pf], &mut scratch)
                .expect("encode");
        }
        assert_eq!(whole, blocks, "{:?}", q.kind());
    }
}

#[test]
fn bad_calls_are_refused() {
    for q in quantizers() {
        let x = Array2::zeros((4, q.latent_dim()));
        let mut scratch = Scratch::new();
        let too_many = q.stages() + 1;
        let mut codes = vec![0u16; 4 * q.codes_per_frame(too_many)];
        assert!(matches!(
            q.encode(x.view(), too_many, &mut codes, &mut scratch),
            Err(QuantizerError::StagesOutOfRange { .. })
        ));
        let mut short = vec![0u16; 3];
        assert!(matches!(
            q.encode(x.view(), q.stages(), &mut short, &mut scratch),
            Err(QuantizerError::ShapeMismatch { .. })
        ));
        let bad = vec![u16::MAX; 4 * q.codes_per_frame(q.stages())];
        let mut y = Array2::zeros((4, q.latent_dim()));
        assert!(matches!(q.decode(&bad, q.stages(), y.view_mut()), Err(QuantizerError::CodeOutOfRange { .. })));
        let narrow = Array2::zeros((4, q.latent_dim() + 1));
        let mut codes = vec![0u16; 4 * q.codes_per_frame(q.stages())];
        assert!(q.encode(narrow.view(), q.stages(), &mut codes, &mut scratch).is_err());
    }
}

#[test]
fn bits_per_code() {
    let mut rng = Lcg(1);
    assert_eq!(grvq(&mut rng, 4, 1, 1, 1024).bits_per_code(), 10);
    assert_eq!(grvq(&mut rng, 4, 1, 1, 1025).bits_per_code(), 11);
    assert_eq!(grvq(&mut rng, 4, 1, 1, 2).bits_per_code(), 1);
}
