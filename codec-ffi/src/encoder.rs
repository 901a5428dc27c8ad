//! The streaming encoder behind C: PCM in, codes out into the caller's buffer.

use codec_core::Encoder;

use crate::args::{check_finite, free, handle, handle_mut, put, slice, slice_mut};
use crate::model::{CodecModel, CodecStreamOptions};
use crate::status::{guard, CodecStatus, Failure};
use crate::{copy_out, too_small, Health};

/// A streaming encoder. One thread at a time may use it; separate encoders
/// run in parallel.
pub struct CodecEncoder {
    encoder: Encoder,
    hop: usize,
    per_frame: usize,
    /// The most frames one flush emits.
    max_flush: usize,
    block_frames: usize,
    /// Samples of the hop not yet complete, which with a push's length fixes
    /// how many frames it emits before anything runs.
    pending: usize,
    /// Codes of at most one block, sized once: a warm push does not allocate.
    staged: Vec<u16>,
    health: Health,
}

impl CodecEncoder {
    pub(crate) fn encoder_mut(&mut self) -> &mut Encoder {
        &mut self.encoder
    }

    fn push(&mut self, pcm: &[f32], out: &mut [u16]) -> Result<usize, Failure> {
        self.health.check("encoder")?;
        check_finite(pcm)?;
        let frames = (self.pending + pcm.len()) / self.hop;
        too_small(frames.saturating_mul(self.per_frame), out.len(), "codes")?;
        let mut written = 0;
        let mut rest = pcm;
        while !rest.is_empty() {
            // Up to the end of the next block of frames: the network sees the
            // same blocks as one push of everything, and `staged` never grows.
            let take = (self.block_frames * self.hop - self.pending).min(rest.len());
            let (now, later) = rest.split_at(take);
            self.staged.clear();
            self.health.run(|| self.encoder.push(now, &mut self.staged))?;
            self.pending = (self.pending + take) % self.hop;
            written = copy_out(&self.staged, out, written)?;
            rest = later;
        }
        Ok(written)
    }

    fn flush(&mut self, out: &mut [u16]) -> Result<usize, Failure> {
        self.health.check("encoder")?;
        let frames = usize::try_from(self.encoder.frames_to_flush()).unwrap_or(usize::MAX);
        too_small(frames.saturating_mul(self.per_frame), out.len(), "codes")?;
        self.staged.clear();
        self.health.run(|| self.encoder.flush(&mut self.staged))?;
        self.pending = 0;
        copy_out(&self.staged, out, 0)
    }
}

/// Creates an encoder for `model`; `options` may be NULL for the defaults.
/// Free it with `codec_encoder_free`.
///
/// # Safety
/// `model` is NULL or live; `options` is NULL or readable; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn codec_encoder_new(
    model: *const CodecModel,
    options: *const CodecStreamOptions,
    out: *mut *mut CodecEncoder,
) -> CodecStatus {
    guard(|| {
        // SAFETY: as the caller promises.
        let model = unsafe { handle(model, "model") }?;
        // SAFETY: as the caller promises.
        let options = unsafe { options.as_ref() }.copied().unwrap_or_default();
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        let o = options.resolve(&model.package)?;
        let encoder = Encoder::with_block(&model.package, o.runtime, o.stages, o.block_frames)?;
        let per_frame = encoder.codes_per_frame();
        let max_flush = encoder.max_flush_frames();
        let handle = CodecEncoder {
            encoder,
            hop: model.package.hop(),
            per_frame,
            max_flush,
            block_frames: o.block_frames,
            pending: 0,
            // A flush may emit more frames than a block holds.
            staged: Vec::with_capacity(o.block_frames.max(max_flush) * per_frame),
            health: Health::default(),
        };
        // SAFETY: checked non-NULL above.
        unsafe { put(out, Box::into_raw(Box::new(handle)), "out") }
    })
}

