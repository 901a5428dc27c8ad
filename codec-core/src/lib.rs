//! `codec-core`: the runtime of a neural speech codec.
//!
//! A [`package::ModelPackage`] is a folder whose manifest says everything about
//! a model. An [`Encoder`] turns PCM into frames of codes with the model's
//! encoder network and quantizer; a [`Decoder`] turns codes back into PCM.
//! Codes leave as a [`bitstream::TokenFile`] or a [`bitstream::Packet`].
//!
//! The project README follows; its example runs as a doctest.
#![doc = include_str!("../../README.md")]

pub mod audio;
pub mod bitstream;
mod codec;
pub mod corpus;
pub mod dsp;
mod error;
pub mod input;
pub mod offline;
pub mod output;
pub mod package;
pub mod quantizer;
pub mod runtime;
pub mod watermark;

pub use codec::{frames_for, samples_from, BatchEncoder, Decoder, Encoder, DEFAULT_BLOCK_FRAMES, MAX_BLOCK_FRAMES};
pub use error::CodecError;
pub use output::{OutputError, OutputFile};
pub use package::ModelPackage;
pub use runtime::{Device, RuntimeOptions};
