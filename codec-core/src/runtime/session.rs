//! One network's ONNX Runtime session, on the device asked for.

use std::fmt;
use std::str::FromStr;

use ort::ep;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use super::library::environment;
use super::RuntimeError;

/// Where a network runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    #[default]
    Cpu,
    Cuda,
    TensorRt,
}

impl FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda),
            "tensorrt" => Ok(Device::TensorRt),
            // Both GPU providers run on an NVIDIA GPU: "gpu" would pick one silently.
            "gpu" => Err("unknown device `gpu`: say cuda or tensorrt (both run on an NVIDIA GPU)".into()),
            other => Err(format!("unknown device `{other}` (expected cpu, cuda or tensorrt)")),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::TensorRt => "tensorrt",
        })
    }
}

/// The most threads one network call may use. More than a machine's cores
/// only slows a call down, and thousands make ONNX Runtime hang or crash when
/// the process runs out of threads or memory: refused, not passed on.
pub const MAX_THREADS: usize = 256;

/// The thread count to build sessions with: `threads`, or 1 for 0.
///
/// This is the one check of a thread count, whatever surface it came
/// through (the CLI's `--threads`, Python's `threads=`, C's `threads`).
///
/// # Errors
/// [`RuntimeError::TooManyThreads`] above [`MAX_THREADS`].
///
/// ```
/// use codec_core::runtime::{check_threads, MAX_THREADS};
/// assert_eq!(check_threads(0).ok(), Some(1));
/// assert_eq!(check_threads(MAX_THREADS).ok(), Some(MAX_THREADS));
/// assert!(check_threads(MAX_THREADS + 1).is_err());
/// ```
pub fn check_threads(threads: usize) -> Result<usize, RuntimeError> {
    if threads > MAX_THREADS {
        return Err(RuntimeError::TooManyThreads { requested: threads, max: MAX_THREADS });
    }
    Ok(threads.max(1))
}

/// How sessions are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeOptions {
    pub device: Device,
    /// Threads inside one network call; 1 suits streaming and one session per
    /// thread. At most [`MAX_THREADS`] (see [`check_threads`]).
    pub intra_threads: usize,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self { device: Device::Cpu, intra_threads: 1 }
    }
}

/// A loaded network and the device it actually runs on.
pub struct NetworkSession {
    pub(crate) session: Session,
    device: Device,
    fallback_reason: Option<String>,
}

impl fmt::Debug for NetworkSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkSession").field("device", &self.device).finish()
    }
}

impl NetworkSession {
    /// Loads the ONNX graph `model` (its bytes, so that what runs is what the
    /// caller checked) on `options.device`; when that device's provider cannot be
    /// registered, loads it on the CPU and records why ([`NetworkSession::fallback_reason`]).
    ///
    /// # Errors
    /// More than [`MAX_THREADS`] threads, the library cannot be loaded, or
    /// the graph cannot be loaded even on the CPU.
    pub fn load(model: &[u8], options: RuntimeOptions) -> Result<Self, RuntimeError> {
        // Before any device is tried: a bad count is no reason to fall back.
        check_threads(options.intra_threads)?;
        let mut fallback_reason = None;
        if options.device != Device::Cpu {
            match Self::build(model, options) {
                Ok(session) => return Ok(Self { session, device: options.device, fallback_reason }),
                Err(e) => fallback_reason = Some(format!("{} unavailable ({e}); running on the CPU", options.device)),
            }
        }
        let session = Self::build(model, RuntimeOptions { device: Device::Cpu, ..options })?;
        Ok(Self { session, device: Device::Cpu, fallback_reason })
    }

    fn build(model: &[u8], options: RuntimeOptions) -> Result<Session, RuntimeError> {
        let mut builder = Session::builder(environment()?)?
            .with_optimization_level(GraphOptimizationLevel::Level3)?
            .with_intra_threads(check_threads(options.intra_threads)?)?
            .with_inter_threads(1)?;
        builder = match options.device {
            Device::Cpu => builder,
            Device::Cuda => builder.with_execution_providers([ep::CUDA::default().build().error_on_failure()])?,
            Device::TensorRt => builder.with_execution_providers([
                ep::TensorRT::default().build().error_on_failure(),
                ep::CUDA::default().build().error_on_failure(),
            ])?,
        };
        Ok(builder.commit_from_memory(model)?)
    }

    /// The device the session runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Why the device asked for was not used, if it was not.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }
}
