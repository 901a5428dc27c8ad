//! The causal STFT and inverse STFT per frame, and bit packing.
#![allow(clippy::unwrap_used)]

use codec_benches::sample;
use codec_core::bitstream::{pack_codes, unpack_codes};
use codec_core::dsp::{StftAnalyzer, StftSynthesizer};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn stft(c: &mut Criterion) {
    let pcm = sample();
    let mut g = c.benchmark_group("stft per frame (n_fft 640, hop 320)");
    g.throughput(Throughput::Elements(1));
    let mut analyzer = StftAnalyzer::new(640, 320).unwrap();
    let mut frame = vec![0.0f32; 642];
    let mut hops = pcm.chunks_exact(320).cycle();
    g.bench_function("analysis", |b| b.iter(|| analyzer.push(hops.next().unwrap(), &mut frame).unwrap()));
    let mut synth = StftSynthesizer::new(640, 320).unwrap();
    let mut out = vec![0.0f32; 320];
    g.bench_function("synthesis", |b| b.iter(|| synth.push(&frame, &mut out).unwrap()));
    g.finish();
}

fn packing(c: &mut Criterion) {
    let codes: Vec<u16> = (0..4000u32).map(|i| ((i * 7919) % 1024) as u16).collect();
    let mut g = c.benchmark_group("bit packing, 10-bit codes");
    g.throughput(Throughput::Elements(codes.len() as u64));
    let mut bytes = Vec::with_capacity(8000);
    g.bench_function("pack", |b| {
        b.iter(|| {
            bytes.clear();
            pack_codes(&codes, 10, &mut bytes).unwrap()
        })
    });
    let mut out = Vec::with_capacity(codes.len());
    g.bench_function("unpack", |b| {
        b.iter(|| {
            out.clear();
            unpack_codes(&bytes, 10, codes.len(), &mut out).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, stft, packing);
criterion_main!(benches);
