//! Nothing allocates in a warm push or concealment made through the C entry
//! points, one frame a network call: the output goes into the caller's buffers and
//! the library's staging buffers are sized when the object is made. (ONNX
//! Runtime's own C++ allocations inside a network call are not Rust's and are
//! not counted, as in codec-core's test.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr::{null, null_mut};

use codec_ffi::*;

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
fn warm_push_and_conceal_do_not_allocate() {
    let mut model = null_mut();
    let (mut enc, mut dec) = (null_mut(), null_mut());
    let mut info = CodecModelInfo::default();
    // One frame a network call: codec-core binds the tensors for that shape
    // once; calls of several frames a block allocate inside ort.
    let options = CodecStreamOptions { block_frames: 1, ..Default::default() };
    // SAFETY: valid strings, options and out-pointers.
    unsafe {
        assert_eq!(codec_model_open(c"default".as_ptr(), &mut model), CODEC_OK);
        assert_eq!(codec_model_info(model, &mut info), CODEC_OK);
        assert_eq!(codec_encoder_new(model, &options, &mut enc), CODEC_OK);
        assert_eq!(codec_decoder_new(model, &options, &mut dec), CODEC_OK);
    }
    let hop = info.hop as usize;
    // A hop and a half a push, then five hops: calls that emit one frame, two
    // and five, which the library runs one block of one frame at a time.
    let pcm: Vec<f32> = (0..5 * hop).map(|i| 0.2 * (i as f32 * 0.05).sin()).collect();
    let mut codes = vec![0u16; 64 * 8];
    let mut out = vec![0f32; 8 * hop];
    let mut frame = |pcm: &[f32]| {
        let (mut n, mut m) = (0, 0);
        // SAFETY: live objects and buffers of the lengths given.
        unsafe {
            let s = codec_encoder_push(enc, pcm.as_ptr(), pcm.len(), codes.as_mut_ptr(), codes.len(), &mut n);
            assert_eq!(s, CODEC_OK);
            let s = codec_decoder_push(dec, codes.as_ptr(), n, out.as_mut_ptr(), out.len(), &mut m);
            assert_eq!(s, CODEC_OK);
            let s = codec_decoder_conceal(dec, out.as_mut_ptr(), out.len(), &mut m);
            assert_eq!(s, CODEC_OK);
        }
        n
    };
    for _ in 0..3 {
        frame(&pcm[..hop * 3 / 2]);
        frame(&pcm);
    }
    let mut emitted = 0;
    let n = allocations(|| {
        for _ in 0..5 {
            emitted += frame(&pcm[..hop * 3 / 2]);
            emitted += frame(&pcm);
        }
    });
    assert!(emitted > 0);
    assert_eq!(n, 0, "{n} Rust allocations in 10 warm pushes and concealments");

    // An error path allocates its message; a failure is not the warm path,
    // but it must not disturb the next call.
    // SAFETY: a NULL encoder is an error, not a crash.
    let s = unsafe { codec_encoder_push(null_mut(), null(), 0, null_mut(), 0, &mut 0) };
    assert_eq!(s, CODEC_ERROR_NULL_POINTER);
    let n = allocations(|| {
        frame(&pcm);
    });
    assert_eq!(n, 0, "{n} allocations in a push after a failure");
    // SAFETY: each from its _new, freed once.
    unsafe {
        codec_encoder_free(enc);
        codec_decoder_free(dec);
        codec_model_free(model);
    }
}
