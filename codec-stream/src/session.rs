//! Whole calls: loopback in one process, or the sending and receiving ends
//! over UDP. Each wires the audio ends, the codec threads and the network,
//! reports once an interval, and stops on request, at the end of an input
//! file, after a set duration, or on a device fault.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use codec_core::audio::{read_audio, write_wav};
use codec_core::{ModelPackage, RuntimeOptions};
use crossbeam_channel::{Receiver, Sender};
use ringbuf::{HeapCons, HeapProd};

use crate::device::{open_capture, open_playback, DeviceFault, OutputStream};
use crate::filedev::{FileCapture, FilePlayback, FILE_BUFFER_MS};
use crate::netsim::{NetSim, NetSimConfig};
use crate::priority::{opening_realtime, ThreadRole};
use crate::receiver::{Arrival, FrameReceiver};
use crate::rtp::RtpSettings;
use crate::sender::FrameSender;
use crate::stats::{Counters, Snapshot, StatusLine};
use crate::StreamError;

/// Audio the rings can hold: far more than the pipeline keeps in them, so
/// only a stalled codec thread fills them.
const RING_MS: u32 = 500;

/// Device buffer a call asks for unless told otherwise, in milliseconds. On
/// a loaded two-core machine 30 ms ran 10 minutes through PulseAudio without
/// an underrun; 20 ms took 32 ms less delay but underran twice.
pub const DEFAULT_BUFFER_MS: u32 = 30;
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
    /// A WAV file written at the end, filled at `pace` times real time.
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
    /// Receiving: stop once no packet came for this long (after the first),
    /// or at once when the sender ends its stream; `None` to play silence
    /// after an ended stream and wait for the next.
    pub idle_stop: Option<Duration>,
    /// Ask for realtime scheduling for the device callbacks and codec threads.
    pub realtime: bool,
    /// The packets' RTP payload type and SRTP key.
    pub rtp: RtpSettings,
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
            realtime: true,
            rtp: RtpSettings::default(),
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
}

/// What the control loop prints: status lines and notices.
pub type Report<'a> = &'a mut dyn FnMut(&str);

enum CaptureEnd {
    Device(cpal::Stream),
    File(FileCapture),
}

impl CaptureEnd {
    fn begin(&self) -> Result<(), StreamError> {
        match self {
            CaptureEnd::Device(stream) => {
                use cpal::traits::StreamTrait;
                stream.play().map_err(|e| StreamError::Device(format!("cannot start capturing: {e}")))
            }
            CaptureEnd::File(feeder) => {
                feeder.begin();
                Ok(())
            }
        }
    }
}

enum PlaybackEnd {
    Device(#[allow(dead_code)] OutputStream),
    File(FilePlayback, PathBuf),
}

/// Opens a device, from a realtime thread if the call asks for realtime
/// scheduling, so the backend's threads inherit it.
fn open_device<T>(options: &CallOptions, counters: &Arc<Counters>, open: impl FnOnce() -> T) -> T {
    if options.realtime {
        opening_realtime(ThreadRole::Device, &counters.realtime_refusal, open)
    } else {
        open()
    }
}

fn open_input(
    input: &Input,
    options: &CallOptions,
    tail: Duration,
    counters: &Arc<Counters>,
    fault: &DeviceFault,
) -> Result<(CaptureEnd, HeapCons<f32>, u32, String), StreamError> {
    match input {
        Input::Device(name) => {
            let c = open_device(options, counters, || {
                open_capture(name.as_deref(), options.buffer_ms, RING_MS, counters.clone(), fault)
            })?;
            let what = format!("{} ({})", name.as_deref().unwrap_or("default input"), c.description);
            Ok((CaptureEnd::Device(c.stream), c.ring, c.rate, what))
        }
        Input::File { path, pace } => {
            let audio = read_audio(path).map_err(|e| StreamError::Input(e.to_string()))?;
            let what = format!("{} ({} Hz, {:.1} s)", path.display(), audio.sample_rate, audio.duration_secs());
            // A file stands in for a sound card, whose clock no codec thread can hold up.
            let (feeder, ring) = open_device(options, counters, || {
                FileCapture::start(audio.samples, audio.sample_rate, *pace, tail, RING_MS, counters.clone())
            })?;
            Ok((CaptureEnd::File(feeder), ring, audio.sample_rate, what))
        }
    }
}

fn open_output(
    output: &Output,
    file_rate: u32,
    options: &CallOptions,
    counters: &Arc<Counters>,
    fault: &DeviceFault,
) -> Result<(PlaybackEnd, HeapProd<f32>, u32, u32, String), StreamError> {
    match output {
        Output::Device(name) => {
            let p = open_device(options, counters, || {
                open_playback(name.as_deref(), options.buffer_ms, RING_MS, counters.clone(), fault)
            })?;
            let what = format!("{} ({})", name.as_deref().unwrap_or("default output"), p.description);
            Ok((PlaybackEnd::Device(p.stream), p.ring, p.rate, p.largest_request_ms, what))
        }
        Output::File { path, pace } => {
            check_writable(path)?;
            let (puller, ring) =
                open_device(options, counters, || FilePlayback::start(file_rate, *pace, RING_MS, counters.clone()))?;
            Ok((PlaybackEnd::File(puller, path.clone()), ring, file_rate, FILE_BUFFER_MS, path.display().to_string()))
        }
    }
}

/// Fails before the call rather than after it if the output cannot be written.
fn check_writable(path: &std::path::Path) -> Result<(), StreamError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    if !dir.is_dir() {
        return Err(StreamError::Output(format!("{}: no such folder", dir.display())));
    }
    Ok(())
}

