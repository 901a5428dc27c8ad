//! Capture through PulseAudio's own protocol, in pieces of the size the
//! call asks for.
//!
//! cpal's PulseAudio host asks for the same fragment, but runs its record
//! callback on the client's protocol thread beside a thread that polls the
//! stream's latency, and its callers need a [`crate::pacing::Pacer`] for
//! devices without a clock. With 5 ms pieces one call through it said its
//! input moved faster than real time and then never ended
//! (docs/latency.md). A server has a clock: this stream has no pacer and
//! no latency thread, and its callback only converts and copies into the
//! capture ring.

use std::ffi::CString;

use futures::executor::block_on;
use pulseaudio::{protocol, Client, RecordStream};

use crate::callbacks::CaptureCallback;

/// Bytes of one f32 sample.
const SAMPLE_BYTES: usize = 4;
/// Samples converted at a time, on the stack, so the callback does not allocate.
const CHUNK: usize = 256;

/// A capture stream, corked until [`PulseCapture::begin`]; dropping it ends it.
pub struct PulseCapture {
    stream: RecordStream,
    _client: Client,
}

impl PulseCapture {
    /// Captures the source named `source` at `rate` Hz, mono (the server
    /// mixes the source's channels), delivered `fragment` frames at a time.
    ///
    /// # Errors
    /// No server, no such source, or a stream the server refuses.
    pub fn open(source: &str, rate: u32, fragment: u32, mut callback: CaptureCallback) -> Result<Self, String> {
        let client = Client::from_env(c"codec").map_err(|e| format!("cannot reach the sound server: {e}"))?;
        let name = CString::new(source).map_err(|_| format!("bad source name {source:?}"))?;
        let fragment_bytes = fragment.max(1) * SAMPLE_BYTES as u32;
        let buffer_attr = protocol::stream::BufferAttr {
            // The most the server keeps for us when we fall behind: the ring
            // behind the callback holds far more.
            max_length: fragment_bytes.saturating_mul(16),
            fragment_size: fragment_bytes,
            ..Default::default()
        };
        let mut props = protocol::Props::new();
        props.set(protocol::Prop::MediaName, c"codec capture");
        let params = protocol::RecordStreamParams {
            source_name: Some(name),
            sample_spec: protocol::SampleSpec {
                format: protocol::SampleFormat::Float32Le,
                channels: 1,
                sample_rate: rate,
            },
            channel_map: protocol::ChannelMap::mono(),
            buffer_attr,
            flags: protocol::stream::StreamFlags { start_corked: true, adjust_latency: true, ..Default::default() },
            props,
            ..Default::default()
        };
        // A sample split across two deliveries is put together from its bytes.
        let mut carry = [0u8; SAMPLE_BYTES];
        let mut carried = 0;
        let sink = move |mut data: &[u8]| {
            let mut samples = [0f32; CHUNK];
            if carried > 0 {
                let take = (SAMPLE_BYTES - carried).min(data.len());
                carry[carried..carried + take].copy_from_slice(&data[..take]);
                carried += take;
                data = &data[take..];
                if carried < SAMPLE_BYTES {
                    return;
                }
                samples[0] = f32::from_le_bytes(carry);
                callback.process(&samples[..1], 1);
                carried = 0;
            }
            let whole = data.len() / SAMPLE_BYTES * SAMPLE_BYTES;
            for piece in data[..whole].chunks(CHUNK * SAMPLE_BYTES) {
                let n = piece.len() / SAMPLE_BYTES;
                for (out, bytes) in samples.iter_mut().zip(piece.chunks_exact(SAMPLE_BYTES)) {
                    *out = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                }
                callback.process(&samples[..n], 1);
            }
            let rest = &data[whole..];
            carry[..rest.len()].copy_from_slice(rest);
            carried = rest.len();
        };
        let stream = block_on(client.create_record_stream(params, sink))
            .map_err(|e| format!("cannot open a capture stream on {source}: {e}"))?;
        Ok(Self { stream, _client: client })
    }

    /// Starts capturing.
    ///
    /// # Errors
    /// The server refuses.
    pub fn begin(&self) -> Result<(), String> {
        block_on(self.stream.uncork()).map_err(|e| format!("cannot start capturing: {e}"))
    }
}