/// Frees an encoder; NULL is ignored.
///
/// # Safety
/// `encoder` is NULL or from `codec_encoder_new`, and not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn codec_encoder_free(encoder: *mut CodecEncoder) {
    // SAFETY: from Box::into_raw in codec_encoder_new, freed once.
    unsafe { free(encoder) }
}

/// Codes in each frame (`groups * stages`); 0 for a NULL encoder.
///
/// # Safety
/// `encoder` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn codec_encoder_codes_per_frame(encoder: *const CodecEncoder) -> usize {
    // SAFETY: as the caller promises.
    unsafe { encoder.as_ref() }.map_or(0, |e| e.per_frame)
}

/// The most codes `codec_encoder_flush` writes: a flush buffer of this many
/// codes always suffices, whatever was pushed (two frames of codes for a model
/// that synthesizes one frame a token, three for one that synthesizes two).
/// 0 for a NULL encoder.
///
/// # Safety
/// `encoder` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn codec_encoder_max_flush_codes(encoder: *const CodecEncoder) -> usize {
    // SAFETY: as the caller promises.
    unsafe { encoder.as_ref() }.map_or(0, |e| e.max_flush.saturating_mul(e.per_frame))
}

/// Takes `samples` mono samples at the model's rate (any count, nominally in
/// -1..1) and writes the codes of every frame they complete to `codes`,
/// frame-major; `*written` is the number of codes written.
///
/// A push of `samples` never emits more than `ceil(samples / hop)` frames, so
/// a buffer of that many frames of codes always suffices. A smaller buffer
/// than the push needs, or a sample that is NaN or infinite, is refused
/// before anything is consumed. Once warm it does not allocate.
///
/// # Safety
/// `encoder` is NULL or live; `pcm` is NULL or holds `samples` floats;
/// `codes` is NULL or holds `capacity` writable values; `written` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn codec_encoder_push(
    encoder: *mut CodecEncoder,
    pcm: *const f32,
    samples: usize,
    codes: *mut u16,
    capacity: usize,
    written: *mut usize,
) -> CodecStatus {
    guard(|| {
        // SAFETY (all four): as the caller promises.
        unsafe { put(written, 0, "written") }?;
        let encoder = unsafe { handle_mut(encoder, "encoder") }?;
        let pcm = unsafe { slice(pcm, samples, "pcm") }?;
        let out = unsafe { slice_mut(codes, capacity, "codes") }?;
        let n = encoder.push(pcm, out)?;
        unsafe { put(written, n, "written") }
    })
}

/// Ends the stream: pads the partial frame with silence and emits it and the
/// frames the decoder needs to finish the last sample: at most
/// `codec_encoder_max_flush_codes(encoder)` codes, so a buffer of that many
/// always suffices. Call `codec_encoder_reset` before encoding another stream.
///
/// # Safety
/// As `codec_encoder_push`.
#[no_mangle]
pub unsafe extern "C" fn codec_encoder_flush(
    encoder: *mut CodecEncoder,
    codes: *mut u16,
    capacity: usize,
    written: *mut usize,
) -> CodecStatus {
    guard(|| {
        // SAFETY (all three): as the caller promises.
        unsafe { put(written, 0, "written") }?;
        let encoder = unsafe { handle_mut(encoder, "encoder") }?;
        let out = unsafe { slice_mut(codes, capacity, "codes") }?;
        let n = encoder.flush(out)?;
        unsafe { put(written, n, "written") }
    })
}

/// Back to the state of a new encoder, keeping the loaded network; also
/// makes an encoder usable again after a failed call.
///
/// # Safety
/// `encoder` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn codec_encoder_reset(encoder: *mut CodecEncoder) -> CodecStatus {
    guard(|| {
        // SAFETY: as the caller promises.
        let e = unsafe { handle_mut(encoder, "encoder") }?;
        e.encoder.reset();
        e.pending = 0;
        e.health = Health::default();
        Ok(())
    })
}
