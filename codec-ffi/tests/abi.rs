//! The C ABI called from Rust: the same results as codec-core's encoder and
//! decoder, and an error code with a one-line message (never a crash) for
//! NULL pointers, short buffers, bad codes, bad samples and missing models.

use std::ffi::{c_char, CStr};
use std::ptr::{null, null_mut};

use codec_core::{Decoder, Encoder, ModelPackage, RuntimeOptions};
use codec_ffi::*;

fn last_error() -> String {
    // SAFETY: the library returns a NUL-terminated string that lives until the next failure.
    unsafe { CStr::from_ptr(codec_last_error_message()) }.to_string_lossy().into_owned()
}

/// Calls `f`, expects `status`, and returns the message.
fn expect(status: CodecStatus, got: CodecStatus, what: &str) -> String {
    let message = last_error();
    assert_eq!(got, status, "{what}: status {got}, message: {message}");
    assert!(!message.is_empty() && !message.contains('\n'), "{what}: message `{message}`");
    message
}

struct Handles {
    model: *mut CodecModel,
    info: CodecModelInfo,
}

impl Handles {
    fn open() -> Self {
        let mut model = null_mut();
        // SAFETY: a NUL-terminated name and a writable out-pointer.
        let s = unsafe { codec_model_open(c"default".as_ptr(), &mut model) };
        assert_eq!(s, CODEC_OK, "{}", last_error());
        let mut info = CodecModelInfo::default();
        // SAFETY: a live model and a writable struct.
        assert_eq!(unsafe { codec_model_info(model, &mut info) }, CODEC_OK);
        Self { model, info }
    }

    fn encoder(&self, options: Option<CodecStreamOptions>) -> *mut CodecEncoder {
        let mut e = null_mut();
        let o = options.as_ref().map_or(null(), |o| o as *const _);
        // SAFETY: a live model, readable options or NULL, a writable out-pointer.
        assert_eq!(unsafe { codec_encoder_new(self.model, o, &mut e) }, CODEC_OK, "{}", last_error());
        e
    }

    fn decoder(&self, options: Option<CodecStreamOptions>) -> *mut CodecDecoder {
        let mut d = null_mut();
        let o = options.as_ref().map_or(null(), |o| o as *const _);
        // SAFETY: as in `encoder`.
        assert_eq!(unsafe { codec_decoder_new(self.model, o, &mut d) }, CODEC_OK, "{}", last_error());
        d
    }
}

impl Drop for Handles {
    fn drop(&mut self) {
        // SAFETY: from codec_model_open, freed once.
        unsafe { codec_model_free(self.model) };
    }
}

fn speech(samples: usize) -> Vec<f32> {
    (0..samples).map(|i| 0.3 * (i as f32 * 0.031).sin() * (i as f32 * 0.0007).cos()).collect()
}

fn push(e: *mut CodecEncoder, pcm: &[f32], capacity: usize) -> (CodecStatus, Vec<u16>) {
    let mut out = vec![0u16; capacity];
    let mut n = 0;
    // SAFETY: a live encoder and buffers of the lengths given.
    let s = unsafe { codec_encoder_push(e, pcm.as_ptr(), pcm.len(), out.as_mut_ptr(), out.len(), &mut n) };
    out.truncate(n);
    (s, out)
}

fn flush(e: *mut CodecEncoder, per_frame: usize) -> Vec<u16> {
    let mut out = vec![0u16; 2 * per_frame];
    let mut n = 0;
    // SAFETY: a live encoder and a buffer of the length given.
    let s = unsafe { codec_encoder_flush(e, out.as_mut_ptr(), out.len(), &mut n) };
    assert_eq!(s, CODEC_OK, "{}", last_error());
    out.truncate(n);
    out
}

fn decode(d: *mut CodecDecoder, codes: &[u16], capacity: usize) -> (CodecStatus, Vec<f32>) {
    let mut out = vec![0f32; capacity];
    let mut n = 0;
    // SAFETY: a live decoder and buffers of the lengths given.
    let s = unsafe { codec_decoder_push(d, codes.as_ptr(), codes.len(), out.as_mut_ptr(), out.len(), &mut n) };
    out.truncate(n);
    (s, out)
}

fn conceal(d: *mut CodecDecoder, capacity: usize) -> (CodecStatus, Vec<f32>) {
    let mut out = vec![0f32; capacity];
    let mut n = 0;
    // SAFETY: a live decoder and a buffer of the length given.
    let s = unsafe { codec_decoder_conceal(d, out.as_mut_ptr(), out.len(), &mut n) };
    out.truncate(n);
    (s, out)
}