/// Samples the receiver keeps in the playback ring: the most one request
/// takes and half a frame of margin, so a callback never finds it short.
fn target_fill(rate: u32, largest_request_ms: u32) -> usize {
    (u64::from(rate) * (u64::from(largest_request_ms) + 10) / 1000) as usize
}

fn tail_for(net: &NetSimConfig) -> Duration {
    // Enough silence after a file for its last frames to cross the network and the jitter buffer.
    Duration::from_secs_f64(0.4 + (net.base_latency_ms + 4.0 * net.jitter_ms + net.reorder_delay_ms) / 1000.0)
}

fn algorithmic_ms(package: &ModelPackage) -> f64 {
    let m = package.manifest();
    m.streaming.algorithmic_latency_samples as f64 * 1000.0 / f64::from(package.sample_rate())
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

/// Everything a running call holds, and the control loop over it.
struct Call {
    counters: Arc<Counters>,
    fault: DeviceFault,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Result<(), StreamError>>>,
    capture: Option<CaptureEnd>,
    playback: Option<PlaybackEnd>,
    notices: Receiver<String>,
    input: String,
    output: String,
    algorithmic_ms: f64,
}

/// Notices a device that stopped moving samples without saying why.
struct Watchdog {
    captured: (u64, Instant),
    played: (u64, Instant),
}

/// A device silent this long has stopped (the longest buffers are far shorter).
const STALL: Duration = Duration::from_secs(3);

impl Watchdog {
    fn new(counters: &Counters) -> Self {
        let now = Instant::now();
        let s = counters.snapshot();
        Self { captured: (s.captured, now), played: (s.played, now) }
    }

    fn check(&mut self, counters: &Counters, capture: bool, playback: bool) -> Option<String> {
        let s = counters.snapshot();
        let now = Instant::now();
        for (value, last, watched, what) in
            [(s.captured, &mut self.captured, capture, "input"), (s.played, &mut self.played, playback, "output")]
        {
            if value != last.0 {
                *last = (value, now);
            } else if watched && now - last.1 > STALL {
                return Some(format!(
                    "the {what} device stopped moving audio for {} s (unplugged, or taken by another program?)",
                    STALL.as_secs()
                ));
            }
        }
        None
    }
}

impl Call {
    fn capture_is_device(&self) -> bool {
        matches!(self.capture, Some(CaptureEnd::Device(_)))
    }

    fn playback_is_device(&self) -> bool {
        matches!(self.playback, Some(PlaybackEnd::Device(_)))
    }

    fn run(mut self, options: &CallOptions, user_stop: &AtomicBool, report: Report) -> Result<Summary, StreamError> {
        if let Some(PlaybackEnd::File(puller, _)) = &self.playback {
            puller.begin();
        }
        if let Some(capture) = &self.capture {
            if let Err(e) = capture.begin() {
                self.stop.store(true, Relaxed);
                return Err(e);
            }
        }
        let started = Instant::now();
        let mut last_report = started;
        let mut before = self.counters.snapshot();
        let mut last_packets = (0u64, started);
        let mut max_delay_ms = 0.0f64;
        let mut delays_ms = Vec::new();
        let mut watchdog = Watchdog::new(&self.counters);
        let mut refusal_told = false;
        let mut streams_ended = 0;
        let result = loop {
            std::thread::sleep(Duration::from_millis(20));
            while let Ok(notice) = self.notices.try_recv() {
                report(&format!("notice: {notice}"));
            }
            if !refusal_told {
                if let Some(refused) = self.counters.realtime_refusal.message() {
                    report(&format!("notice: {refused}"));
                    refusal_told = true;
                }
            }
            let fault = self.fault.fatal.lock().ok().and_then(|f| f.clone());
            if let Some(fault) = fault {
                break Err(StreamError::Device(format!("{fault} (the device stopped or went away)")));
            }
            if let Some(warning) = self.fault.warning.lock().ok().and_then(|mut w| w.take()) {
                report(&format!("notice: {warning}"));
            }
            if let Some(stalled) = watchdog.check(&self.counters, self.capture_is_device(), self.playback_is_device()) {
                break Err(StreamError::Device(stalled));
            }
            if let Some(i) = self.threads.iter().position(|t| t.is_finished()) {
                let t = self.threads.swap_remove(i);
                match t.join() {
                    Ok(Err(e)) => break Err(e),
                    Err(_) => break Err(StreamError::Internal("a codec thread panicked".into())),
                    Ok(Ok(())) => break Ok("stopped"),
                }
            }
            if user_stop.load(Relaxed) {
                break Ok("stopped");
            }
            if matches!(&self.capture, Some(CaptureEnd::File(f)) if f.is_done()) {
                break Ok("end of input");
            }
            let now = self.counters.snapshot();
            if options.duration.is_some_and(|d| started.elapsed() >= d) {
                break Ok("duration reached");
            }
            if now.streams_ended > streams_ended {
                streams_ended = now.streams_ended;
                if options.idle_stop.is_some() {
                    break Ok("the sender ended the stream");
                }
                report("notice: the sender ended the stream; listening for the next (Ctrl-C to stop)");
            }
            if now.packets_received != last_packets.0 {
                last_packets = (now.packets_received, Instant::now());
            } else if now.packets_received > 0 && options.idle_stop.is_some_and(|d| last_packets.1.elapsed() >= d) {
                break Ok("no more packets");
            }
            if now.frames_decoded > 0 {
                max_delay_ms = max_delay_ms.max(now.codec_delay_ms);
            }
            if let Some(every) = options.report_every {
                let elapsed = last_report.elapsed();
                if elapsed >= every {
                    report(&StatusLine { now: &now, before: &before, seconds: elapsed.as_secs_f64() }.to_string());
                    if now.frames_decoded > 0 {
                        delays_ms.push(now.codec_delay_ms);
                    }
                    before = now;
                    last_report = Instant::now();
                }
            }
        };
        self.counters.stopping.store(true, Relaxed);
        self.stop.store(true, Relaxed);
        let mut result = result;
        for t in self.threads.drain(..) {
            if let Ok(Err(e)) = t.join() {
                result = result.and(Err(e));
            }
        }
        drop(self.capture.take());
        if let Some(PlaybackEnd::File(puller, path)) = self.playback.take() {
            let rate = puller.rate;
            let samples = puller.finish();
            if result.is_ok() {
                write_wav(&path, &samples, rate)
                    .map_err(|e| StreamError::Output(format!("{}: {e}", path.display())))?;
            }
        }
        let ended = result?;
        Ok(Summary {
            stats: self.counters.snapshot(),
            seconds: started.elapsed().as_secs_f64(),
            algorithmic_ms: self.algorithmic_ms,
            max_delay_ms,
            delays_ms,
            input: self.input,
            output: self.output,
            ended,
        })
    }
}

fn new_counters(package: &ModelPackage) -> Arc<Counters> {
    let counters = Arc::new(Counters::default());
    counters.model_delay_us.store((algorithmic_ms(package) * 1000.0) as u64, Relaxed);
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
    let mut sender =
        FrameSender::new(package, options.runtime, options.stages, &options.rtp, rate, ring, counters.clone())?;
    sender.set_frames_per_packet(options.frames_per_packet)?;
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
    largest_request_ms: u32,
    ring: HeapProd<f32>,
    counters: &Arc<Counters>,
) -> Result<FrameReceiver, StreamError> {
    let fill = target_fill(rate, largest_request_ms);
    FrameReceiver::new(package, options.runtime, options.stages, &options.rtp, rate, ring, fill, counters.clone())
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
    let counters = new_counters(package);
    let fault = DeviceFault::default();
    let (capture, capture_ring, in_rate, input_name) =
        open_input(input, options, tail_for(&options.net), &counters, &fault)?;
    let (playback, playback_ring, out_rate, largest_request_ms, output_name) =
        open_output(output, in_rate, options, &counters, &fault)?;
    let sender = new_sender(package, input, options, in_rate, capture_ring, &counters)?;
    let mut receiver = new_receiver(package, options, out_rate, largest_request_ms, playback_ring, &counters)?;
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
        algorithmic_ms: algorithmic_ms(package),
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
    let counters = new_counters(package);
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
        algorithmic_ms: algorithmic_ms(package),
    }
    .run(options, user_stop, report)
}

