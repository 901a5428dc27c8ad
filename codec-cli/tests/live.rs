//! `codec loopback`, `send` and `receive` end to end, through files at real
//! time (no sound card needed) and UDP on this machine; and the bad
//! conditions: a port in use, garbage and foreign datagrams, no sound server.

mod common;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use codec_core::bitstream::Packet;
use codec_stream::rtp::{RtpOut, RtpSettings};
use common::call::{assert_plays_the_decode, count, free_port, offline_decode, realtime, wait, wav_samples};
use common::{repo, s, sample};

fn codec() -> Command {
    Command::new(env!("CARGO_BIN_EXE_codec"))
}

#[test]
fn file_loopback_plays_the_codec_speech_with_its_delay() {
    let _turn = realtime();
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out.wav");
    let child = codec()
        .args(["loopback", "-i", s(&sample()), "-o", s(&out), "-q"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let result = wait(child, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{err}");
    assert!(err.contains("end of input"), "{err}");
    assert_eq!(count(&err, "xruns"), 0, "{err}");
    let (input, _) = wav_samples(&sample());
    let (output, rate) = wav_samples(&out);
    assert_eq!(rate, 16_000);
    assert!(output.len() >= input.len(), "{} < {}", output.len(), input.len());
    // The offline decode is aligned with the input: its lag is the pipeline's delay.
    let offline = offline_decode();
    let (delay_ms, corr) = codec_stream::delay::envelope_delay(&offline, &output, rate, 500.0);
    println!("file loopback: delay {delay_ms} ms (envelope correlation with the offline decode {corr:.3})\n{err}");
    assert!((40.0..150.0).contains(&delay_ms), "delay {delay_ms} ms");
    assert_plays_the_decode(&offline, &output, rate, delay_ms, &err);
}

/// Issue 35: `--codec none` carries the same frames through the same path
/// without the networks: the speech comes out as it went in (µ-law), and
/// its algorithmic delay is the frame's 20 ms.
#[test]
fn loopback_without_the_codec_plays_the_input_back() {
    let _turn = realtime();
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("none.wav");
    let child = codec()
        .args(["loopback", "--codec", "none", "-i", s(&sample()), "-o", s(&out), "-q"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let result = wait(child, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{err}");
    assert!(err.contains("no codec (--codec none)") && err.contains("(model 20 ms)"), "{err}");
    assert!(err.contains("end of input"), "{err}");
    assert_eq!(count(&err, "xruns"), 0, "{err}");
    let (input, rate) = wav_samples(&sample());
    let (output, out_rate) = wav_samples(&out);
    assert_eq!(out_rate, rate);
    let (delay_ms, corr) = codec_stream::delay::envelope_delay(&input, &output, rate, 500.0);
    assert!(corr > 0.95, "envelope correlation {corr:.3}\n{err}");
    // The 20 ms frame and the file devices' buffers: well under the model's 90 ms.
    assert!((20.0..80.0).contains(&delay_ms), "delay {delay_ms} ms\n{err}");
    let lag = (delay_ms * f64::from(rate) / 1000.0) as usize;
    let energy = |x: &[f32]| x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>();
    let played = &output[lag.min(output.len())..];
    let n = played.len().min(input.len());
    let ratio = energy(&played[..n]) / energy(&input[..n]);
    assert!((0.8..1.25).contains(&ratio), "output energy {ratio:.3} of the input's");
}

/// A datagram that is a well-formed RTP packet of some other model (its
/// first, which names the model).
fn foreign_model_packet() -> Vec<u8> {
    let packet =
        Packet { seq: 0, frame_index: 0, model_tag: 0xdead_beef, bits: 10, codebooks: 4, frames: 1, codes: vec![1; 4] };
    let mut rtp = RtpOut::new(&RtpSettings::default(), packet.model_tag, 320).expect("rtp");
    let mut d = Vec::new();
    rtp.write(&packet, &mut d).expect("encode");
    d
}

/// `codec receive` into `out` and `codec send` of the sample with
/// `send_args`, in two processes; `before_send` gets the receiver's address
/// once it listens. Returns what the sender and the receiver printed.
fn call_across_processes(out: &Path, send_args: &[&str], before_send: impl FnOnce(&str)) -> (String, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let receiver = codec()
        // The default idle stop with --output: the sender's goodbye, or 3 s after its last packet.
        .args(["receive", "--listen", &addr, "-o", s(out), "-q"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn receive");
    std::thread::sleep(Duration::from_millis(1500));
    before_send(&addr);
    let sent =
        codec().args(["send", "--to", &addr, "-i", s(&sample()), "-q"]).args(send_args).output().expect("run send");
    let send_err = String::from_utf8_lossy(&sent.stderr).into_owned();
    assert!(sent.status.success(), "{send_err}");
    let received = wait(receiver, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&received.stderr).into_owned();
    assert!(received.status.success(), "{err}");
    println!("send:\n{send_err}\nreceive:\n{err}");
    (send_err, err)
}

#[test]
fn send_and_receive_work_across_processes_under_20_percent_loss() {
    let _turn = realtime();
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("received.wav");
    let (send_err, err) = call_across_processes(&out, &["--loss", "20", "--seed", "7"], |addr| {
        // Garbage and another model's packet on the port: counted, dropped, no harm.
        let junk = UdpSocket::bind("127.0.0.1:0").expect("bind");
        junk.send_to(b"definitely not a codec packet", addr).expect("send junk");
        junk.send_to(&foreign_model_packet(), addr).expect("send foreign");
    });
    let packets_sent = count(&send_err, "packets sent");
    assert!(packets_sent >= 250, "{send_err}");
    let got = count(&err, "received");
    let concealed = count(&err, "concealed");
    // 20 % of ~270 packets lost on the way, and each stood in for.
    assert!((150..=240).contains(&got), "received {got} of {packets_sent}");
    assert!(concealed + got + 5 >= packets_sent, "concealed {concealed}, received {got}, sent {packets_sent}");
    assert_eq!(count(&err, "foreign"), 1, "{err}");
    assert_eq!(count(&err, "other model"), 1, "{err}");
    assert!(err.contains("notice: dropping"), "{err}");
    let (audio, rate) = wav_samples(&out);
    assert_eq!(rate, 16_000);
    let offline = offline_decode();
    let (delay_ms, corr) = codec_stream::delay::envelope_delay(&offline, &audio, rate, 3000.0);
    println!("received audio: envelope correlation with the offline decode {corr:.3} at {delay_ms} ms");
    // A fifth of the frames are concealed (every second is loose, 0.75-0.98
    // with this seed), the rest are the codec's decode.
    assert_plays_the_decode(&offline, &audio, rate, delay_ms, &err);
}

#[test]
fn three_frames_a_packet_reach_the_receiver_whole() {
    let _turn = realtime();
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("received.wav");
    let (send_err, err) = call_across_processes(&out, &["--frames-per-packet", "3"], |_| {});
    // The header line gives the rate on the wire: 12 bytes of RTP header every 60 ms on top of the codes.
    assert!(send_err.contains("3 frames a packet: 3.60 kbps with headers"), "{send_err}");
    let packets = count(&send_err, "packets sent");
    let decoded = count(&err, "frames decoded");
    let shed = count(&err, "dropped for delay");
    // 5 s of speech and the short tail that flushes the encoder, in threes.
    assert!((80..=95).contains(&packets), "{packets} packets: {send_err}");
    // Every frame of every packet is played, but for those the jitter buffer
    // sheds to win back the delay that a packet held up by a busy machine
    // added: at most a packet's frames for each late one, and one packet's
    // at the start.
    assert!(decoded + shed >= 3 * packets - 3, "{decoded} frames decoded, {shed} shed, from {packets} packets: {err}");
    assert!(shed <= 3 * (count(&err, "late") + 1), "{shed} frames shed: {err}");
    // The sender's goodbye ends the call at once: no --idle-stop wait
    // concealed as loss, no seconds of it in the file.
    assert!(err.contains("the sender ended the stream after"), "{err}");
    assert!(count(&err, "concealed") <= count(&err, "late") + 3, "{err}");
    // A busy machine may hold up a packet now and then (the jitter buffer then grows).
    assert!(count(&err, "late") <= 3, "{err}");
    let (audio, rate) = wav_samples(&out);
    let offline = offline_decode();
    let (delay_ms, corr) = codec_stream::delay::envelope_delay(&offline, &audio, rate, 3000.0);
    println!("received audio: envelope correlation with the offline decode {corr:.3} at {delay_ms} ms");
    let last_delay = assert_plays_the_decode(&offline, &audio, rate, delay_ms, &err);
    // After the speech: the sender's 0.4 s tail that flushes the encoder,
    // not the 3 s of the idle stop as well.
    let after = audio.len() as f64 / f64::from(rate) - last_delay / 1000.0 - offline.len() as f64 / 16_000.0;
    assert!(after < 0.9, "the file goes on {after:.2} s after the speech");
}

#[test]
fn receive_on_a_port_in_use_says_so() {
    let taken = UdpSocket::bind("0.0.0.0:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = codec().args(["receive", "--listen", &port, "-o", "/dev/null"]).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("already in use"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_call_options_are_refused_with_a_message() {
    for (args, needle) in [
        (vec!["loopback", "--loss", "150", "-i", "x.wav", "-o", "y.wav"], "--loss"),
        (vec!["loopback", "--jitter", "5000", "-i", "x.wav", "-o", "y.wav"], "--jitter"),
        (vec!["loopback", "-i", "/nonexistent/in.wav", "-o", "/tmp/codec-never.wav"], "nonexistent"),
        (vec!["loopback", "-i", "testdata/sample.wav", "-o", "/nonexistent/dir/out.wav"], "no such folder"),
        (vec!["send", "--to", "not-an-address", "-i", "testdata/sample.wav"], "not-an-address"),
    ] {
        let out = codec().current_dir(repo()).args(&args).output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        let last = err.trim_end().lines().last().unwrap_or_default();
        assert!(last.starts_with("error: ") && last.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn loopback_without_a_sound_server_fails_cleanly() {
    let _turn = realtime();
    let dir = tempfile::tempdir().expect("tmp");
    let child = codec()
        .args(["loopback", "--duration", "2"])
        .env("XDG_RUNTIME_DIR", dir.path())
        .env("PULSE_SERVER", "unix:/nonexistent/pulse/native")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = wait(child, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    // Either ALSA has a device that plays nowhere (a null device), or there is none: never a hang or a crash.
    if !out.status.success() {
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.lines().last().is_some_and(|l| l.starts_with("error: ")), "{err}");
    }
}

/// A child killed when the test lets go of it, so that a failing test does
/// not leave a call running (one that spins at realtime priority above all).
struct Killed(Option<Child>);

impl Killed {
    fn take(&mut self) -> Child {
        self.0.take().expect("the child")
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// CPU time process `pid` has used, seconds (Linux; clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Spawns `codec ARGS` and reads its stderr on a thread: returns the
/// child, a channel that gets each line, and the thread, which returns all
/// of stderr.
fn with_stderr_lines(
    args: &[&str],
    env: &[(&str, &str)],
) -> (Killed, std::sync::mpsc::Receiver<String>, std::thread::JoinHandle<String>) {
    let mut child = codec().args(args).envs(env.iter().copied()).stderr(Stdio::piped()).spawn().expect("spawn");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let (tx, rx) = std::sync::mpsc::channel();
    let reading = std::thread::spawn(move || {
        let mut seen = String::new();
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    (Killed(Some(child)), rx, reading)
}

/// The first line from `lines` that starts with `start`, waiting at most a minute.
fn first_line(lines: &std::sync::mpsc::Receiver<String>, start: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if line.starts_with(start) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line starting {start:?}: {e}"),
        }
    }
    panic!("no line starting {start:?} within a minute");
}

/// Issue 32, item 1: ALSA's null device, all a headless machine may list,
/// captures and plays as fast as it is asked. Both ends spun at realtime
/// priority and the call ignored --duration, SIGINT and SIGTERM. It is held
/// to real time now, and said to be.
#[test]
fn a_device_without_a_clock_is_held_to_real_time_and_the_call_ends() {
    let _turn = realtime();
    let alsa = [("CODEC_AUDIO_HOST", "alsa")];
    let devices = codec().arg("devices").envs(alsa).output().expect("run devices");
    if !String::from_utf8_lossy(&devices.stdout).contains("alsa:null") {
        println!("skipped: ALSA has no null device here");
        return;
    }
    let null = ["--input-device", "alsa:null"];
    let args = [&["loopback", "--duration", "2", "--output-device", "alsa:null"][..], &null].concat();
    let (mut child, _lines, reading) = with_stderr_lines(&args, &alsa);
    let status = wait_status(child.take(), Duration::from_secs(30));
    let err = reading.join().expect("stderr");
    assert!(status.success(), "{err}");
    assert!(err.contains("duration reached"), "{err}");
    assert_eq!(err.matches("faster than real time").count(), 2, "both ends are said to be held: {err}");
    // 2 s of packets at 50 a second, not what an encoder can make of audio without end.
    assert!((50..=200).contains(&count(&err, "packets sent")), "{err}");
    assert!(count(&err, "frames decoded") >= 50, "{err}");
    // A sender alone, ended by a signal; the audio it takes costs little.
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let to = format!("127.0.0.1:{}", free_port());
        let (mut child, lines, reading) = with_stderr_lines(&[&["send", "--to", &to][..], &null].concat(), &alsa);
        let pid = child.0.as_ref().map(Child::id).expect("pid");
        first_line(&lines, "sent ");
        let (cpu, wall) = (cpu_seconds(pid), Instant::now());
        std::thread::sleep(Duration::from_secs(3));
        let used = (cpu_seconds(pid) - cpu) / wall.elapsed().as_secs_f64();
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0);
        let status = wait_status(child.take(), Duration::from_secs(30));
        let err = reading.join().expect("stderr");
        println!("signal {signal}: {used:.2} of a core while sending\n{err}");
        assert!(status.success(), "signal {signal}: {status}: {err}");
        assert!(err.contains("stopped after"), "{err}");
        assert!(used < 0.8, "{used:.2} of a core for one call: {err}");
    }
}

/// Waits for `child`, whose stderr is read elsewhere, at most `limit`.
fn wait_status(mut child: Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("still running after {limit:?}");
}

/// Issue 32, item 2: an output that cannot be written is refused before the
/// call, not after it (when all it received is lost). The idle stop is far
/// off: the old receiver ran until it.
#[test]
fn receive_refuses_an_output_it_cannot_write_before_the_call() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut outputs = vec![
        (dir.path().to_path_buf(), "it is a directory"),
        // Nobody, root included, creates a file there.
        (Path::new("/proc").join("codec-received.wav"), "cannot write"),
    ];
    // SAFETY: no arguments, no side effects.
    if unsafe { libc::geteuid() } != 0 {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).expect("mkdir");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        outputs.push((locked.join("received.wav"), "Permission denied"));
    }
    for (out, needle) in outputs {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = codec()
            .args(["receive", "--listen", &addr, "-o", s(&out), "--idle-stop", "600", "-q"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let result = wait(child, Duration::from_secs(30));
        let err = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(1), "{out:?}: {err}");
        let last = err.trim_end().lines().last().unwrap_or_default();
        assert!(last.starts_with("error: ") && last.contains(needle), "{out:?}: {err}");
        assert!(!err.contains("udp://"), "the call ran: {err}");
    }
    let left: Vec<_> =
        std::fs::read_dir(dir.path()).expect("ls").flatten().filter(|e| e.file_name() != "locked").collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Issue 32, item 5: --idle-stop counts from the start, so a receiver that
/// hears nothing, or only what it drops (here: what fails SRTP
/// authentication), stops too, and its file is written.
#[test]
fn idle_stop_counts_from_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("call.key");
    std::fs::write(&key, "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5\n").expect("key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    for forged in [false, true] {
        let out = dir.path().join(format!("received-{forged}.wav"));
        let addr = format!("127.0.0.1:{}", free_port());
        let mut args = vec!["receive", "--listen", &addr, "-o", s(&out), "--idle-stop", "2", "-q"];
        if forged {
            args.extend(["--srtp-key", s(&key)]);
        }
        let child = codec().args(&args).stderr(Stdio::piped()).spawn().expect("spawn");
        let stop = Arc::new(AtomicBool::new(false));
        let junk = forged.then(|| {
            let (stop, addr) = (stop.clone(), addr.clone());
            std::thread::spawn(move || {
                let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
                let packet = foreign_model_packet();
                while !stop.load(Ordering::Relaxed) {
                    let _ = socket.send_to(&packet, &addr);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        });
        let result = wait(child, Duration::from_secs(30));
        stop.store(true, Ordering::Relaxed);
        if let Some(junk) = junk {
            junk.join().expect("junk");
        }
        let err = String::from_utf8_lossy(&result.stderr);
        assert!(result.status.success(), "{err}");
        assert!(err.contains("no packet came after"), "{err}");
        assert_eq!(count(&err, "packets received"), 0, "{err}");
        if forged {
            assert!(count(&err, "unauthenticated") > 10, "{err}");
        }
        assert!(wav_samples(&out).0.iter().all(|&v| v == 0.0));
    }
}

/// Issue 32, item 5: a sender's status line and summary show what it sends,
/// not a receiver's figures, and its delay at most is its delay.
#[test]
fn a_sender_reports_its_own_side() {
    let _turn = realtime();
    let to = format!("127.0.0.1:{}", free_port());
    let (mut child, lines, reading) =
        with_stderr_lines(&["send", "--to", &to, "-i", s(&sample()), "--duration", "2"], &[]);
    let line = first_line(&lines, "sent ");
    let status = wait_status(child.take(), Duration::from_secs(30));
    let err = reading.join().expect("stderr");
    assert!(status.success(), "{err}");
    for absent in ["received", "jitter", "concealed", "late"] {
        assert!(!line.contains(absent), "{line}");
    }
    let summary = &err[err.find("duration reached").expect("the summary")..];
    for absent in ["received", "decoded", "concealed", "unauthenticated"] {
        assert!(!summary.contains(absent), "{summary}");
    }
    let (now, most) = (count(summary, "codec delay"), count(summary, "ms now,"));
    assert!(most >= now && now >= 50, "{summary}");
}

/// A second Ctrl-C ends a call that the first could not stop: here a
/// receiver whose --output is a FIFO nobody reads, which waits to open it.
#[test]
fn a_second_signal_ends_a_call_that_waits() {
    let dir = tempfile::tempdir().expect("tmp");
    let fifo = dir.path().join("out.wav");
    let c_path = std::ffi::CString::new(s(&fifo)).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    let addr = format!("127.0.0.1:{}", free_port());
    let (mut child, lines, reading) = with_stderr_lines(&["receive", "--listen", &addr, "-o", s(&fifo), "-q"], &[]);
    let pid = child.0.as_ref().map(Child::id).expect("pid") as libc::pid_t;
    // The handler is set just after the notice on protection is printed.
    first_line(&lines, "notice: the call is not encrypted");
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(1000));
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    }
    let status = wait_status(child.take(), Duration::from_secs(30));
    let err = reading.join().expect("stderr");
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("stopped at once by a second signal"), "{err}");
}
