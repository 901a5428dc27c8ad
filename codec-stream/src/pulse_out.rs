//! Playback through PulseAudio's own protocol, with the server-side buffer
//! the call asks for.
//!
//! cpal's PulseAudio host asks for a target of two callback periods and a
//! minimum request of one, with latency adjustment on. The server sizes the
//! sink's own latency as (target - 2 x request) / 2, which is zero: it clamps
//! to the sink's minimum (0.5 ms for a null sink) and then wakes 2000 times a
//! second, streams its monitor to recorders in 0.5 ms pieces, and on a small
//! machine spends most of a core doing it. Calls underran every minute or so.
//! Asking for a target of the whole buffer and requests of a quarter of it
//! gives the sink a latency of a quarter (3 ms at the default 12 ms),
//! and the stream's whole delay in the server is the target. Capture is
//! ours too ([`crate::pulse_in`]), in pieces of a third of the buffer;
//! `scripts/measure-latency.sh` shows what the server granted both.

use std::ffi::CString;

use futures::executor::block_on;
use pulseaudio::{protocol, AsPlaybackSource, Client, PlaybackStream};

use crate::callbacks::PlaybackCallback;

/// A playing stream; dropping it ends it.
pub struct PulsePlayback {
    _stream: PlaybackStream,
    _client: Client,
}

/// Bytes of one f32 sample.
const SAMPLE_BYTES: usize = 4;

impl PulsePlayback {
    /// Plays `callback` on the sink named `sink` at `rate` Hz, keeping
    /// `tlength` frames queued in the server (the device buffer), topped up
    /// `minreq` frames or more at a time. The stream is mono: the
    /// pipeline's audio is, and the server spreads it over the sink's channels.
    ///
    /// # Errors
    /// No server, no such sink, or a stream the server refuses.
    pub fn start(
        sink: &str,
        rate: u32,
        tlength: u32,
        minreq: u32,
        mut callback: PlaybackCallback,
    ) -> Result<Self, String> {
        let client = Client::from_env(c"codec").map_err(|e| format!("cannot reach the sound server: {e}"))?;
        let name = CString::new(sink).map_err(|_| format!("bad sink name {sink:?}"))?;
        let target = tlength.max(2) * SAMPLE_BYTES as u32;
        let buffer_attr = protocol::stream::BufferAttr {
            max_length: target,
            target_length: target,
            minimum_request_length: minreq.max(1) * SAMPLE_BYTES as u32,
            ..Default::default()
        };
        // Named, so the server's log and `pactl list sink-inputs` say whose stream it is.
        let mut props = protocol::Props::new();
        props.set(protocol::Prop::MediaName, c"codec playback");
        let params = protocol::PlaybackStreamParams {
            sink_name: Some(name),
            sample_spec: protocol::SampleSpec {
                format: protocol::SampleFormat::Float32Le,
                channels: 1,
                sample_rate: rate,
            },
            channel_map: protocol::ChannelMap::mono(),
            buffer_attr,
            flags: protocol::stream::StreamFlags { adjust_latency: true, ..Default::default() },
            props,
            ..Default::default()
        };
        // The server never asks for more than the buffer holds; the scratch
        // is made here so the callback does not allocate.
        let mut scratch = vec![0f32; target as usize / SAMPLE_BYTES];
        let source = move |buf: &mut [u8]| -> usize {
            let whole = buf.len() / SAMPLE_BYTES * SAMPLE_BYTES;
            let step = scratch.len() * SAMPLE_BYTES;
            let mut done = 0;
            while done < whole {
                let n = (whole - done).min(step);
                let samples = &mut scratch[..n / SAMPLE_BYTES];
                callback.process(samples, 1);
                for (out, s) in buf[done..done + n].chunks_exact_mut(SAMPLE_BYTES).zip(samples.iter()) {
                    out.copy_from_slice(&s.to_le_bytes());
                }
                done += n;
            }
            buf[done..].fill(0);
            // Zero would tell the server the stream has ended.
            buf.len()
        };
        let stream = block_on(client.create_playback_stream(params, source.as_playback_source()))
            .map_err(|e| format!("cannot open a playback stream on {sink}: {e}"))?;
        Ok(Self { _stream: stream, _client: client })
    }
}