/// The receiving socket, read without blocking between refills of the ring.
struct Inbox {
    socket: UdpSocket,
    buf: Vec<u8>,
    notices: crossbeam_channel::Sender<String>,
    /// Which kinds of dropped datagram were reported (each once a call).
    warned: [bool; 5],
}

impl Inbox {
    /// A flood of datagrams must not keep the receiver from the ring.
    const MOST_AT_ONCE: usize = 64;

    /// Hands `receiver` what has arrived, each stamped with its time on `epoch`.
    fn take_pending(&mut self, receiver: &mut FrameReceiver, epoch: Instant) -> Result<(), StreamError> {
        for _ in 0..Self::MOST_AT_ONCE {
            let (n, from) = match self.socket.recv_from(&mut self.buf) {
                Ok(got) => got,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StreamError::Network(format!("receiving: {e}"))),
            };
            let now_ms = epoch.elapsed().as_secs_f64() * 1000.0;
            let arrival = receiver.accept(&self.buf[..n], now_ms);
            let kind = match arrival {
                Arrival::Foreign => 0,
                Arrival::OtherModel(_) => 1,
                Arrival::OtherSource(_) => 2,
                Arrival::Unauthenticated => 3,
                Arrival::Replayed => 4,
                Arrival::Accepted | Arrival::Stale | Arrival::End => continue,
            };
            // Said once a kind: a flood must not become a flood of messages.
            if let Some(warned) = self.warned.get_mut(kind).filter(|w| !**w) {
                *warned = true;
                let _ = self.notices.send(dropping(arrival, from));
            }
        }
        Ok(())
    }
}

