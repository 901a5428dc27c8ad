//! The streaming decoder behind C: codes in, PCM out into the caller's
//! buffer, and concealment for frames that never arrived.

use codec_core::{CodecError, Decoder};

use crate::args::{free, handle, handle_mut, put, slice, slice_mut};
use crate::model::{CodecModel, CodecStreamOptions};
use crate::status::{guard, CodecStatus, Failure, CODEC_ERROR_CODES};
use crate::{copy_out, too_small, Health};

/// A streaming decoder. One thread at a time may use it; separate decoders
/// run in parallel.
pub struct CodecDecoder {
    decoder: Decoder,
    hop: usize,
    per_frame: usize,
    codebook_size: usize,
    block_frames: usize,
    /// Samples of at most one block, sized once: a warm push does not allocate.
    staged: Vec<f32>,
    health: Health,
}

impl CodecDecoder {
    /// Samples that `frames` more frames complete: the very first frame
    /// only primes the overlap-add.
    fn samples_for(&self, frames: usize) -> usize {
        let priming = usize::from(frames > 0 && self.decoder.frames_in() == 0);
        (frames - priming).saturating_mul(self.hop)
    }

    /// Checks every code before any is decoded, so that bad codes are
    /// refused whole instead of after part of the push has played.
    fn check_codes(&self, codes: &[u16]) -> Result<usize, Failure> {
        if !codes.len().is_multiple_of(self.per_frame) {
            return Err(CodecError::PartialFrame { codes: codes.len(), per_frame: self.per_frame }.into());
        }
        if let Some(i) = codes.iter().position(|&c| usize::from(c) >= self.codebook_size) {
            return Err(Failure::new(
                CODEC_ERROR_CODES,
                format!("code {} at index {i} is outside a codebook of {} entries", codes[i], self.codebook_size),
            ));
        }
        Ok(codes.len() / self.per_frame)
    }

    fn push(&mut self, codes: &[u16], out: &mut [f32]) -> Result<usize, Failure> {
        self.health.check("decoder")?;
        let frames = self.check_codes(codes)?;
        too_small(self.samples_for(frames), out.len(), "samples")?;
        let mut written = 0;
        for block in codes.chunks(self.block_frames * self.per_frame) {
            self.staged.clear();
            self.health.run(|| self.decoder.push(block, &mut self.staged))?;
            written = copy_out(&self.staged, out, written)?;
        }
        Ok(written)
    }

    fn conceal(&mut self, out: &mut [f32]) -> Result<usize, Failure> {
        self.health.check("decoder")?;
        too_small(self.samples_for(1), out.len(), "samples")?;
        self.staged.clear();
        self.health.run(|| self.decoder.conceal(&mut self.staged))?;
        copy_out(&self.staged, out, 0)
    }
}

/// Creates a decoder for `model`; `options` may be NULL for the defaults. It
/// must use the stages the codes were made with. Free it with `codec_decoder_free`.
///
/// # Safety
/// `model` is NULL or live; `options` is NULL or readable; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn codec_decoder_new(
    model: *const CodecModel,
    options: *const CodecStreamOptions,
    out: *mut *mut CodecDecoder,
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
        let decoder = Decoder::with_block(&model.package, o.runtime, o.stages, o.block_frames)?;
        let hop = model.package.hop();
        let handle = CodecDecoder {
            per_frame: decoder.codes_per_frame(),
            codebook_size: model.package.quantizer().codebook_size(),
            decoder,
            hop,
            block_frames: o.block_frames,
            staged: Vec::with_capacity(o.block_frames * hop),
            health: Health::default(),
        };
        // SAFETY: checked non-NULL above.
        unsafe { put(out, Box::into_raw(Box::new(handle)), "out") }
    })
}

/// Frees a decoder; NULL is ignored.
///
/// # Safety
/// `decoder` is NULL or from `codec_decoder_new`, and not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn codec_decoder_free(decoder: *mut CodecDecoder) {
    // SAFETY: from Box::into_raw in codec_decoder_new, freed once.
    unsafe { free(decoder) }
}

/// Codes in each frame the decoder takes; 0 for a NULL decoder.
///
/// # Safety
/// `decoder` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn codec_decoder_codes_per_frame(decoder: *const CodecDecoder) -> usize {
    // SAFETY: as the caller promises.
    unsafe { decoder.as_ref() }.map_or(0, |d| d.per_frame)
}

/// Decodes whole frames of codes (frame-major, `codes_per_frame` each) and
/// writes the samples they complete to `pcm`; `*written` is the number of
/// samples. The output runs behind the frames: the very first frame after
/// creation or reset yields nothing, every later one `hop` samples (but the
/// second only half of them for a model that synthesizes two frames a
/// token, whose output lags a hop and a half), so a buffer of
/// `frames * hop` samples always suffices.
///
/// Codes that are not whole frames or not below the codebook size, and a
/// buffer smaller than the push needs, are refused before anything is
/// decoded. Once warm it does not allocate.
///
/// # Safety
/// `decoder` is NULL or live; `codes` is NULL or holds `count` values;
/// `pcm` is NULL or holds `capacity` writable floats; `written` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn codec_decoder_push(
    decoder: *mut CodecDecoder,
    codes: *const u16,
    count: usize,
    pcm: *mut f32,
    capacity: usize,
    written: *mut usize,
) -> CodecStatus {
    guard(|| {
        // SAFETY (all four): as the caller promises.
        unsafe { put(written, 0, "written") }?;
        let decoder = unsafe { handle_mut(decoder, "decoder") }?;
        let codes = unsafe { slice(codes, count, "codes") }?;
        let out = unsafe { slice_mut(pcm, capacity, "pcm") }?;
        let n = decoder.push(codes, out)?;
        unsafe { put(written, n, "written") }
    })
}

/// Stands in for one lost frame: writes its hop of samples (none before the
/// first frame) to `pcm`. The sound continues the last frame received and
/// fades to silence over a run of losses; the next real frame joins it
/// without a click. A buffer of `hop` samples always suffices.
///
/// # Safety
/// `decoder` is NULL or live; `pcm` is NULL or holds `capacity` writable
/// floats; `written` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn codec_decoder_conceal(
    decoder: *mut CodecDecoder,
    pcm: *mut f32,
    capacity: usize,
    written: *mut usize,
) -> CodecStatus {
    guard(|| {
        // SAFETY (all three): as the caller promises.
        unsafe { put(written, 0, "written") }?;
        let decoder = unsafe { handle_mut(decoder, "decoder") }?;
        let out = unsafe { slice_mut(pcm, capacity, "pcm") }?;
        let n = decoder.conceal(out)?;
        unsafe { put(written, n, "written") }
    })
}

/// Back to the state of a new decoder, keeping the loaded network; also
/// makes a decoder usable again after a failed call.
///
/// # Safety
/// `decoder` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn codec_decoder_reset(decoder: *mut CodecDecoder) -> CodecStatus {
    guard(|| {
        // SAFETY: as the caller promises.
        let d = unsafe { handle_mut(decoder, "decoder") }?;
        d.decoder.reset();
        d.health = Health::default();
        Ok(())
    })
}
