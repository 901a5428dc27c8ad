//! The sending half of a call: capture ring to datagrams.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use codec_core::bitstream::Packet;
use codec_core::{ModelPackage, RuntimeOptions};
use ringbuf::traits::{Consumer, Observer};
use ringbuf::HeapCons;
use rubato::{Resampler, SincFixedIn, SincInterpolationParameters, SincInterpolationType, WindowFunction};

use crate::frame_codec::{CodecChoice, FrameEncoder, FrameLayout};
use crate::rtp::{RtpOut, RtpSettings};
use crate::stats::Counters;
use crate::StreamError;

/// Most frames a packet carries when sending (200 ms of audio): more would
/// add delay no call wants, for a header already paid down to a tenth.
pub const MAX_FRAMES_PER_PACKET: u8 = 10;

/// Capture samples resampled at a time (1 ms): a frame is encoded as soon
/// as the piece of capture holding its last sample is in. (An FFT resampler
/// took 5.4 ms chunks at 48 kHz and delayed by half of one more.)
const RESAMPLE_CHUNK_MS: u32 = 1;

/// Copies of the goodbye sent (each with its own sequence number, or SRTP's
/// replay protection would drop the copies): it is a bare header, and one
/// lost copy would leave the receiver waiting for its idle timeout.
const END_MARKER_COPIES: usize = 3;

/// Bits a second on the wire at `stages` stages and `frames_per_packet`
/// frames a packet, RTP header (and SRTP tag) included, not those of UDP
/// and IP, nor the model extension of the first packet.
pub fn wire_bitrate(package: &ModelPackage, stages: usize, frames_per_packet: u8, rtp: &RtpSettings) -> f64 {
    let q = package.quantizer();
    let payload = codec_core::bitstream::packed_len(
        q.codes_per_frame(stages) * usize::from(frames_per_packet),
        q.bits_per_code(),
    );
    let packet_seconds = f64::from(frames_per_packet) * package.hop() as f64 / f64::from(package.sample_rate());
    (crate::rtp::overhead(rtp) + payload) as f64 * 8.0 / packet_seconds
}

/// Drains the capture ring, resamples to the model's rate, encodes frame by
/// frame and hands out a datagram every `frames_per_packet` frames (one
/// per 20 ms frame by default).
pub struct FrameSender {
    ring: HeapCons<f32>,
    /// `None` when the device runs at the model's rate.
    resampler: Option<SincFixedIn<f32>>,
    input: Vec<f32>,
    resampled: Vec<f32>,
    encoder: FrameEncoder,
    codes: Vec<u16>,
    packet: Packet,
    rtp: RtpOut,
    datagram: Vec<u8>,
    next_frame: u32,
    frames_per_packet: u8,
    hop: usize,
    device_rate: u32,
    model_rate: u32,
    /// Most samples left waiting in the capture ring before the oldest are skipped.
    max_backlog: Option<usize>,
    counters: Arc<Counters>,
}

