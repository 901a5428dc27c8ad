//! Whole calls: loopback in one process, or the sending and receiving ends
//! over UDP. Each wires the audio ends, the codec threads and the network,
//! reports once an interval, and stops on request, at the end of an input
//! file, after a set duration, when no packet comes, or on a device fault.
//!
//! [`ends`] opens the audio ends, [`control`] runs the call, [`inbox`]
//! reads the receiving socket.

mod control;
mod ends;
mod inbox;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use codec_core::{ModelPackage, RuntimeOptions};
use crossbeam_channel::{Receiver, Sender};
use ringbuf::{HeapCons, HeapProd};

use crate::device::DeviceFault;
use crate::frame_codec::{CodecChoice, FrameLayout};
use crate::netsim::{NetSim, NetSimConfig};
use crate::priority::ThreadRole;
use crate::receiver::FrameReceiver;
use crate::rtp::RtpSettings;
use crate::sender::FrameSender;
use crate::stats::{Counters, Snapshot};
use crate::StreamError;
use control::Call;
use ends::{open_input, open_output};
use inbox::Inbox;

/// Device buffer a call asks for unless told otherwise, in milliseconds:
/// the sound server's playback buffer; capture comes in thirds of it.
/// docs/latency.md has what it measured on a loaded two-core machine.
pub const DEFAULT_BUFFER_MS: u32 = 12;
/// Captured audio allowed to wait for the encoder; a device burst beyond it
/// is skipped rather than added to the delay.
const MAX_CAPTURE_BACKLOG_MS: u32 = 60;
/// How often the codec threads look at their rings and sockets.
const POLL: Duration = Duration::from_millis(1);

/// Where the call's audio comes from.
#[derive(Debug, Clone)]
pub enum Input {
    /// A capture device by id or description; `None` for the default.
    Device(Option<String>),
    /// A file played in at `pace` times real time (1.0 for a live call).
    File { path: PathBuf, pace: f64 },
}

/// Where the call's audio goes.
#[derive(Debug, Clone)]
pub enum Output {
    Device(Option<String>),
    /// A WAV file, opened before the call and written at its end, filled at
    /// `pace` times real time.
    File {
        path: PathBuf,
        pace: f64,
    },
}

/// Settings shared by every kind of call.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// Quantizer stages (sets the bitrate).
    pub stages: usize,
    pub runtime: RuntimeOptions,
    /// Device buffer asked for, in milliseconds.
    pub buffer_ms: u32,
    /// The simulated network between sender and receiver.
    pub net: NetSimConfig,
    /// Frames in each packet sent (1 to [`MAX_FRAMES_PER_PACKET`](crate::MAX_FRAMES_PER_PACKET)): fewer
    /// header bytes a second, one frame (20 ms) more delay each.
    pub frames_per_packet: u8,
    /// Status line interval; `None` for none.
    pub report_every: Option<Duration>,
    /// Stop after this long; `None` to run until stopped.
    pub duration: Option<Duration>,
    /// Receiving: stop once no packet was accepted for this long, or at
    /// once when the sender ends its stream; `None` to play silence after
    /// an ended stream and wait for the next.
    pub idle_stop: Option<Duration>,
    /// Whether `idle_stop` counts from the start of the call, so that a
    /// receiver that never hears its sender (or drops all it hears: another
    /// key, another model) stops too; otherwise only once a packet came.
    pub idle_from_start: bool,
    /// Ask for realtime scheduling for the device callbacks and codec threads.
    pub realtime: bool,
    /// The packets' RTP payload type and SRTP key.
    pub rtp: RtpSettings,
    /// A watermark the sender embeds in its codes (`docs/watermark.md`).
    pub watermark: Option<codec_core::watermark::Watermark>,
    /// The model, or the pass-through that measures the path without it.
    pub codec: CodecChoice,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            stages: 0,
            runtime: RuntimeOptions::default(),
            buffer_ms: DEFAULT_BUFFER_MS,
            net: NetSimConfig::default(),
            frames_per_packet: 1,
            report_every: Some(Duration::from_secs(1)),
            duration: None,
            idle_stop: None,
            idle_from_start: true,
            realtime: true,
            rtp: RtpSettings::default(),
            watermark: None,
            codec: CodecChoice::Model,
        }
    }
}

