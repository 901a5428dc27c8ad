//! The token watermark behind C (`docs/watermark.md`): an encoder that
//! embeds one, and detection in PCM.

use std::ffi::c_char;
use std::path::Path;

use codec_core::watermark::{self, Message, Watermark, WatermarkError, WatermarkKey, MAX_MESSAGE_BITS};
use codec_core::RuntimeOptions;

use crate::args::{check_finite, handle, handle_mut, put, slice, text};
use crate::encoder::CodecEncoder;
use crate::model::CodecModel;
use crate::status::{guard, CodecStatus, Failure, CODEC_ERROR_INVALID_ARGUMENT};

/// What `codec_detect_watermark` concluded.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct CodecWatermarkResult {
    /// 1 when the false-alarm probability is at or below the threshold, else 0.
    pub found: i32,
    /// The probability that audio without the watermark scores as high.
    pub false_alarm: f64,
    /// Bits of the message read (0: none, or not found).
    pub message_len: u32,
    /// The message, its first bit in bit 0.
    pub message: u32,
}

fn invalid(e: WatermarkError) -> Failure {
    Failure::new(CODEC_ERROR_INVALID_ARGUMENT, e.to_string())
}

/// # Safety
/// `path` is a NUL-terminated string.
unsafe fn read_key(path: *const c_char) -> Result<WatermarkKey, Failure> {
    // SAFETY: as the caller promises.
    let path = unsafe { text(path, "key_path") }?;
    WatermarkKey::read_file(Path::new(path)).map_err(invalid)
}

/// Embeds the watermark of the key in the file `key_path` (base64 of 16 to
/// 64 bytes, readable by its owner alone) in the codes `encoder` emits from
/// its next push, carrying `message` (NULL for none, or 1 to 32 characters of
/// `0` and `1`). A NULL `key_path` stops embedding. Call it before the first
/// push of a stream.
///
/// # Safety
/// `encoder` is NULL or live and used by this thread alone; `key_path` and
/// `message` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn codec_encoder_set_watermark(
    encoder: *mut CodecEncoder,
    key_path: *const c_char,
    message: *const c_char,
) -> CodecStatus {
    guard(|| {
        // SAFETY: as the caller promises.
        let e = unsafe { handle_mut(encoder, "encoder") }?;
        if key_path.is_null() {
            return Ok(e.encoder_mut().set_watermark(None)?);
        }
        // SAFETY: as the caller promises.
        let key = unsafe { read_key(key_path) }?;
        let message = if message.is_null() {
            None
        } else {
            // SAFETY: as the caller promises.
            Some(Message::parse(unsafe { text(message, "message") }?).map_err(invalid)?)
        };
        Ok(e.encoder_mut().set_watermark(Some(&Watermark::new(key, message)))?)
    })
}

/// Whether `len` samples of mono PCM at `sample_rate` Hz carry the watermark
/// of the key in the file `key_path`, reported found at a false-alarm
/// probability of `threshold` or less (1e-6 is `codec detect`'s default).
/// The PCM is encoded plainly four times over (a few seconds of work a
/// minute of audio on one core); `result` gets the verdict.
///
/// # Safety
/// `model` is NULL or live; `pcm` points to `len` floats (NULL only for 0);
/// `key_path` is a NUL-terminated string; `result` is writable.
#[no_mangle]
pub unsafe extern "C" fn codec_detect_watermark(
    model: *const CodecModel,
    pcm: *const f32,
    len: usize,
    sample_rate: u32,
    key_path: *const c_char,
    threshold: f64,
    result: *mut CodecWatermarkResult,
) -> CodecStatus {
    guard(|| {
        // SAFETY: as the caller promises.
        let model = unsafe { handle(model, "model") }?;
        // SAFETY: as the caller promises.
        let pcm = unsafe { slice(pcm, len, "pcm") }?;
        if result.is_null() {
            return Err(Failure::null("result"));
        }
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err(Failure::new(CODEC_ERROR_INVALID_ARGUMENT, "threshold must be between 0 and 1"));
        }
        check_finite(pcm)?;
        // SAFETY: as the caller promises.
        let key = unsafe { read_key(key_path) }?;
        let pcm = codec_core::audio::resample(pcm, sample_rate, model.package.sample_rate())
            .map_err(codec_core::CodecError::from)?;
        let report = watermark::detect_pcm(&model.package, RuntimeOptions::default(), &pcm, &key, threshold)?;
        let mut out = CodecWatermarkResult {
            found: i32::from(report.found),
            false_alarm: report.false_alarm,
            ..CodecWatermarkResult::default()
        };
        if let (true, Some(m)) = (report.found, &report.message) {
            out.message_len = m.bits().len().min(MAX_MESSAGE_BITS) as u32;
            out.message = m.bits().iter().enumerate().fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << i));
        }
        // SAFETY: checked non-NULL above; writable as the caller promises.
        unsafe { put(result, out, "result") }
    })
}