impl FrameSender {
    /// A sender for audio captured at `device_rate`, framing its packets
    /// as `rtp` says (a random SSRC, sequence number and timestamp each time).
    ///
    /// # Errors
    /// A stage count the model does not have, a rate that cannot be
    /// resampled, an encoder graph that does not load, or a payload type
    /// out of range.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        package: &ModelPackage,
        options: RuntimeOptions,
        stages: usize,
        rtp: &RtpSettings,
        device_rate: u32,
        ring: HeapCons<f32>,
        counters: Arc<Counters>,
    ) -> Result<Self, StreamError> {
        Self::with_codec(CodecChoice::Model, package, options, stages, rtp, device_rate, ring, counters)
    }

    /// As [`FrameSender::new`], with the codec `choice` (the model, or the
    /// pass-through that measures the path without it).
    ///
    /// # Errors
    /// As [`FrameSender::new`].
    #[allow(clippy::too_many_arguments)]
    pub fn with_codec(
        choice: CodecChoice,
        package: &ModelPackage,
        options: RuntimeOptions,
        stages: usize,
        rtp: &RtpSettings,
        device_rate: u32,
        ring: HeapCons<f32>,
        counters: Arc<Counters>,
    ) -> Result<Self, StreamError> {
        // One network call per frame: a frame leaves as soon as its last sample is in.
        let encoder = FrameEncoder::open(choice, package, options, stages)?;
        let layout = FrameLayout::of(choice, package, stages);
        let model_rate = layout.rate;
        let chunk = (device_rate * RESAMPLE_CHUNK_MS / 1000).max(1) as usize;
        let resampler =
            if device_rate == model_rate {
                None
            } else {
                // The receiver's filter: short, so it adds under a millisecond.
                let params = SincInterpolationParameters {
                    sinc_len: 64,
                    f_cutoff: 0.95,
                    oversampling_factor: 128,
                    interpolation: SincInterpolationType::Linear,
                    window: WindowFunction::BlackmanHarris2,
                };
                let ratio = f64::from(model_rate) / f64::from(device_rate);
                Some(SincFixedIn::<f32>::new(ratio, 1.0, params, chunk, 1).map_err(|e| {
                    StreamError::Device(format!("cannot convert {device_rate} Hz to {model_rate} Hz: {e}"))
                })?)
            };
        let resampled_max = resampler.as_ref().map_or(chunk, |r| r.output_frames_max());
        let per_frame = encoder.codes_per_frame();
        let packet = Packet {
            model_tag: layout.tag,
            bits: layout.bits,
            codebooks: u8::try_from(per_frame).map_err(|_| StreamError::Internal("too many codebooks".into()))?,
            frames: 1,
            codes: Vec::with_capacity(per_frame),
            ..Packet::default()
        };
        let mut encoder = encoder;
        warm_up_encoder(&mut encoder, layout.hop)?;
        Ok(Self {
            ring,
            input: vec![0.0; chunk],
            resampled: vec![0.0; resampled_max],
            resampler,
            encoder,
            codes: Vec::with_capacity(per_frame * 64),
            packet,
            rtp: RtpOut::new(rtp, layout.tag, layout.hop)?,
            datagram: Vec::with_capacity(codec_core::bitstream::MAX_DATAGRAM_LEN),
            next_frame: 0,
            frames_per_packet: 1,
            hop: layout.hop,
            device_rate,
            model_rate,
            max_backlog: None,
            counters,
        })
    }

    /// Skips the oldest captured audio whenever more than `ms` of it waits,
    /// so a device that delivers in bursts (a sound server starting up, a
    /// stalled machine) cannot add its backlog to the call's delay. Off by
    /// default: a file is never skipped.
    pub fn set_max_backlog_ms(&mut self, ms: Option<u32>) {
        self.max_backlog = ms.map(|ms| (u64::from(self.device_rate) * u64::from(ms) / 1000) as usize);
    }

    /// Embeds `watermark` in the codes sent from now on (`None`: no longer).
    ///
    /// # Errors
    /// A model with no stage to carry one (not MCRVQ).
    pub fn set_watermark(&mut self, watermark: Option<&codec_core::watermark::Watermark>) -> Result<(), StreamError> {
        Ok(self.encoder.set_watermark(watermark)?)
    }

    /// Puts `n` frames in each packet (1 to [`MAX_FRAMES_PER_PACKET`]): the
    /// 12-byte RTP header is paid once for all of them, at `n - 1` frames more
    /// delay. The receiver needs no setting: packets say how many frames
    /// they carry.
    ///
    /// # Errors
    /// `n` out of range.
    pub fn set_frames_per_packet(&mut self, n: u8) -> Result<(), StreamError> {
        if !(1..=MAX_FRAMES_PER_PACKET).contains(&n) {
            return Err(StreamError::Network(format!(
                "frames per packet must be 1 to {MAX_FRAMES_PER_PACKET}, not {n}"
            )));
        }
        self.frames_per_packet = n;
        Ok(())
    }

    /// Encodes everything whole waiting in the capture ring and calls `send`
    /// with each frame's datagram. Returns the frames sent.
    ///
    /// # Errors
    /// An encoder network that fails to run.
    pub fn poll(&mut self, send: &mut dyn FnMut(&[u8])) -> Result<usize, StreamError> {
        let mut frames = 0;
        if let Some(max) = self.max_backlog {
            let excess = self.ring.occupied_len().saturating_sub(max.max(self.input.len()));
            if excess > 0 {
                self.ring.skip(excess);
                self.counters.capture_skipped.fetch_add(excess as u64, Relaxed);
            }
        }
        while self.ring.occupied_len() >= self.input.len() {
            let got = self.ring.pop_slice(&mut self.input);
            debug_assert_eq!(got, self.input.len());
            let out = match &mut self.resampler {
                Some(r) => {
                    r.process_into_buffer(&[&self.input], &mut [&mut self.resampled], None)
                        .map_err(|e| StreamError::Internal(e.to_string()))?
                        .1
                }
                None => {
                    self.resampled[..got].copy_from_slice(&self.input);
                    got
                }
            };
            self.encoder.push(&self.resampled[..out], &mut self.codes)?;
            frames += self.send_codes(send)?;
        }
        self.counters.send_delay_us.store(self.delay_us(), Relaxed);
        Ok(frames)
    }

    fn send_codes(&mut self, send: &mut dyn FnMut(&[u8])) -> Result<usize, StreamError> {
        let per_frame = self.encoder.codes_per_frame();
        let mut frames = 0;
        // Taken out for the loop, which sends packets through `self`; put back to keep its capacity.
        let mut codes = std::mem::take(&mut self.codes);
        for frame in codes.chunks_exact(per_frame) {
            if self.pending_frames() == 0 {
                self.packet.frame_index = self.next_frame;
            }
            self.packet.codes.extend_from_slice(frame);
            self.next_frame = self.next_frame.wrapping_add(1);
            frames += 1;
            if self.pending_frames() >= usize::from(self.frames_per_packet) {
                self.send_packet(send)?;
            }
        }
        codes.clear();
        self.codes = codes;
        Ok(frames)
    }

    /// Sends the frames waiting for a full packet, if any: at the end of a
    /// stream nothing encoded is kept back.
    ///
    /// # Errors
    /// A packet that cannot be written (an internal fault).
    pub fn flush(&mut self, send: &mut dyn FnMut(&[u8])) -> Result<(), StreamError> {
        if self.pending_frames() > 0 {
            self.send_packet(send)?;
        }
        Ok(())
    }

    /// Sends the frames waiting for a full packet, then the goodbye (an RTP
    /// packet with no payload whose timestamp is the end of the stream;
    /// three copies: a lost one costs the receiver its idle timeout). The
    /// sender sends nothing after it.
    ///
    /// # Errors
    /// A packet that cannot be written (an internal fault).
    pub fn finish(&mut self, send: &mut dyn FnMut(&[u8])) -> Result<(), StreamError> {
        self.flush(send)?;
        let end =
            Packet::end_of_stream(self.packet.model_tag, self.packet.bits, self.packet.codebooks, 0, self.next_frame);
        for _ in 0..END_MARKER_COPIES {
            self.rtp.write(&end, &mut self.datagram)?;
            send(&self.datagram);
            self.counters.bytes_sent.fetch_add(self.datagram.len() as u64, Relaxed);
        }
        Ok(())
    }

    fn pending_frames(&self) -> usize {
        self.packet.codes.len() / self.encoder.codes_per_frame()
    }

    fn send_packet(&mut self, send: &mut dyn FnMut(&[u8])) -> Result<(), StreamError> {
        self.packet.frames = self.pending_frames() as u8;
        self.rtp.write(&self.packet, &mut self.datagram)?;
        send(&self.datagram);
        self.packet.codes.clear();
        self.counters.packets_sent.fetch_add(1, Relaxed);
        self.counters.bytes_sent.fetch_add(self.datagram.len() as u64, Relaxed);
        Ok(())
    }

    /// Audio captured but not yet in a packet: the ring, the resampler's
    /// filter, the encoder's partial frame and frames waiting for a full packet.
    fn delay_us(&self) -> u64 {
        let ring = self.ring.occupied_len() as f64 / f64::from(self.device_rate);
        let filter = self.resampler.as_ref().map_or(0, |r| r.output_delay()) as f64 / f64::from(self.model_rate);
        let waiting = (self.pending_frames() * self.hop) as f64 / f64::from(self.model_rate);
        ((ring + filter + waiting) * 1e6) as u64
    }

    /// Frames sent so far.
    pub fn frames_sent(&self) -> u32 {
        self.next_frame
    }

    /// The SSRC of this sender's RTP stream.
    pub fn ssrc(&self) -> u32 {
        self.rtp.ssrc()
    }
}

