//! `codec loopback`, `codec send`, `codec receive` and `codec devices`: the
//! realtime pipeline of codec-stream from the command line.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args as ClapArgs;
use codec_stream::{CallOptions, Input, NetSimConfig, Output, Summary};

use crate::model_args::{ModelArgs, RateArgs};
use crate::rtp_args::RtpArgs;
use crate::stdout::outln;

#[derive(ClapArgs, Debug)]
pub struct CommonArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Device buffer to ask for, in milliseconds: on PulseAudio the server's playback buffer, topped up a quarter at a
    /// time, with capture in pieces of a third (smaller: less delay, more risk of underruns; docs/latency.md)
    #[arg(long, default_value_t = codec_stream::DEFAULT_BUFFER_MS, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub buffer_ms: u32,
    /// Stop after this many seconds (default: run until Ctrl-C, or to the end of the input file)
    #[arg(long)]
    pub duration: Option<f64>,
    /// No status line (one a second on stderr otherwise)
    #[arg(long, short)]
    pub quiet: bool,
    /// Do not ask for realtime scheduling (asked by default for the device callbacks and codec threads, so a busy machine does not make the sound server underrun)
    #[arg(long)]
    pub no_realtime: bool,
    /// Speed of the --input/--output file clocks relative to real time (loopback only: tests and quick demos)
    #[arg(long, default_value_t = 1.0, hide = true)]
    pub pace: f64,
}

#[derive(ClapArgs, Debug)]
pub struct NetArgs {
    /// Simulated packet loss, percent (in bursts with --burst)
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Mean length of a loss burst, in packets
    #[arg(long, default_value_t = 1.0)]
    pub burst: f64,
    /// Simulated network jitter: each packet is delayed by a further 0 to this many milliseconds (uniformly)
    #[arg(long, default_value_t = 0.0)]
    pub jitter: f64,
    /// Simulated reordering: percent of packets held back 2-3 frames
    #[arg(long, default_value_t = 0.0)]
    pub reorder: f64,
    /// Seed of the simulated network (the same seed loses the same packets)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Frames (20 ms each) in a packet: every packet carries a 12-byte RTP header (22 bytes with SRTP), so 2 or 3
    /// cut the bytes sent by a third to a half at 20-40 ms more delay (the receiver needs no setting)
    #[arg(long, default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=i64::from(codec_stream::MAX_FRAMES_PER_PACKET)))]
    pub frames_per_packet: u8,
}

impl NetArgs {
    fn config(&self) -> Result<NetSimConfig> {
        for (name, v) in [("--loss", self.loss), ("--reorder", self.reorder)] {
            if !(0.0..=100.0).contains(&v) {
                bail!("{name} must be a percentage from 0 to 100, not {v}");
            }
        }
        if !(self.jitter.is_finite() && (0.0..=1000.0).contains(&self.jitter)) {
            bail!("--jitter must be 0 to 1000 ms, not {}", self.jitter);
        }
        if !(self.burst.is_finite() && self.burst >= 1.0) {
            bail!("--burst must be at least 1 packet, not {}", self.burst);
        }
        Ok(NetSimConfig {
            loss_pct: self.loss,
            burst_len: self.burst,
            jitter_ms: self.jitter,
            reorder_pct: self.reorder,
            reorder_delay_ms: if self.reorder > 0.0 { 50.0 } else { 0.0 },
            seed: self.seed,
            ..NetSimConfig::default()
        })
    }
}

#[derive(ClapArgs, Debug)]
pub struct LoopbackArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub rate: RateArgs,
    #[command(flatten)]
    pub net: NetArgs,
    /// Capture device (id or name from `codec devices`; default: the system's)
    #[arg(long, conflicts_with = "input")]
    pub input_device: Option<String>,
    /// Playback device (id or name from `codec devices`; default: the system's)
    #[arg(long, conflicts_with = "output")]
    pub output_device: Option<String>,
    /// Read the microphone side from this audio file, at real-time pace, instead of a device
    #[arg(long, short)]
    pub input: Option<PathBuf>,
    /// Write the speaker side to this WAV file instead of a device
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// `none` carries the same 20 ms frames through the same threads, packets, jitter buffer and devices as
    /// µ-law, without the model's networks: the delay of the path itself (its floor), to set beside the model's
    #[arg(long, value_enum, default_value_t = LoopbackCodec::Model)]
    pub codec: LoopbackCodec,
}

