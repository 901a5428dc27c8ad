//! `codec-ffi`: the codec's C ABI, built as a shared and a static library
//! with the header `include/codec.h`.
//!
//! A C program opens a model, makes a streaming encoder and decoder from it,
//! pushes PCM to get codes and codes to get PCM, conceals lost frames, and
//! frees what it made. Every function returns a status (`CODEC_OK` or a
//! `CODEC_ERROR_*` code) and keeps a one-line message for
//! `codec_last_error_message`; no panic crosses into C, and a caught one is
//! reported there, not printed to the host's stderr. Output goes into
//! buffers the caller owns, with their capacities: a call whose output would
//! not fit is refused before it consumes anything, and a warm encoder or
//! decoder does not allocate.

mod args;
mod decoder;
mod encoder;
mod model;
mod status;
mod watermark;

pub use decoder::*;
pub use encoder::*;
pub use model::*;
pub use status::*;
pub use watermark::*;

use codec_core::CodecError;

/// Whether an encoder or decoder is in a known state: a call that fails
/// part-way leaves it needing a reset, and says so rather than going on
/// from a state nobody can describe.
#[derive(Debug, Default)]
struct Health {
    failed: bool,
}

impl Health {
    fn check(&self, what: &str) -> Result<(), Failure> {
        if self.failed {
            return Err(Failure::new(
                CODEC_ERROR_NEEDS_RESET,
                format!("an earlier call on this {what} failed part-way; reset it before using it again"),
            ));
        }
        Ok(())
    }

    /// Runs a step that changes the object's state; a panic inside leaves `failed` set.
    fn run<T>(&mut self, step: impl FnOnce() -> Result<T, CodecError>) -> Result<T, Failure> {
        self.failed = true;
        let value = step()?;
        self.failed = false;
        Ok(value)
    }
}

/// Refuses a call whose output would not fit, before it changes anything.
fn too_small(needed: usize, capacity: usize, what: &str) -> Result<(), Failure> {
    if needed > capacity {
        return Err(Failure::new(
            CODEC_ERROR_BUFFER_TOO_SMALL,
            format!("the call makes {needed} {what}; the buffer holds {capacity}"),
        ));
    }
    Ok(())
}

/// Appends `staged` to `out` at `at`; returns the new end.
fn copy_out<T: Copy>(staged: &[T], out: &mut [T], at: usize) -> Result<usize, Failure> {
    let end = at + staged.len();
    let Some(dest) = out.get_mut(at..end) else {
        return Err(Failure::new(
            CODEC_ERROR_INTERNAL,
            format!("internal error: {end} values for a buffer of {}", out.len()),
        ));
    };
    dest.copy_from_slice(staged);
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_that_fails_or_panics_needs_a_reset() {
        let mut health = Health::default();
        assert!(health.run(|| Ok(())).is_ok());
        assert!(health.check("encoder").is_ok());
        let failed = health.run(|| -> Result<(), CodecError> { Err(CodecError::Internal("network".into())) });
        assert!(failed.is_err());
        let refused = health.check("encoder").expect_err("needs a reset");
        assert_eq!(refused.status, CODEC_ERROR_NEEDS_RESET);

        let mut health = Health::default();
        let status = status::guard(|| health.run(|| -> Result<(), CodecError> { panic!("inside a step") }).map(drop));
        assert_eq!(status, CODEC_ERROR_INTERNAL);
        assert_eq!(health.check("decoder").map_err(|f| f.status).expect_err("needs a reset"), CODEC_ERROR_NEEDS_RESET);
    }
}