/// How a call went.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The counters at the end.
    pub stats: Snapshot,
    /// Wall time of the call.
    pub seconds: f64,
    /// The model's algorithmic latency.
    pub algorithmic_ms: f64,
    /// Largest codec delay (buffers included) seen while running.
    pub max_delay_ms: f64,
    /// Codec delay at each report (for stability checks).
    pub delays_ms: Vec<f64>,
    pub input: String,
    pub output: String,
    /// Why the call stopped.
    pub ended: &'static str,
    /// Whether the call sent packets (it had an input) and received them
    /// (it had an output): which counters mean something.
    pub sends: bool,
    pub receives: bool,
}

/// What the control loop prints: status lines and notices.
pub type Report<'a> = &'a mut dyn FnMut(&str);

/// Samples the receiver keeps in the playback ring: what the output says a
/// request may take, with its margin, so a callback never finds it short.
fn target_fill(rate: u32, ring_target_ms: u32) -> usize {
    (u64::from(rate) * u64::from(ring_target_ms) / 1000) as usize
}

fn tail_for(net: &NetSimConfig) -> Duration {
    // Enough silence after a file for its last frames to cross the network and the jitter buffer.
    Duration::from_secs_f64(0.4 + (net.base_latency_ms + 4.0 * net.jitter_ms + net.reorder_delay_ms) / 1000.0)
}

/// The codec's own delay: framing and synthesis (framing alone for the pass-through).
fn algorithmic_ms(package: &ModelPackage, options: &CallOptions) -> f64 {
    FrameLayout::of(options.codec, package, options.stages).algorithmic_ms()
}

/// Starts a codec thread, realtime if `options` ask for it.
fn spawn<T: Send + 'static>(
    name: &str,
    options: &CallOptions,
    counters: &Arc<Counters>,
    f: impl FnOnce() -> Result<T, StreamError> + Send + 'static,
) -> Result<JoinHandle<Result<T, StreamError>>, StreamError> {
    let promote = options.realtime.then(|| counters.clone());
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            if let Some(counters) = promote {
                counters.realtime_refusal.promote(ThreadRole::Codec);
            }
            f()
        })
        .map_err(|e| StreamError::Internal(format!("cannot start the {name} thread: {e}")))
}

/// The sending loop: capture ring to encoder to the simulated network to `deliver`.
fn send_loop(
    mut sender: FrameSender,
    net: NetSimConfig,
    stop: Arc<AtomicBool>,
    mut deliver: impl FnMut(&[u8]),
) -> Result<(), StreamError> {
    let epoch = Instant::now();
    let mut sim = NetSim::new(net);
    let mut arrived = Vec::new();
    while !stop.load(Relaxed) {
        let now_ms = epoch.elapsed().as_secs_f64() * 1000.0;
        sender.poll(&mut |datagram| {
            sim.send(datagram.to_vec(), now_ms);
        })?;
        sim.deliver_into(now_ms, &mut arrived);
        for (datagram, _) in arrived.drain(..) {
            deliver(&datagram);
        }
        std::thread::sleep(POLL);
    }
    // Frames still waiting for a full packet and the end marker go out
    // with whatever the simulated network holds.
    let now_ms = epoch.elapsed().as_secs_f64() * 1000.0;
    sender.finish(&mut |datagram| {
        sim.send(datagram.to_vec(), now_ms);
    })?;
    sim.deliver_into(f64::INFINITY, &mut arrived);
    for (datagram, _) in arrived.drain(..) {
        deliver(&datagram);
    }
    Ok(())
}

