//! Sound cards through cpal: listing them and opening capture and playback
//! streams whose callbacks feed the pipeline's rings.

use std::sync::{Arc, Mutex};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{BufferSize, Device, SampleFormat, Stream, StreamConfig, SupportedBufferSize, SupportedStreamConfig};
use ringbuf::traits::Split;
use ringbuf::{HeapCons, HeapProd, HeapRb};

use crate::callbacks::{CaptureCallback, PlaybackCallback};
use crate::pacing::Pacer;
#[cfg(any(target_os = "linux", target_os = "dragonfly", target_os = "freebsd", target_os = "netbsd"))]
use crate::pulse_in::PulseCapture;
#[cfg(any(target_os = "linux", target_os = "dragonfly", target_os = "freebsd", target_os = "netbsd"))]
use crate::pulse_out::PulsePlayback;
use crate::stats::Counters;
use crate::StreamError;

/// Pieces a capture buffer is delivered in: a third of `--buffer-ms`.
const CAPTURE_PIECES: u32 = 3;
/// Requests our PulseAudio playback stream's buffer is asked for in: the
/// server tops it up a quarter at a time, so that it never runs below
/// three quarters of the buffer.
#[cfg(any(target_os = "linux", target_os = "dragonfly", target_os = "freebsd", target_os = "netbsd"))]
const PULSE_REQUESTS: u32 = 4;
/// What the playback ring keeps beyond a device's largest request, for the
/// codec thread that refills it: its 1 ms poll, and decoding a frame.
pub const RING_MARGIN_MS: u32 = 10;
/// The same for our PulseAudio stream, whose requests are small and even
/// (a quarter of its buffer): measured without an underrun in
/// docs/latency.md.
#[cfg(any(target_os = "linux", target_os = "dragonfly", target_os = "freebsd", target_os = "netbsd"))]
const PULSE_RING_MARGIN_MS: u32 = 6;

/// One line of `codec devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// What `--input-device` / `--output-device` take.
    pub id: String,
    pub description: String,
    pub input: Option<String>,
    pub output: Option<String>,
    pub default_input: bool,
    pub default_output: bool,
}

/// What the streams reported from their backends, for the control thread:
/// the first error that ends the call (a device unplugged, the sound server
/// gone), and the latest one the backend recovers from.
#[derive(Debug, Default)]
pub struct DeviceFaults {
    pub fatal: Mutex<Option<String>>,
    pub warning: Mutex<Option<String>>,
}

pub type DeviceFault = Arc<DeviceFaults>;

/// While alive, the C libraries under cpal (ALSA and the plugins it probes,
/// JACK among them) cannot print to stderr: probing devices makes them print
/// pages of harmless complaints. Errors still come back through cpal.
struct QuietStderr {
    #[cfg(unix)]
    saved: libc::c_int,
}

impl QuietStderr {
    fn new() -> Self {
        #[cfg(unix)]
        {
            // SAFETY: plain descriptor calls; failure of any leaves stderr as it was.
            unsafe {
                let saved = libc::dup(2);
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
                if saved >= 0 && null >= 0 {
                    libc::dup2(null, 2);
                }
                if null >= 0 {
                    libc::close(null);
                }
                Self { saved }
            }
        }
        #[cfg(not(unix))]
        Self {}
    }
}

impl Drop for QuietStderr {
    fn drop(&mut self) {
        #[cfg(unix)]
        if self.saved >= 0 {
            // SAFETY: restores the descriptor saved in `new`.
            unsafe {
                libc::dup2(self.saved, 2);
                libc::close(self.saved);
            }
        }
    }
}

fn describe(config: &SupportedStreamConfig) -> String {
    format!("{} Hz, {} ch, {}", config.sample_rate(), config.channels(), config.sample_format())
}

/// Every device of the default host, with its default configurations.
///
/// # Errors
/// The host cannot list its devices.
pub fn list_devices() -> Result<Vec<DeviceInfo>, StreamError> {
    let _quiet = QuietStderr::new();
    let host = audio_host()?;
    let id_of = |d: Option<Device>| d.and_then(|d| d.id().ok()).map(|id| id.to_string());
    let default_in = id_of(host.default_input_device());
    let default_out = id_of(host.default_output_device());
    let devices = host.devices().map_err(|e| StreamError::Device(format!("cannot list audio devices: {e}")))?;
    let mut out = Vec::new();
    for device in devices {
        let Ok(id) = device.id().map(|id| id.to_string()) else { continue };
        let input = device.default_input_config().ok().map(|c| describe(&c));
        let output = device.default_output_config().ok().map(|c| describe(&c));
        if input.is_none() && output.is_none() {
            continue;
        }
        out.push(DeviceInfo {
            description: device.description().map(|d| d.to_string()).unwrap_or_default(),
            default_input: default_in.as_deref() == Some(id.as_str()),
            default_output: default_out.as_deref() == Some(id.as_str()),
            id,
            input,
            output,
        });
    }
    Ok(out)
}

