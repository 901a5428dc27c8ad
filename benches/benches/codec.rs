//! The networks through ONNX Runtime on one thread: encode and decode of the
//! 5 s sample offline (large blocks) and streaming (one frame a call).
#![allow(clippy::unwrap_used)]

use codec_benches::{package, sample};
use codec_core::{Decoder, Encoder, RuntimeOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn codec(c: &mut Criterion) {
    let pcm = sample();
    let seconds = pcm.len() as f64 / 16000.0;
    for name in ["grvq", "mcrvq"] {
        let p = package(name);
        let stages = p.default_stages();
        let mut g = c.benchmark_group(format!("{name}: {seconds:.2} s of speech, one thread"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(pcm.len() as u64));
        for (mode, block) in [("offline", codec_core::DEFAULT_BLOCK_FRAMES), ("streaming", 1)] {
            let mut enc = Encoder::with_block(&p, RuntimeOptions::default(), stages, block).unwrap();
            let mut dec = Decoder::with_block(&p, RuntimeOptions::default(), stages, block).unwrap();
            let mut codes = Vec::new();
            let mut out = Vec::new();
            g.bench_function(format!("{mode} encode"), |b| {
                b.iter(|| {
                    enc.reset();
                    codes.clear();
                    for chunk in pcm.chunks(if block == 1 { 320 } else { pcm.len() }) {
                        enc.push(chunk, &mut codes).unwrap();
                    }
                    enc.flush(&mut codes).unwrap();
                })
            });
            g.bench_function(format!("{mode} decode"), |b| {
                b.iter(|| {
                    dec.reset();
                    out.clear();
                    dec.push(&codes, &mut out).unwrap();
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