#[test]
fn model_facts_match_the_package() {
    let h = Handles::open();
    let p = ModelPackage::open("default").expect("package");
    let q = p.quantizer();
    let i = h.info;
    assert_eq!(i.sample_rate, p.sample_rate());
    assert_eq!(i.hop as usize, p.hop());
    assert_eq!(
        (i.groups as usize, i.min_stages as usize, i.max_stages as usize),
        (q.groups(), q.min_stages(), q.stages())
    );
    assert_eq!(i.default_stages as usize, p.default_stages());
    assert_eq!((i.codebook_size as usize, i.bits_per_code as u8), (q.codebook_size(), q.bits_per_code()));
    // SAFETY: a live model; the name lives as long as it.
    let name = unsafe { CStr::from_ptr(codec_model_name(h.model)) };
    assert_eq!(name.to_str().expect("utf-8"), p.name());
    // SAFETY: a live model, then NULL.
    let (delay, none) = unsafe { (codec_model_decoder_delay(h.model), codec_model_decoder_delay(std::ptr::null())) };
    assert_eq!((delay, none), (p.manifest().decoder_delay_samples(), 0));
    assert!(delay >= p.hop(), "the overlap-add lags at least a hop");
}

#[test]
fn streams_equal_codec_core_encoder_and_decoder() {
    let h = Handles::open();
    let p = ModelPackage::open("default").expect("package");
    let stages = p.default_stages();
    let hop = p.hop();
    let pcm = speech(16_000 + 123);
    // Pieces of under a frame to several blocks of 4 frames: the library
    // splits a push at block ends as codec-core does.
    let block = 4;
    let options = CodecStreamOptions { block_frames: block as u32, ..Default::default() };
    let mut pieces = Vec::new();
    let mut at = 0;
    for size in [1, 7, 500, 8_000, 333].iter().cycle() {
        if at == pcm.len() {
            break;
        }
        let take = (*size).min(pcm.len() - at);
        pieces.push(&pcm[at..at + take]);
        at += take;
    }

    let mut rust_enc = Encoder::with_block(&p, RuntimeOptions::default(), stages, block).expect("encoder");
    let mut expected = Vec::new();
    for piece in &pieces {
        rust_enc.push(piece, &mut expected).expect("push");
    }
    rust_enc.flush(&mut expected).expect("flush");

    let e = h.encoder(Some(options));
    // SAFETY: a live encoder.
    let per_frame = unsafe { codec_encoder_codes_per_frame(e) };
    let mut codes = Vec::new();
    for piece in &pieces {
        // Exactly the capacity the docs promise suffices.
        let (s, out) = push(e, piece, piece.len().div_ceil(hop) * per_frame);
        assert_eq!(s, CODEC_OK, "{}", last_error());
        codes.extend(out);
    }
    codes.extend(flush(e, per_frame));
    assert_eq!(codes, expected, "the C encoder and the Rust encoder on the same pieces");

    let mut rust_dec = Decoder::with_block(&p, RuntimeOptions::default(), stages, block).expect("decoder");
    let mut want = Vec::new();
    rust_dec.push(&expected[..per_frame], &mut want).expect("push");
    rust_dec.push(&expected[per_frame..], &mut want).expect("push");
    let mut want_concealed = Vec::new();
    rust_dec.conceal(&mut want_concealed).expect("conceal");

    let d = h.decoder(Some(options));
    let frames = codes.len() / per_frame;
    let (s, first) = decode(d, &codes[..per_frame], hop);
    assert_eq!((s, first.len()), (CODEC_OK, 0), "the first frame only primes the overlap-add");
    let (s, rest) = decode(d, &codes[per_frame..], (frames - 1) * hop);
    assert_eq!(s, CODEC_OK, "{}", last_error());
    assert_eq!(rest, want);
    let (s, concealed) = conceal(d, hop);
    assert_eq!(s, CODEC_OK, "{}", last_error());
    assert_eq!(concealed, want_concealed);
    assert!(concealed.iter().any(|&x| x != 0.0), "the first concealed frame continues the sound");

    // SAFETY: each from its _new, freed once.
    unsafe {
        codec_encoder_free(e);
        codec_decoder_free(d);
    }
}