/// What a loopback call runs its frames through.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopbackCodec {
    /// The model package (--model)
    Model,
    /// No codec: µ-law frames, the path's delay floor
    None,
}

#[derive(ClapArgs, Debug)]
pub struct SendArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub rate: RateArgs,
    #[command(flatten)]
    pub net: NetArgs,
    #[command(flatten)]
    pub rtp: RtpArgs,
    /// Where the receiver listens: HOST:PORT
    #[arg(long)]
    pub to: String,
    /// The RTP SSRC to send with (default: a random one), for a peer that must know it ahead, as GStreamer's
    /// srtpdec does (`codec sdp --ssrc` puts it in an a=ssrc line)
    #[arg(long)]
    pub ssrc: Option<u32>,
    /// Capture device (id or name from `codec devices`; default: the system's)
    #[arg(long, conflicts_with = "input")]
    pub input_device: Option<String>,
    /// Send this audio file, at real-time pace, instead of the microphone
    #[arg(long, short)]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub watermark: crate::watermark_args::WatermarkArgs,
}

#[derive(ClapArgs, Debug)]
pub struct ReceiveArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub rtp: RtpArgs,
    /// Stages the sender sends (its first line says how many); default: the model's default
    #[arg(long)]
    pub stages: Option<usize>,
    /// UDP port to listen on (all interfaces), or ADDRESS:PORT
    #[arg(long)]
    pub listen: String,
    /// Playback device (id or name from `codec devices`; default: the system's)
    #[arg(long, conflicts_with = "output")]
    pub output_device: Option<String>,
    /// Write what is received to this WAV file instead of a device
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Stop once no packet has been accepted for this many seconds, counted from the start (so a receiver that
    /// hears nothing, or drops all it hears: another key, another model, stops too), and as soon as the sender
    /// ends its stream. Default with --output: 3 seconds counted from the first packet, waiting for the sender
    /// until Ctrl-C; without --output, a device receiver plays silence after a stream ends and waits for the next
    #[arg(long)]
    pub idle_stop: Option<f64>,
}

#[derive(ClapArgs, Debug)]
pub struct DevicesArgs {}

fn seconds(what: &str, v: Option<f64>) -> Result<Option<Duration>> {
    match v {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s < 1e7 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => bail!("{what} must be a positive number of seconds, not {s}"),
    }
}

fn options(
    common: &CommonArgs,
    rate: &RateArgs,
    package: &codec_core::ModelPackage,
    net: NetSimConfig,
    frames_per_packet: u8,
) -> Result<CallOptions> {
    if !(common.pace.is_finite() && (0.1..=100.0).contains(&common.pace)) {
        bail!("--pace must be between 0.1 and 100");
    }
    Ok(CallOptions {
        stages: rate.stages(package)?,
        runtime: common.model.runtime(),
        buffer_ms: common.buffer_ms,
        net,
        frames_per_packet,
        report_every: (!common.quiet).then(|| Duration::from_secs(1)),
        duration: seconds("--duration", common.duration)?,
        idle_stop: None,
        idle_from_start: true,
        realtime: !common.no_realtime,
        rtp: codec_stream::RtpSettings::default(),
        watermark: None,
        codec: codec_stream::CodecChoice::Model,
    })
}