/// The audio system to talk to: `CODEC_AUDIO_HOST` (`alsa`, `pulseaudio`,
/// as `codec devices` names them) or cpal's default, which is PulseAudio's
/// own protocol where a server runs (its buffers are the ones asked for;
/// ALSA's PulseAudio plugin adds its own and fails delay queries under
/// load) and ALSA otherwise.
///
/// # Errors
/// A host name that is unknown or not available here.
pub fn audio_host() -> Result<cpal::Host, StreamError> {
    let Ok(name) = std::env::var("CODEC_AUDIO_HOST") else {
        return Ok(cpal::default_host());
    };
    let known: Vec<String> = cpal::available_hosts().iter().map(|h| h.name().to_lowercase()).collect();
    let id = cpal::available_hosts().into_iter().find(|h| h.name().eq_ignore_ascii_case(&name)).ok_or_else(|| {
        StreamError::Device(format!(
            "CODEC_AUDIO_HOST={name}: not an audio system here (available: {})",
            known.join(", ")
        ))
    })?;
    cpal::host_from_id(id).map_err(|e| StreamError::Device(format!("CODEC_AUDIO_HOST={name}: {e}")))
}

/// What to do where there is no sound card (a server, a container): said
/// with every error of a device that cannot be found or opened.
const NO_SOUND_CARD: &str = "`codec devices` lists the devices there are; on a machine with no sound card, \
     `eval \"$(scripts/pulse-null.sh start)\"` starts a headless PulseAudio with a virtual microphone and speaker, \
     and --input FILE / --output FILE run a call without any device";

/// A device that cannot be opened, with [`NO_SOUND_CARD`].
fn no_device(what: String) -> StreamError {
    StreamError::Device(format!("{what} ({NO_SOUND_CARD})"))
}

fn find_device(name: Option<&str>, input: bool) -> Result<Device, StreamError> {
    let _quiet = QuietStderr::new();
    let host = audio_host()?;
    let what = if input { "input" } else { "output" };
    let Some(name) = name else {
        let device = if input { host.default_input_device() } else { host.default_output_device() };
        return device.ok_or_else(|| {
            StreamError::Device(format!("no default {what} device (is a sound server running?); {NO_SOUND_CARD}"))
        });
    };
    let devices = host.devices().map_err(|e| StreamError::Device(format!("cannot list audio devices: {e}")))?;
    for device in devices {
        let id = device.id().map(|id| id.to_string()).unwrap_or_default();
        let description = device.description().map(|d| d.to_string()).unwrap_or_default();
        // `pulseaudio:mic_in` answers to `mic_in` too.
        let bare = id.split_once(':').map_or(id.as_str(), |(_, rest)| rest);
        if id == name || bare == name || description == name {
            return Ok(device);
        }
    }
    Err(no_device(format!("no {what} device named {name:?}")))
}

/// The device's default configuration with a buffer of about `buffer_ms`
/// where the device allows one.
fn stream_config(config: &SupportedStreamConfig, buffer_ms: u32) -> StreamConfig {
    let rate = config.sample_rate();
    let mut stream: StreamConfig = config.config();
    let want = (rate as u64 * u64::from(buffer_ms) / 1000).max(1) as u32;
    stream.buffer_size = match config.buffer_size() {
        SupportedBufferSize::Range { min, max } => BufferSize::Fixed(want.clamp(*min, *max)),
        SupportedBufferSize::Unknown => BufferSize::Fixed(want),
    };
    stream
}

fn note_fault(
    fault: &DeviceFault,
    counters: &Arc<Counters>,
    what: &'static str,
) -> impl FnMut(cpal::Error) + Send + 'static {
    let fault = fault.clone();
    let counters = counters.clone();
    move |e: cpal::Error| {
        use std::sync::atomic::Ordering::Relaxed;
        match e.kind() {
            // Once the call ends the backend may report the ring nobody fills.
            cpal::ErrorKind::Xrun if counters.stopping.load(Relaxed) => {}
            cpal::ErrorKind::Xrun => {
                counters.device_xruns.fetch_add(1, Relaxed);
            }
            cpal::ErrorKind::DeviceChanged | cpal::ErrorKind::RealtimeDenied => {}
            cpal::ErrorKind::DeviceNotAvailable
            | cpal::ErrorKind::StreamInvalidated
            | cpal::ErrorKind::HostUnavailable => {
                if let Ok(mut slot) = fault.fatal.lock() {
                    slot.get_or_insert_with(|| format!("{what} device: {e}"));
                }
            }
            // The stream goes on after anything else: count it and say so.
            _ => {
                counters.device_errors.fetch_add(1, Relaxed);
                if let Ok(mut slot) = fault.warning.lock() {
                    *slot = Some(format!("{what} device: {e} (going on)"));
                }
            }
        }
    }
}