fn new_counters(package: &ModelPackage, options: &CallOptions) -> Arc<Counters> {
    let counters = Arc::new(Counters::default());
    counters.model_delay_us.store((algorithmic_ms(package, options) * 1000.0) as u64, Relaxed);
    counters.set_drift_ppm(0);
    counters
}

/// The sending half for `input`: a device's capture backlog is skipped
/// beyond a bound, a file's never.
fn new_sender(
    package: &ModelPackage,
    input: &Input,
    options: &CallOptions,
    rate: u32,
    ring: HeapCons<f32>,
    counters: &Arc<Counters>,
) -> Result<FrameSender, StreamError> {
    let mut sender = FrameSender::with_codec(
        options.codec,
        package,
        options.runtime,
        options.stages,
        &options.rtp,
        rate,
        ring,
        counters.clone(),
    )?;
    sender.set_frames_per_packet(options.frames_per_packet)?;
    sender.set_watermark(options.watermark.as_ref())?;
    if matches!(input, Input::Device(_)) {
        sender.set_max_backlog_ms(Some(MAX_CAPTURE_BACKLOG_MS));
    }
    Ok(sender)
}

/// The receiving half, keeping the playback ring at what the output's
/// largest request needs.
fn new_receiver(
    package: &ModelPackage,
    options: &CallOptions,
    rate: u32,
    ring_target_ms: u32,
    ring: HeapProd<f32>,
    counters: &Arc<Counters>,
) -> Result<FrameReceiver, StreamError> {
    let fill = target_fill(rate, ring_target_ms);
    FrameReceiver::with_codec(
        options.codec,
        package,
        options.runtime,
        options.stages,
        &options.rtp,
        rate,
        ring,
        fill,
        counters.clone(),
    )
}

/// Microphone (or file) through encoder, simulated network and decoder to
/// speaker (or file), in one process.
///
/// # Errors
/// Devices, files or the model that cannot be opened, and faults while running.
pub fn run_loopback(
    package: &ModelPackage,
    input: &Input,
    output: &Output,
    options: &CallOptions,
    user_stop: &AtomicBool,
    report: Report,
) -> Result<Summary, StreamError> {
    let counters = new_counters(package, options);
    let fault = DeviceFault::default();
    let (capture, capture_ring, in_rate, input_name) =
        open_input(input, options, tail_for(&options.net), &counters, &fault)?;
    let (playback, playback_ring, out_rate, ring_target_ms, output_name) =
        open_output(output, in_rate, options, &counters, &fault)?;
    let sender = new_sender(package, input, options, in_rate, capture_ring, &counters)?;
    let mut receiver = new_receiver(package, options, out_rate, ring_target_ms, playback_ring, &counters)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx): (Sender<Vec<u8>>, Receiver<Vec<u8>>) = crossbeam_channel::bounded(4096);
    let (_notice_tx, notices) = crossbeam_channel::unbounded();
    let s = stop.clone();
    let net = options.net;
    let send = spawn("codec-send", options, &counters, move || {
        send_loop(sender, net, s, |d| {
            let _ = tx.try_send(d.to_vec());
        })
    })?;
    let s = stop.clone();
    let recv = spawn("codec-receive", options, &counters, move || {
        let epoch = Instant::now();
        while !s.load(Relaxed) {
            let now_ms = epoch.elapsed().as_secs_f64() * 1000.0;
            while let Ok(datagram) = rx.try_recv() {
                receiver.accept(&datagram, now_ms);
            }
            receiver.fill(now_ms)?;
            std::thread::sleep(POLL);
        }
        Ok(())
    })?;
    Call {
        counters,
        fault,
        stop,
        threads: vec![send, recv],
        capture: Some(capture),
        playback: Some(playback),
        notices,
        input: input_name,
        output: output_name,
        algorithmic_ms: algorithmic_ms(package, options),
    }
    .run(options, user_stop, report)
}