#[test]
fn reset_equals_a_fresh_object() {
    let h = Handles::open();
    let options = CodecStreamOptions { block_frames: 1, ..Default::default() };
    let pcm = speech(4_000);
    let hop = h.info.hop as usize;
    let (e, fresh) = (h.encoder(Some(options)), h.encoder(Some(options)));
    let cap = pcm.len().div_ceil(hop) * 8;
    let (_, first) = push(e, &pcm, cap);
    // SAFETY: a live encoder.
    assert_eq!(unsafe { codec_encoder_reset(e) }, CODEC_OK);
    let (_, again) = push(e, &pcm, cap);
    let (_, reference) = push(fresh, &pcm, cap);
    assert_eq!(first, again);
    assert_eq!(again, reference);

    let (d, fresh_d) = (h.decoder(Some(options)), h.decoder(Some(options)));
    let (_, a) = decode(d, &first, first.len() * hop);
    // SAFETY: a live decoder.
    assert_eq!(unsafe { codec_decoder_reset(d) }, CODEC_OK);
    let (_, b) = decode(d, &first, first.len() * hop);
    let (_, c) = decode(fresh_d, &first, first.len() * hop);
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert_eq!(b, c);
    // SAFETY: each from its _new, freed once.
    unsafe {
        codec_encoder_free(e);
        codec_encoder_free(fresh);
        codec_decoder_free(d);
        codec_decoder_free(fresh_d);
    }
}

#[test]
fn null_pointers_are_errors_not_crashes() {
    let h = Handles::open();
    let e = h.encoder(None);
    let d = h.decoder(None);
    let mut n = 7usize;
    let mut codes = [0u16; 64];
    let mut pcm = [0f32; 640];
    let mut model = null_mut();
    // SAFETY: every pointer is NULL or valid for the length given: the library must check.
    unsafe {
        expect(CODEC_ERROR_NULL_POINTER, codec_model_open(null(), &mut model), "NULL name");
        assert!(model.is_null());
        let m = expect(CODEC_ERROR_NULL_POINTER, codec_model_open(c"default".as_ptr(), null_mut()), "NULL out");
        assert!(m.contains("out"), "{m}");
        expect(CODEC_ERROR_NULL_POINTER, codec_model_info(null(), &mut CodecModelInfo::default()), "NULL model");
        expect(CODEC_ERROR_NULL_POINTER, codec_model_info(h.model, null_mut()), "NULL info");
        expect(CODEC_ERROR_NULL_POINTER, codec_encoder_new(null(), null(), &mut null_mut()), "NULL model");
        let m = expect(
            CODEC_ERROR_NULL_POINTER,
            codec_encoder_push(null_mut(), pcm.as_ptr(), 320, codes.as_mut_ptr(), 64, &mut n),
            "NULL encoder",
        );
        assert!(m.contains("encoder"), "{m}");
        assert_eq!(n, 0, "written is zeroed on failure");
        let m =
            expect(CODEC_ERROR_NULL_POINTER, codec_encoder_push(e, null(), 320, codes.as_mut_ptr(), 64, &mut n), "pcm");
        assert!(m.contains("pcm"), "{m}");
        expect(CODEC_ERROR_NULL_POINTER, codec_encoder_push(e, pcm.as_ptr(), 320, null_mut(), 64, &mut n), "codes");
        expect(
            CODEC_ERROR_NULL_POINTER,
            codec_encoder_push(e, pcm.as_ptr(), 320, codes.as_mut_ptr(), 64, null_mut()),
            "written",
        );
        expect(CODEC_ERROR_NULL_POINTER, codec_encoder_flush(null_mut(), codes.as_mut_ptr(), 64, &mut n), "flush");
        expect(CODEC_ERROR_NULL_POINTER, codec_decoder_push(d, null(), 8, pcm.as_mut_ptr(), 640, &mut n), "codes");
        expect(CODEC_ERROR_NULL_POINTER, codec_decoder_conceal(null_mut(), pcm.as_mut_ptr(), 640, &mut n), "conceal");
        expect(CODEC_ERROR_NULL_POINTER, codec_encoder_reset(null_mut()), "reset");
        expect(CODEC_ERROR_NULL_POINTER, codec_decoder_reset(null_mut()), "reset");
        // Empty pushes may pass NULL buffers.
        assert_eq!(codec_encoder_push(e, null(), 0, null_mut(), 0, &mut n), CODEC_OK);
        assert_eq!(codec_decoder_push(d, null(), 0, null_mut(), 0, &mut n), CODEC_OK);
        assert_eq!(codec_encoder_codes_per_frame(null()), 0);
        assert!(codec_model_name(null()).is_null());
        codec_model_free(null_mut());
        codec_encoder_free(null_mut());
        codec_decoder_free(null_mut());
        codec_encoder_free(e);
        codec_decoder_free(d);
    }
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    let h = Handles::open();
    let mut out = null_mut();
    let missing = c"no-such-model";
    // SAFETY: valid strings and out-pointers.
    let m = expect(CODEC_ERROR_MODEL, unsafe { codec_model_open(missing.as_ptr(), &mut out) }, "missing model");
    assert!(m.contains("no model named `no-such-model`"), "{m}");
    assert!(out.is_null());
    let not_utf8 = [0xffu8, 0xfe, 0];
    // SAFETY: a NUL-terminated byte string.
    let m = expect(
        CODEC_ERROR_INVALID_ARGUMENT,
        unsafe { codec_model_open(not_utf8.as_ptr().cast::<c_char>(), &mut out) },
        "utf-8",
    );
    assert!(m.contains("UTF-8"), "{m}");

    let too_many = CodecStreamOptions { stages: h.info.max_stages + 1, ..Default::default() };
    let mut e = null_mut();
    // SAFETY: a live model, readable options, a writable out-pointer.
    let m = expect(CODEC_ERROR_INVALID_ARGUMENT, unsafe { codec_encoder_new(h.model, &too_many, &mut e) }, "stages");
    assert!(m.contains("stages requested"), "{m}");
    let gpu9 = CodecStreamOptions { device: 9, ..Default::default() };
    // SAFETY: as above.
    expect(CODEC_ERROR_INVALID_ARGUMENT, unsafe { codec_decoder_new(h.model, &gpu9, &mut null_mut()) }, "device");
    assert!(e.is_null());

    let e = h.encoder(None);
    let mut pcm = speech(640);
    pcm[100] = f32::NAN;
    let (s, _) = push(e, &pcm, 64);
    let m = expect(CODEC_ERROR_INVALID_ARGUMENT, s, "NaN");
    assert!(m.contains("sample 100"), "{m}");
    // SAFETY: a live encoder.
    unsafe { codec_encoder_free(e) };
}