/// A capture stream: cpal's, or PulseAudio's own (see [`crate::pulse_in`]).
pub enum InputStream {
    Cpal(Stream),
    #[cfg(any(target_os = "linux", target_os = "dragonfly", target_os = "freebsd", target_os = "netbsd"))]
    Pulse(PulseCapture),
}

impl InputStream {
    /// Starts capturing.
    ///
    /// # Errors
    /// The device or server refuses.
    pub fn begin(&self) -> Result<(), StreamError> {
        match self {
            InputStream::Cpal(stream) => {
                stream.play().map_err(|e| StreamError::Device(format!("cannot start capturing: {e}")))
            }
            #[cfg(any(target_os = "linux", target_os = "dragonfly", target_os = "freebsd", target_os = "netbsd"))]
            InputStream::Pulse(stream) => stream.begin().map_err(StreamError::Device),
        }
    }
}

/// An open capture stream and the ring it fills.
pub struct OpenCapture {
    pub stream: InputStream,
    pub rate: u32,
    pub ring: HeapCons<f32>,
    pub description: String,
}

/// Opens the named (or default) input device to capture into a ring of
/// `ring_ms` of audio. The stream is not started: `stream.play()` when the
/// codec is ready, so no backlog builds up while models load.
///
/// # Errors
/// No such device, a configuration it refuses, or a stream that will not start.
pub fn open_capture(
    name: Option<&str>,
    buffer_ms: u32,
    ring_ms: u32,
    counters: Arc<Counters>,
    fault: &DeviceFault,
) -> Result<OpenCapture, StreamError> {
    let _quiet = QuietStderr::new();
    let device = find_device(name, true)?;
    let supported = device
        .default_input_config()
        .map_err(|e| no_device(format!("the input device has no usable configuration: {e}")))?;
    let rate = supported.sample_rate();
    // Delivered in pieces of a third of the buffer: the frame that a piece
    // completes waits for nothing else, and frames reach the encoder evenly.
    let piece_ms = (buffer_ms / CAPTURE_PIECES).max(1);
    #[cfg(any(target_os = "linux", target_os = "dragonfly", target_os = "freebsd", target_os = "netbsd"))]
    if let Some(source) = pulse_name(&device) {
        let (prod, cons) = HeapRb::<f32>::new(ring_len(rate, ring_ms)).split();
        let callback = CaptureCallback::new(prod, counters.clone());
        let piece = (u64::from(rate) * u64::from(piece_ms) / 1000) as u32;
        let stream = PulseCapture::open(&source, rate, piece, callback)
            .map_err(|e| no_device(format!("cannot open the input device: {e}")))?;
        let description = format!("{rate} Hz, 1 ch, f32");
        return Ok(OpenCapture { stream: InputStream::Pulse(stream), rate, ring: cons, description });
    }
    let channels = usize::from(supported.channels());
    let format = supported.sample_format();
    let try_build = |config: StreamConfig| -> Result<(Stream, HeapCons<f32>), cpal::Error> {
        let (prod, cons) = HeapRb::<f32>::new(ring_len(rate, ring_ms)).split();
        let mut callback = CaptureCallback::new(prod, counters.clone());
        let mut pacer = Pacer::new(rate, true, counters.clone());
        let err = note_fault(fault, &counters, "input");
        macro_rules! build {
            ($t:ty) => {
                device.build_input_stream(
                    config,
                    move |data: &[$t], _: &cpal::InputCallbackInfo| {
                        callback.process(data, channels);
                        pacer.after(data.len() / channels.max(1));
                    },
                    err,
                    None,
                )
            };
        }
        let stream = match format {
            SampleFormat::I16 => build!(i16),
            SampleFormat::I32 => build!(i32),
            SampleFormat::U8 => build!(u8),
            SampleFormat::U16 => build!(u16),
            SampleFormat::F64 => build!(f64),
            _ => build!(f32),
        }?;
        Ok((stream, cons))
    };
    let config = stream_config(&supported, piece_ms);
    let fallback = StreamConfig { buffer_size: BufferSize::Default, ..config };
    // A device that refuses the buffer size may still take its own default.
    let (stream, ring) = try_build(config)
        .or_else(|_| try_build(fallback))
        .map_err(|e| no_device(format!("cannot open the input device ({}): {e}", describe(&supported))))?;
    Ok(OpenCapture { stream: InputStream::Cpal(stream), rate, ring, description: describe(&supported) })
}

/// A running output stream: cpal's, or PulseAudio's own (see [`crate::pulse_out`]).
pub enum OutputStream {
    Cpal(Stream),
    #[cfg(any(target_os = "linux", target_os = "dragonfly", target_os = "freebsd", target_os = "netbsd"))]
    Pulse(PulsePlayback),
}