/// The first runs of a network are slow (ONNX Runtime sets up its kernels):
/// done before the call, they do not pile up frames at its start.
fn warm_up_encoder(encoder: &mut FrameEncoder, hop: usize) -> Result<(), StreamError> {
    let mut codes = Vec::new();
    encoder.push(&vec![0.0; hop * 4], &mut codes)?;
    encoder.reset();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_paid_once_a_packet() {
        let package = ModelPackage::open("default").expect("default model");
        let stages = package.default_stages();
        let codes = package.bitrate(stages);
        let plain = RtpSettings::default();
        let one = wire_bitrate(&package, stages, 1, &plain);
        let three = wire_bitrate(&package, stages, 3, &plain);
        // 12 header bytes every 20 ms are 4.8 kbps; every 60 ms, 1.6 kbps.
        assert!((one - codes - 4800.0).abs() < 100.0, "{one} bps for {codes} of codes");
        assert!((three - codes - 1600.0).abs() < 100.0, "{three} bps for {codes} of codes");
        // SRTP's 10-byte tag: 4 kbps more at a frame a packet.
        let srtp = RtpSettings { srtp: Some(crate::srtp_key::SrtpKey::from_bytes([1; 30])), ..RtpSettings::default() };
        assert!((wire_bitrate(&package, stages, 1, &srtp) - one - 4000.0).abs() < 1.0);
    }

    #[test]
    fn frames_per_packet_out_of_range_are_refused() {
        let package = ModelPackage::open("default").expect("default model");
        let (_, ring) = ringbuf::traits::Split::split(ringbuf::HeapRb::<f32>::new(1024));
        let counters = Arc::new(Counters::default());
        let mut sender = FrameSender::new(
            &package,
            RuntimeOptions::default(),
            package.default_stages(),
            &RtpSettings::default(),
            16_000,
            ring,
            counters,
        )
        .expect("sender");
        assert!(sender.set_frames_per_packet(0).is_err());
        assert!(sender.set_frames_per_packet(MAX_FRAMES_PER_PACKET + 1).is_err());
        assert!(sender.set_frames_per_packet(MAX_FRAMES_PER_PACKET).is_ok());
    }
}
