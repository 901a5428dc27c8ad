//! `codec-core`: the runtime of a neural speech codec.
pub mod bitstream;
pub mod package;
pub mod quantizer;
pub mod runtime;