/// An open, running playback stream and the ring it drains.
pub struct OpenPlayback {
    pub stream: OutputStream,
    pub rate: u32,
    pub ring: HeapProd<f32>,
    pub description: String,
    /// What the ring must hold when the device asks, in milliseconds: the
    /// most one request is expected to take, and a margin for the codec
    /// thread that refills it.
    pub ring_target_ms: u32,
}

/// Opens the named (or default) output device and starts playing from a ring
/// of `ring_ms` of audio.
///
/// # Errors
/// No such device, a configuration it refuses, or a stream that will not start.
pub fn open_playback(
    name: Option<&str>,
    buffer_ms: u32,
    ring_ms: u32,
    counters: Arc<Counters>,
    fault: &DeviceFault,
) -> Result<OpenPlayback, StreamError> {
    let _quiet = QuietStderr::new();
    let device = find_device(name, false)?;
    let supported = device
        .default_output_config()
        .map_err(|e| no_device(format!("the output device has no usable configuration: {e}")))?;
    let rate = supported.sample_rate();
    #[cfg(any(target_os = "linux", target_os = "dragonfly", target_os = "freebsd", target_os = "netbsd"))]
    if let Some(sink) = pulse_name(&device) {
        let (prod, cons) = HeapRb::<f32>::new(ring_len(rate, ring_ms)).split();
        let callback = PlaybackCallback::new(cons, counters.clone());
        let tlength = (u64::from(rate) * u64::from(buffer_ms) / 1000) as u32;
        let minreq = tlength.div_ceil(PULSE_REQUESTS);
        let stream = PulsePlayback::start(&sink, rate, tlength, minreq, callback)
            .map_err(|e| no_device(format!("cannot open the output device: {e}")))?;
        let description = format!("{rate} Hz, 1 ch, f32");
        // The server asks for a quarter of its buffer at a time.
        let request_ms = (u64::from(minreq) * 1000).div_ceil(u64::from(rate)) as u32;
        return Ok(OpenPlayback {
            stream: OutputStream::Pulse(stream),
            rate,
            ring: prod,
            description,
            ring_target_ms: request_ms + PULSE_RING_MARGIN_MS,
        });
    }
    let channels = usize::from(supported.channels());
    let format = supported.sample_format();
    let try_build = |config: StreamConfig| -> Result<(Stream, HeapProd<f32>), cpal::Error> {
        let (prod, cons) = HeapRb::<f32>::new(ring_len(rate, ring_ms)).split();
        let mut callback = PlaybackCallback::new(cons, counters.clone());
        let mut pacer = Pacer::new(rate, false, counters.clone());
        let err = note_fault(fault, &counters, "output");
        macro_rules! build {
            ($t:ty) => {
                device.build_output_stream(
                    config,
                    move |data: &mut [$t], _: &cpal::OutputCallbackInfo| {
                        callback.process(data, channels);
                        pacer.after(data.len() / channels.max(1));
                    },
                    err,
                    None,
                )
            };
        }
        let stream = match format {
            SampleFormat::I16 => build!(i16),
            SampleFormat::I32 => build!(i32),
            SampleFormat::U8 => build!(u8),
            SampleFormat::U16 => build!(u16),
            SampleFormat::F64 => build!(f64),
            _ => build!(f32),
        }?;
        Ok((stream, prod))
    };
    let config = stream_config(&supported, buffer_ms);
    let fallback = StreamConfig { buffer_size: BufferSize::Default, ..config };
    let (stream, ring) = try_build(config)
        .or_else(|_| try_build(fallback))
        .map_err(|e| no_device(format!("cannot open the output device ({}): {e}", describe(&supported))))?;
    stream.play().map_err(|e| StreamError::Device(format!("cannot start playing: {e}")))?;
    // A sound server behind cpal double-buffers: after a hiccup it asks for two buffers at once.
    Ok(OpenPlayback {
        stream: OutputStream::Cpal(stream),
        rate,
        ring,
        description: describe(&supported),
        ring_target_ms: 2 * buffer_ms + RING_MARGIN_MS,
    })
}

/// The server-side name of a device of cpal's PulseAudio host.
#[cfg(any(target_os = "linux", target_os = "dragonfly", target_os = "freebsd", target_os = "netbsd"))]
fn pulse_name(device: &Device) -> Option<String> {
    let id = device.id().ok()?.to_string();
    id.strip_prefix("pulseaudio:").map(str::to_owned)
}

/// Samples in a ring of `ms` milliseconds at `rate`.
pub fn ring_len(rate: u32, ms: u32) -> usize {
    (u64::from(rate) * u64::from(ms) / 1000).max(64) as usize
}
