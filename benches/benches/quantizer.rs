//! Nearest-codeword search as a matrix product with precomputed norms, against
//! the naive loop of distances, and each quantizer's encode and decode per frame.
#![allow(clippy::unwrap_used)]

use codec_benches::package;
use codec_core::quantizer::{Codebook, Scratch};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;

fn pseudo_random(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut s = seed;
    Array2::from_shape_fn((rows, cols), |_| {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    })
}

fn search(c: &mut Criterion) {
    let book = Codebook::new(pseudo_random(1024, 128, 1));
    let frames = 50;
    let x = pseudo_random(frames, 128, 2);
    let mut g = c.benchmark_group("nearest codeword, 1024 x 128, 50 frames");
    g.throughput(Throughput::Elements(frames as u64));
    let mut scores = Array2::zeros((frames, 1024));
    let mut codes = vec![0u16; frames];
    g.bench_function("matrix product", |b| b.iter(|| book.nearest_into(x.view(), 0, scores.view_mut(), &mut codes)));
    g.bench_function("distance loop", |b| {
        b.iter(|| x.rows().into_iter().map(|r| book.nearest_slow(r.as_slice().unwrap(), 0)).collect::<Vec<_>>())
    });
    g.finish();
}

fn quantizers(c: &mut Criterion) {
    let mut g = c.benchmark_group("quantizer per frame");
    for name in ["grvq", "mcrvq"] {
        let p = package(name);
        let q = p.quantizer();
        let stages = q.stages();
        for frames in [1usize, 250] {
            let latent = pseudo_random(frames, q.latent_dim(), 3);
            let mut codes = vec![0u16; frames * q.codes_per_frame(stages)];
            let mut scratch = Scratch::new();
            g.throughput(Throughput::Elements(frames as u64));
            g.bench_with_input(BenchmarkId::new(format!("{name} encode"), frames), &frames, |b, _| {
                b.iter(|| q.encode(latent.view(), stages, &mut codes, &mut scratch).unwrap())
            });
            let mut out = Array2::zeros((frames, q.latent_dim()));
            g.bench_with_input(BenchmarkId::new(format!("{name} decode"), frames), &frames, |b, _| {
                b.iter(|| q.decode(&codes, stages, out.view_mut()).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, search, quantizers);
criterion_main!(benches);