/// Microphone (or file) to datagrams sent to `to`.
///
/// # Errors
/// As [`run_loopback`], and a socket that cannot be opened.
pub fn run_send(
    package: &ModelPackage,
    input: &Input,
    to: SocketAddr,
    options: &CallOptions,
    user_stop: &AtomicBool,
    report: Report,
) -> Result<Summary, StreamError> {
    let counters = new_counters(package, options);
    let fault = DeviceFault::default();
    let bind: SocketAddr =
        if to.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = UdpSocket::bind(bind).map_err(|e| StreamError::Network(format!("cannot open a UDP socket: {e}")))?;
    let (capture, capture_ring, in_rate, input_name) =
        open_input(input, options, tail_for(&options.net), &counters, &fault)?;
    let sender = new_sender(package, input, options, in_rate, capture_ring, &counters)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (notice_tx, notices) = crossbeam_channel::unbounded();
    let s = stop.clone();
    let net = options.net;
    let c = counters.clone();
    let send = spawn("codec-send", options, &counters, move || {
        let mut warned = false;
        send_loop(sender, net, s, |d| {
            if let Err(e) = socket.send_to(d, to) {
                c.send_errors.fetch_add(1, Relaxed);
                if !warned {
                    let _ = notice_tx.send(format!("cannot send to {to}: {e} (counted, going on)"));
                    warned = true;
                }
            }
        })
    })?;
    Call {
        counters,
        fault,
        stop,
        threads: vec![send],
        capture: Some(capture),
        playback: None,
        notices,
        input: input_name,
        output: format!("udp://{to}"),
        algorithmic_ms: algorithmic_ms(package, options),
    }
    .run(options, user_stop, report)
}

/// Datagrams arriving at `listen` to the speaker (or a file).
///
/// # Errors
/// As [`run_loopback`], and a port that cannot be bound (in use, privileged).
pub fn run_receive(
    package: &ModelPackage,
    listen: SocketAddr,
    output: &Output,
    options: &CallOptions,
    user_stop: &AtomicBool,
    report: Report,
) -> Result<Summary, StreamError> {
    let counters = new_counters(package, options);
    let fault = DeviceFault::default();
    let socket = UdpSocket::bind(listen).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            StreamError::Network(format!("port {} is already in use (another `codec receive`?)", listen.port()))
        } else {
            StreamError::Network(format!("cannot listen on {listen}: {e}"))
        }
    })?;
    // Not a read timeout: the kernel counts those in scheduler ticks (a
    // 1 ms one waited 8 ms on Linux), and frames would leave the jitter
    // buffer, and the ring be refilled, that far from their time.
    socket.set_nonblocking(true).map_err(|e| StreamError::Network(format!("socket: {e}")))?;
    let (playback, playback_ring, out_rate, ring_target_ms, output_name) =
        open_output(output, package.sample_rate(), options, &counters, &fault)?;
    let mut receiver = new_receiver(package, options, out_rate, ring_target_ms, playback_ring, &counters)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (notice_tx, notices) = crossbeam_channel::unbounded();
    let s = stop.clone();
    let recv = spawn("codec-receive", options, &counters, move || {
        let epoch = Instant::now();
        let mut inbox = Inbox::new(socket, notice_tx);
        while !s.load(Relaxed) {
            inbox.take_pending(&mut receiver, epoch)?;
            receiver.fill(epoch.elapsed().as_secs_f64() * 1000.0)?;
            std::thread::sleep(POLL);
        }
        Ok(())
    })?;
    Call {
        counters,
        fault,
        stop,
        threads: vec![recv],
        capture: None,
        playback: Some(playback),
        notices,
        input: format!("udp://{listen}"),
        output: output_name,
        algorithmic_ms: algorithmic_ms(package, options),
    }
    .run(options, user_stop, report)
}