#[test]
fn short_buffers_and_bad_codes_consume_nothing() {
    let h = Handles::open();
    let hop = h.info.hop as usize;
    let pcm = speech(3 * hop + 5);
    let (e, reference) = (h.encoder(None), h.encoder(None));
    // SAFETY: a live encoder.
    let per_frame = unsafe { codec_encoder_codes_per_frame(e) };
    let (s, _) = push(e, &pcm, 2 * per_frame);
    let m = expect(CODEC_ERROR_BUFFER_TOO_SMALL, s, "3 frames into a buffer of 2");
    assert!(m.contains(&format!("{} codes", 3 * per_frame)), "{m}");
    let (s, codes) = push(e, &pcm, 3 * per_frame);
    assert_eq!(s, CODEC_OK, "{}", last_error());
    assert_eq!(codes, push(reference, &pcm, 3 * per_frame).1, "the refused push left the encoder as it was");
    let mut tail = [0u16; 64];
    let mut n = 0;
    // SAFETY: a live encoder and a buffer shorter than its length says is refused.
    let s = unsafe { codec_encoder_flush(e, tail.as_mut_ptr(), 2 * per_frame - 1, &mut n) };
    expect(CODEC_ERROR_BUFFER_TOO_SMALL, s, "the flush of a partial frame makes two");

    let (d, reference_d) = (h.decoder(None), h.decoder(None));
    let (s, _) = decode(d, &codes[..per_frame - 1], 4 * hop);
    let m = expect(CODEC_ERROR_CODES, s, "a partial frame");
    assert!(m.contains("not whole frames"), "{m}");
    let mut bad = codes.clone();
    bad[per_frame + 1] = h.info.codebook_size as u16;
    let (s, _) = decode(d, &bad, 4 * hop);
    let m = expect(CODEC_ERROR_CODES, s, "a code outside the codebook");
    assert!(m.contains(&format!("at index {}", per_frame + 1)), "{m}");
    let (s, _) = decode(d, &codes, 2 * hop - 1);
    expect(CODEC_ERROR_BUFFER_TOO_SMALL, s, "3 frames make 2 hops");
    let (s, out) = decode(d, &codes, 2 * hop);
    assert_eq!(s, CODEC_OK, "{}", last_error());
    // SAFETY: a live model.
    let delay = unsafe { codec_model_decoder_delay(h.model) };
    assert_eq!(out.len(), 3 * hop - delay, "what 3 frames complete: they lag the synthesis delay");
    assert_eq!(out, decode(reference_d, &codes, 3 * hop).1, "the refused pushes left the decoder as it was");
    let (s, _) = conceal(d, hop - 1);
    expect(CODEC_ERROR_BUFFER_TOO_SMALL, s, "a concealed frame is a hop");
    // SAFETY: each from its _new, freed once.
    unsafe {
        codec_encoder_free(e);
        codec_encoder_free(reference);
        codec_decoder_free(d);
        codec_decoder_free(reference_d);
    }
}