/// Ctrl-C (or SIGTERM, SIGHUP) asks the call to stop; the summary is still
/// printed. A second one ends the process at once: something the call waits
/// on (a FIFO given as --output with no reader yet, a device that hangs)
/// kept it from stopping.
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    // Without a handler (one is already set) Ctrl-C still ends the process, just without a summary.
    let _ = ctrlc::set_handler(move || {
        if s.swap(true, Ordering::Relaxed) {
            eprintln!("error: stopped at once by a second signal; what the call had is lost");
            std::process::exit(130);
        }
    });
    stop
}

fn print_header(what: &str, package: &codec_core::ModelPackage, options: &CallOptions, sends: bool) {
    let wire = if sends {
        let n = options.frames_per_packet;
        format!(
            ", {n} frame{} a packet: {:.2} kbps with headers",
            if n == 1 { "" } else { "s" },
            codec_stream::wire_bitrate(package, options.stages, n, &options.rtp) / 1000.0
        )
    } else {
        String::new()
    };
    eprintln!(
        "{what}: model {} at {} stages ({:.2} kbps of codes{wire}), algorithmic latency {:.0} ms",
        package.name(),
        options.stages,
        package.bitrate(options.stages) / 1000.0,
        package.manifest().streaming.algorithmic_latency_samples as f64 * 1000.0 / f64::from(package.sample_rate())
    );
}

fn print_summary(s: &Summary) {
    let t = &s.stats;
    let mut text = format!("{} after {:.1} s: {} -> {}", s.ended, s.seconds, s.input, s.output);
    if s.sends {
        text += &format!("\n  packets sent {}, captured samples {}", t.packets_sent, t.captured);
        if t.capture_skipped > 0 {
            text += &format!(", skipped {} (a backlog beyond the bound)", t.capture_skipped);
        }
        if t.send_errors > 0 {
            text += &format!(", send errors {}", t.send_errors);
        }
    }
    if s.receives {
        text += &format!(
            "\n  packets received {}, frames decoded {}, concealed {} (stretched {}), late {}, duplicates {}, \
             dropped for delay {}, foreign {}, other model {}, stale {}\n  \
             other source {}, unauthenticated {}, replayed {}",
            t.packets_received,
            t.frames_decoded,
            t.concealed,
            t.stretched,
            t.late,
            t.duplicates,
            t.dropped_for_delay,
            t.foreign,
            t.wrong_model,
            t.stale,
            t.other_source,
            t.unauthenticated,
            t.replayed,
        );
    }
    text += &format!(
        "\n  xruns {} (capture {}, playback {}, device {}), device errors {}, \
         codec delay {:.0} ms now, {:.0} ms at most (model {:.0} ms)",
        t.xruns(),
        t.capture_overruns,
        t.playback_underruns,
        t.device_xruns,
        t.device_errors,
        t.codec_delay_ms,
        s.max_delay_ms,
        s.algorithmic_ms
    );
    eprintln!("{text}");
}

/// Says once, before the call, whether it is protected.
fn print_protection(options: &CallOptions) {
    if options.rtp.srtp.is_some() {
        eprintln!(
            "SRTP ({}): packets that fail authentication or replay are dropped and counted",
            codec_stream::SRTP_SUITE
        );
    } else {
        eprintln!(
            "notice: the call is not encrypted (plain RTP): anyone on the path can hear it, and anyone who can reach \
             the port can inject audio; --srtp-key protects it"
        );
    }
}

fn report(line: &str) {
    eprintln!("{line}");
}

pub fn loopback(a: LoopbackArgs) -> Result<()> {
    let package = a.common.model.open()?;
    let mut options = options(&a.common, &a.rate, &package, a.net.config()?, a.net.frames_per_packet)?;
    if a.codec == LoopbackCodec::None {
        options.codec = codec_stream::CodecChoice::PassThrough;
    }
    let input = match a.input {
        Some(path) => Input::File { path, pace: a.common.pace },
        None => Input::Device(a.input_device),
    };
    let output = match a.output {
        Some(path) => Output::File { path, pace: a.common.pace },
        None => Output::Device(a.output_device),
    };
    if options.codec == codec_stream::CodecChoice::PassThrough {
        eprintln!(
            "loopback: no codec (--codec none): µ-law frames of {:.0} ms, algorithmic latency {:.0} ms (the frame)",
            package.hop() as f64 * 1000.0 / f64::from(package.sample_rate()),
            package.hop() as f64 * 1000.0 / f64::from(package.sample_rate())
        );
    } else {
        print_header("loopback", &package, &options, true);
    }
    let stop = stop_on_ctrl_c();
    let summary = codec_stream::run_loopback(&package, &input, &output, &options, &stop, &mut report)
        .context("loopback failed")?;
    print_summary(&summary);
    Ok(())
}