/// The notice for the first datagram of a kind that was dropped.
fn dropping(arrival: Arrival, from: SocketAddr) -> String {
    match arrival {
        Arrival::OtherModel(tag) => format!(
            "dropping packets from {from}: they are for model tag {tag:08x}, not this receiver's \
             (check --model on both ends)"
        ),
        Arrival::OtherSource(ssrc) => {
            format!("dropping packets from {from} of another RTP source (SSRC {ssrc:08x}) while the call goes on")
        }
        Arrival::Unauthenticated => format!(
            "dropping packets from {from} that fail SRTP authentication (another key, forged, or not encrypted)"
        ),
        Arrival::Replayed => format!("dropping SRTP packets from {from} that were received before (replayed)"),
        _ => format!(
            "dropping datagrams from {from} that are not codec RTP packets of this payload type and bitrate \
             (check --payload-type, --model and --stages on both ends)"
        ),
    }
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
    let counters = new_counters(package);
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
    let (playback, playback_ring, out_rate, largest_request_ms, output_name) =
        open_output(output, package.sample_rate(), options, &counters, &fault)?;
    let mut receiver = new_receiver(package, options, out_rate, largest_request_ms, playback_ring, &counters)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (notice_tx, notices) = crossbeam_channel::unbounded();
    let s = stop.clone();
    let recv = spawn("codec-receive", options, &counters, move || {
        let epoch = Instant::now();
        let mut inbox = Inbox { socket, buf: vec![0u8; 65536], notices: notice_tx, warned: [false; 5] };
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
        algorithmic_ms: algorithmic_ms(package),
    }
    .run(options, user_stop, report)
}