/// Issue 32, item 6: a block of 0xFFFFFFFF frames asked for terabytes and
/// aborted the host; every size a caller passes is now checked against a
/// limit the header states, and refused with a status.
#[test]
fn sizes_over_their_limits_are_refused_not_allocated() {
    let h = Handles::open();
    for (options, field) in [
        (CodecStreamOptions { block_frames: u32::MAX, ..Default::default() }, "block_frames"),
        (CodecStreamOptions { block_frames: CODEC_MAX_BLOCK_FRAMES + 1, ..Default::default() }, "block_frames"),
        (CodecStreamOptions { threads: u32::MAX, ..Default::default() }, "threads"),
        (CodecStreamOptions { threads: CODEC_MAX_THREADS + 1, ..Default::default() }, "threads"),
    ] {
        let (mut e, mut d) = (null_mut(), null_mut());
        // SAFETY: a live model, readable options, writable out-pointers.
        let m = expect(CODEC_ERROR_INVALID_ARGUMENT, unsafe { codec_encoder_new(h.model, &options, &mut e) }, field);
        assert!(m.contains(field) && m.contains("CODEC_MAX_"), "{m}");
        // SAFETY: as above.
        let m = expect(CODEC_ERROR_INVALID_ARGUMENT, unsafe { codec_decoder_new(h.model, &options, &mut d) }, field);
        assert!(m.contains(field), "{m}");
        assert!(e.is_null() && d.is_null());
    }
    // The limits themselves are accepted.
    let most = CodecStreamOptions { block_frames: CODEC_MAX_BLOCK_FRAMES, threads: 2, ..Default::default() };
    let (e, d) = (h.encoder(Some(most)), h.decoder(Some(most)));
    // SAFETY: each from its _new, freed once.
    unsafe {
        codec_encoder_free(e);
        codec_decoder_free(d);
    }
}

/// Issue 32, item 7: the header says how large a flush buffer must be, and
/// that size holds the longest flush (over half a hop left over, for a model
/// whose synthesis lags a hop and a half).
#[test]
fn a_flush_buffer_of_the_stated_size_always_suffices() {
    let h = Handles::open();
    let hop = h.info.hop as usize;
    // SAFETY: NULL is allowed.
    assert_eq!(unsafe { codec_encoder_max_flush_codes(null()) }, 0);
    let mut longest = 0;
    for remainder in [0, 1, hop / 2, hop / 2 + 1, hop - 1] {
        let e = h.encoder(Some(CodecStreamOptions { block_frames: 1, ..Default::default() }));
        // SAFETY: a live encoder.
        let (per_frame, cap) = unsafe { (codec_encoder_codes_per_frame(e), codec_encoder_max_flush_codes(e)) };
        assert!(cap.is_multiple_of(per_frame) && cap >= 2 * per_frame, "{cap} codes");
        let pcm = speech(3 * hop + remainder);
        let (s, _) = push(e, &pcm, 4 * per_frame);
        assert_eq!(s, CODEC_OK, "{}", last_error());
        let mut out = vec![0u16; cap];
        let mut n = 0;
        // SAFETY: a live encoder and a buffer of the length given.
        let s = unsafe { codec_encoder_flush(e, out.as_mut_ptr(), out.len(), &mut n) };
        assert_eq!(s, CODEC_OK, "remainder {remainder}: {}", last_error());
        longest = longest.max(n);
        // SAFETY: from codec_encoder_new, freed once.
        unsafe { codec_encoder_free(e) };
    }
    let p = ModelPackage::open("default").expect("package");
    let per_frame = p.quantizer().codes_per_frame(p.default_stages());
    let delay = p.manifest().decoder_delay_samples();
    assert_eq!(longest, (1 + delay.div_ceil(hop)) * per_frame, "some remainder fills the stated size");
}