fn resolve(addr: &str) -> Result<SocketAddr> {
    // A port that is a number, but not one of 0-65535, deserves better than "not HOST:PORT".
    let port = addr.rsplit_once(':').map_or(addr, |(_, port)| port);
    if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_err() {
        bail!("port {port} is out of range (ports go up to 65535)");
    }
    addr.to_socket_addrs()
        .with_context(|| format!("`{addr}` is not HOST:PORT"))?
        .next()
        .with_context(|| format!("`{addr}` resolves to no address"))
}

pub fn send(a: SendArgs) -> Result<()> {
    let package = a.common.model.open()?;
    let mut options = options(&a.common, &a.rate, &package, a.net.config()?, a.net.frames_per_packet)?;
    options.rtp = a.rtp.settings()?;
    options.rtp.ssrc = a.ssrc;
    options.watermark = a.watermark.watermark()?;
    let to = resolve(&a.to)?;
    let input = match a.input {
        Some(path) => Input::File { path, pace: 1.0 },
        None => Input::Device(a.input_device),
    };
    print_header(&format!("sending to {to}"), &package, &options, true);
    print_protection(&options);
    let stop = stop_on_ctrl_c();
    let summary =
        codec_stream::run_send(&package, &input, to, &options, &stop, &mut report).context("sending failed")?;
    print_summary(&summary);
    Ok(())
}

pub fn receive(a: ReceiveArgs) -> Result<()> {
    let package = a.common.model.open()?;
    let rate = RateArgs { stages: a.stages, kbps: None };
    let mut options = options(&a.common, &rate, &package, NetSimConfig::default(), 1)?;
    options.rtp = a.rtp.settings()?;
    let listen: SocketAddr = match a.listen.parse::<u16>() {
        Ok(port) => ([0, 0, 0, 0], port).into(),
        Err(_) => resolve(&a.listen)?,
    };
    options.idle_stop = seconds("--idle-stop", a.idle_stop.or(a.output.as_ref().map(|_| 3.0)))?;
    // The default ends a recording once its call goes quiet; it does not
    // end one that is still waiting for the sender.
    options.idle_from_start = a.idle_stop.is_some();
    let output = match a.output {
        Some(path) => Output::File { path, pace: 1.0 },
        None => Output::Device(a.output_device),
    };
    print_header(&format!("listening on {listen}"), &package, &options, false);
    print_protection(&options);
    let stop = stop_on_ctrl_c();
    let summary = codec_stream::run_receive(&package, listen, &output, &options, &stop, &mut report)
        .context("receiving failed")?;
    print_summary(&summary);
    Ok(())
}

pub fn devices(_: DevicesArgs) -> Result<()> {
    let devices = codec_stream::list_devices()?;
    if devices.is_empty() {
        outln!("no audio devices (no sound card or sound server); --input FILE / --output FILE work without one")?;
        return Ok(());
    }
    for d in devices {
        let mut marks = Vec::new();
        if d.default_input {
            marks.push("default input");
        }
        if d.default_output {
            marks.push("default output");
        }
        let marks = if marks.is_empty() { String::new() } else { format!(" [{}]", marks.join(", ")) };
        outln!("{}{marks}: {}", d.id, d.description)?;
        if let Some(i) = d.input {
            outln!("    input:  {i}")?;
        }
        if let Some(o) = d.output {
            outln!("    output: {o}")?;
        }
    }
    Ok(())
}
