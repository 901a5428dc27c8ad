//! Nothing allocates per frame once warm: the STFT, the quantizers, and a
//! streaming Encoder and Decoder whose network calls go through tensors bound
//! once. (ONNX Runtime's C++ allocations inside a call are not Rust's and are
//! not counted; its CPU arena reuses memory between calls.)

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use codec_core::dsp::{StftAnalyzer, StftSynthesizer};
use codec_core::quantizer::Scratch;
use codec_core::{Decoder, Encoder, ModelPackage, RuntimeOptions};
use ndarray::Array2;

struct Counting;

thread_local! {
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn allocations(f: impl FnOnce()) -> usize {
    let before = COUNT.with(Cell::get);
    f();
    COUNT.with(Cell::get) - before
}

#[test]
fn dsp_and_quantizers_do_not_allocate_once_warm() {
    let mut analyzer = StftAnalyzer::new(640, 320).expect("stft");
    let mut synth = StftSynthesizer::new(640, 320).expect("istft");
    let hop = vec![0.1f32; 320];
    let mut frame = vec![0.0f32; 642];
    let mut out = vec![0.0f32; 320];
    for model in common::MODELS {
        let p = ModelPackage::open_dir(&common::model_dir(model)).expect("package");
        let q = p.quantizer();
        let latent = Array2::from_shape_fn((1, q.latent_dim()), |(_, c)| (c as f32 * 0.37).sin());
        let mut decoded = Array2::zeros((1, q.latent_dim()));
        let mut codes = vec![0u16; q.codes_per_frame(q.stages())];
        let mut scratch = Scratch::new();
        q.encode(latent.view(), q.stages(), &mut codes, &mut scratch).expect("warm");
        let n = allocations(|| {
            for _ in 0..10 {
                analyzer.push(&hop, &mut frame).expect("stft");
                synth.push(&frame, &mut out).expect("istft");
                q.encode(latent.view(), q.stages(), &mut codes, &mut scratch).expect("encode");
                q.decode(&codes, q.stages(), decoded.view_mut()).expect("decode");
            }
        });
        assert_eq!(n, 0, "{model}: {n} allocations in 10 frames of STFT and quantizing");
    }
}

#[test]
fn warm_streaming_objects_do_not_allocate() {
    for model in common::MODELS {
        let p = ModelPackage::open_dir(&common::model_dir(model)).expect("package");
        let stages = p.default_stages();
        let mut enc = Encoder::with_block(&p, RuntimeOptions::default(), stages, 1).expect("encoder");
        let mut dec = Decoder::with_block(&p, RuntimeOptions::default(), stages, 1).expect("decoder");
        let hop = vec![0.01f32; p.hop()];
        let mut codes = Vec::with_capacity(64);
        let mut pcm = Vec::with_capacity(4096);
        for _ in 0..3 {
            codes.clear();
            enc.push(&hop, &mut codes).expect("push");
            dec.push(&codes, &mut pcm).expect("push");
        }
        let n = allocations(|| {
            for _ in 0..10 {
                codes.clear();
                pcm.clear();
                enc.push(&hop, &mut codes).expect("push");
                dec.push(&codes, &mut pcm).expect("push");
            }
        });
        println!("{model}: {n} Rust allocations in 10 warm frames (20 network calls)");
        assert_eq!(n, 0, "{model}: {n} allocations in 10 warm frames");
    }
}
