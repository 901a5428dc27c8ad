//! Opening a model package and what C needs to know about it.

use std::ffi::{c_char, CString};

use codec_core::runtime::check_threads;
use codec_core::{Device, ModelPackage, RuntimeOptions, DEFAULT_BLOCK_FRAMES, MAX_BLOCK_FRAMES};

use crate::args::{free, handle, put, text};
use crate::status::{guard, CodecStatus, Failure, CODEC_ERROR_INVALID_ARGUMENT};

/// An opened model package. It may be shared by threads and freed while
/// encoders and decoders made from it are still in use.
pub struct CodecModel {
    pub(crate) package: ModelPackage,
    name: CString,
}

/// The facts of a model a caller sizes its buffers and frames by.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CodecModelInfo {
    /// PCM rate in and out, in Hz.
    pub sample_rate: u32,
    /// Samples per frame (a hop: 320 at 16 kHz is 20 ms).
    pub hop: u32,
    /// Quantizer groups: codes per frame are `groups * stages`.
    pub groups: u32,
    /// Fewest stages an encoder or decoder may use.
    pub min_stages: u32,
    /// Most stages (what the model was trained with).
    pub max_stages: u32,
    /// The stages used when a caller passes 0.
    pub default_stages: u32,
    /// Entries per codebook: every code is below this.
    pub codebook_size: u32,
    /// Bits a code takes in a token file or packet.
    pub bits_per_code: u32,
}

/// The largest `block_frames` an encoder or decoder takes; more is refused
/// with `CODEC_ERROR_INVALID_ARGUMENT`.
pub const CODEC_MAX_BLOCK_FRAMES: u32 = 3000;

/// The most `threads` an encoder or decoder takes; more is refused with
/// `CODEC_ERROR_INVALID_ARGUMENT`.
pub const CODEC_MAX_THREADS: u32 = 256;

// The header's numbers are codec-core's limits.
const _: () = assert!(CODEC_MAX_BLOCK_FRAMES as usize == MAX_BLOCK_FRAMES);
const _: () = assert!(CODEC_MAX_THREADS as usize == codec_core::runtime::MAX_THREADS);

/// How to build an encoder or a decoder; zero in any field means the default.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CodecStreamOptions {
    /// Stages of codes a frame (0: the model's default).
    pub stages: u32,
    /// Most frames a network call (0: 250; at most `CODEC_MAX_BLOCK_FRAMES`).
    /// 1 suits one frame a call; a larger block makes a long push faster and
    /// sizes the buffers held.
    pub block_frames: u32,
    /// Threads inside one network call (0: 1; at most `CODEC_MAX_THREADS`).
    pub threads: u32,
    /// 0: CPU, 1: CUDA, 2: TensorRT (an unavailable device falls back to the CPU).
    pub device: u32,
}

/// Resolved options: sizes checked against their limits, the rest defaulted;
/// the stages are checked against the model when the network is built.
pub(crate) struct Resolved {
    pub(crate) stages: usize,
    pub(crate) block_frames: usize,
    pub(crate) runtime: RuntimeOptions,
}

impl CodecStreamOptions {
    pub(crate) fn resolve(&self, package: &ModelPackage) -> Result<Resolved, Failure> {
        let stages = if self.stages == 0 { package.default_stages() } else { self.stages as usize };
        let block_frames = if self.block_frames == 0 { DEFAULT_BLOCK_FRAMES } else { self.block_frames as usize };
        if block_frames > MAX_BLOCK_FRAMES {
            return Err(Failure::new(
                CODEC_ERROR_INVALID_ARGUMENT,
                format!("block_frames {block_frames} is more than CODEC_MAX_BLOCK_FRAMES ({MAX_BLOCK_FRAMES})"),
            ));
        }
        let threads = check_threads(self.threads as usize)
            .map_err(|e| Failure::new(CODEC_ERROR_INVALID_ARGUMENT, format!("threads: {e} (CODEC_MAX_THREADS)")))?;
        let device = match self.device {
            0 => Device::Cpu,
            1 => Device::Cuda,
            2 => Device::TensorRt,
            other => {
                return Err(Failure::new(
                    CODEC_ERROR_INVALID_ARGUMENT,
                    format!("device {other} is not one of 0 (CPU), 1 (CUDA), 2 (TensorRT)"),
                ))
            }
        };
        let runtime = RuntimeOptions { device, intra_threads: threads };
        Ok(Resolved { stages, block_frames, runtime })
    }
}

/// Opens a model by the name of a shipped one (`"default"` is the default
/// model) or by the path of a package folder, as `codec --model` does, and
/// checks every file against its hash. Free it with `codec_model_free`.
///
/// # Safety
/// `name_or_path` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn codec_model_open(name_or_path: *const c_char, out: *mut *mut CodecModel) -> CodecStatus {
    guard(|| {
        // SAFETY: as the caller promises.
        let name_or_path = unsafe { text(name_or_path, "name_or_path") }?;
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        let package = ModelPackage::open(name_or_path)?;
        let name = CString::new(package.name()).unwrap_or_default();
        let model = Box::into_raw(Box::new(CodecModel { package, name }));
        // SAFETY: checked non-NULL above.
        unsafe { put(out, model, "out") }
    })
}

/// Frees a model; NULL is ignored.
///
/// # Safety
/// `model` is NULL or from `codec_model_open`, and not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn codec_model_free(model: *mut CodecModel) {
    // SAFETY: from Box::into_raw in codec_model_open, freed once.
    unsafe { free(model) }
}

/// Fills `info` with the model's sample rate, frame size, codebooks and stage range.
///
/// # Safety
/// `model` is NULL or live; `info` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn codec_model_info(model: *const CodecModel, info: *mut CodecModelInfo) -> CodecStatus {
    guard(|| {
        // SAFETY: as the caller promises.
        let model = unsafe { handle(model, "model") }?;
        let p = &model.package;
        let q = p.quantizer();
        let facts = CodecModelInfo {
            sample_rate: p.sample_rate(),
            hop: count(p.hop()),
            groups: count(q.groups()),
            min_stages: count(q.min_stages()),
            max_stages: count(q.stages()),
            default_stages: count(p.default_stages()),
            codebook_size: count(q.codebook_size()),
            bits_per_code: u32::from(q.bits_per_code()),
        };
        // SAFETY: as the caller promises.
        unsafe { put(info, facts, "info") }
    })
}

/// The model's name (from its manifest), valid while the model lives; NULL
/// for a NULL model.
///
/// # Safety
/// `model` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn codec_model_name(model: *const CodecModel) -> *const c_char {
    // SAFETY: as the caller promises.
    unsafe { model.as_ref() }.map_or(std::ptr::null(), |m| m.name.as_ptr())
}

/// Manifest sizes are checked far below `u32::MAX` when a package opens.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Samples the decoder's output lags the frames it got (a hop, or a hop and
/// a half for a model that synthesizes two frames a token): a stream of `n`
/// frames decodes to `n * hop - delay` samples, and an encoder's flush makes
/// the stream `ceil((samples + delay) / hop)` frames long. 0 for a NULL model.
///
/// A function rather than a field of `CodecModelInfo`, so that callers built
/// against an earlier header keep the struct they allocate.
///
/// # Safety
/// `model` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn codec_model_decoder_delay(model: *const CodecModel) -> usize {
    // SAFETY: as the caller promises.
    unsafe { model.as_ref() }.map_or(0, |m| m.package.manifest().decoder_delay_samples())
}
