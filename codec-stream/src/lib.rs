//! The realtime side of the codec: from microphone to bitstream to speaker.
//!
//! - [`jitter`]: the receiver's adaptive jitter buffer, which turns packets
//!   arriving in any order into one frame (or a concealment request) per
//!   frame period;
//! - [`netsim`]: a deterministic lossy, jittery network for tests and demos.

pub mod jitter;
pub mod netsim;

pub use jitter::{JitterBuffer, JitterConfig, JitterStats, Playout, PushOutcome};
pub use netsim::{NetSim, NetSimConfig, NetSimStats};
