//! The realtime side of the codec: from microphone to bitstream to speaker.
//!
//! ```text
//! capture callback -> ring -> [codec-send: resample, Encoder, packets] -> network
//!   -> [codec-receive: jitter buffer, Decoder or concealment, resample] -> ring -> playback callback
//! ```
//!
//! - [`callbacks`]: the device callbacks, which only copy samples and count;
//! - [`sender`] and [`receiver`]: the two codec halves, each driven by one thread, around a
//!   [`frame_codec`]: the model, or a pass-through that measures the path's floor;
//! - [`jitter`]: the receiver's adaptive jitter buffer, and [`playout_clock`], which paces it;
//! - [`rtp`]: the packets on the wire, RTP or SRTP (`docs/rtp-payload.md`), and [`srtp_key`], the call's key;
//! - [`netsim`]: a deterministic lossy, jittery network for tests and demos;
//! - [`device`] (cpal, and [`pulse_in`] and [`pulse_out`] on PulseAudio) and [`filedev`] (files at a steady pace): the audio ends;
//!   [`recording`] keeps what a file output played;
//! - [`session`]: whole calls: [`run_loopback`], [`run_send`], [`run_receive`];
//! - [`priority`]: realtime scheduling for the callbacks and codec threads, and [`pacing`],
//!   which holds a device without a clock to real time;
//! - [`stats`]: the shared counters and the status line;
//! - [`delay`]: measuring the delay between two recordings.

pub mod callbacks;
pub mod delay;
pub mod device;
pub mod filedev;
pub mod frame_codec;
pub mod jitter;
pub mod netsim;
pub mod pacing;
pub mod playout_clock;
pub mod priority;
#[cfg(any(target_os = "linux", target_os = "dragonfly", target_os = "freebsd", target_os = "netbsd"))]
pub mod pulse_in;
#[cfg(any(target_os = "linux", target_os = "dragonfly", target_os = "freebsd", target_os = "netbsd"))]
pub mod pulse_out;
pub mod receiver;
pub mod recording;
pub mod rtp;
pub mod sender;
pub mod session;
pub mod srtp_key;
pub mod stats;

pub use device::{list_devices, DeviceInfo};
pub use frame_codec::CodecChoice;
pub use jitter::{JitterBuffer, JitterConfig, JitterStats, Playout, PushOutcome};
pub use netsim::{NetSim, NetSimConfig, NetSimStats};
pub use rtp::{RtpSettings, DEFAULT_PAYLOAD_TYPE};
pub use sender::{wire_bitrate, MAX_FRAMES_PER_PACKET};
pub use session::{run_loopback, run_receive, run_send, CallOptions, Input, Output, Summary, DEFAULT_BUFFER_MS};
pub use srtp_key::{SrtpKey, SRTP_SUITE};
pub use stats::{Counters, Snapshot};

/// What stops a call.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Codec(#[from] codec_core::CodecError),
    #[error("{0}")]
    Device(String),
    #[error("{0}")]
    Network(String),
    #[error("input: {0}")]
    Input(String),
    #[error("output: {0}")]
    Output(String),
    #[error("internal error: {0}")]
    Internal(String),
}
