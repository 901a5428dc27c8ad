//! `codec loopback`, `send` and `receive` end to end, through files at real
//! time (no sound card needed) and UDP on this machine; and the bad
//! conditions: a port in use, garbage and foreign datagrams, no sound server.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use codec_core::bitstream::Packet;
use codec_stream::rtp::{RtpOut, RtpSettings};

/// The tests that run the pipeline against real-time clocks take turns: on a
/// 2-core machine, two calls at once starve each other into xruns.
static REALTIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn realtime() -> std::sync::MutexGuard<'static, ()> {
    REALTIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sample() -> PathBuf {
    repo().join("testdata").join("sample.wav")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn codec() -> Command {
    Command::new(env!("CARGO_BIN_EXE_codec"))
}

/// Waits for `child` at most `limit`, killing it past that (a hang is a failure).
fn wait(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    panic!("still running after {limit:?}; stderr: {}", String::from_utf8_lossy(&out.stderr));
}

/// The number after `name ` in the summary.
fn count(text: &str, name: &str) -> u64 {
    let at = text.rfind(&format!("{name} ")).unwrap_or_else(|| panic!("no `{name}` in: {text}"));
    text[at + name.len() + 1..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{name}` in: {text}"))
}

fn wav_samples(path: &Path) -> (Vec<f32>, u32) {
    let mut r = hound::WavReader::open(path).expect("wav");
    let rate = r.spec().sample_rate;
    (r.samples::<i16>().map(|x| f32::from(x.expect("sample")) / 32768.0).collect(), rate)
}

/// The offline decode of the sample (the whole file encoded and decoded at once).
fn offline_decode() -> Vec<f32> {
    let package = codec_core::ModelPackage::open("default").expect("model");
    let options = codec_core::RuntimeOptions::default();
    let input = codec_core::audio::read_audio(&sample()).expect("sample").samples;
    let tokens =
        codec_core::offline::encode_pcm(&package, options, package.default_stages(), &input, |_| {}).expect("encode");
    codec_core::offline::decode_tokens(&package, options, &tokens, |_| {}).expect("decode")
}

/// Checks that `audio` plays `offline` (the offline decode) second by
/// second, allowing for the slips the receiver's summary `err` counts.
///
/// A busy machine may make the receiver's clock play a moment of silence (an
/// xrun) or the jitter buffer stretch a frame (a late packet); all after such
/// a slip comes that much later, which one lag for the whole file reads as a
/// poor match. So each second is matched on its own: without a slip in it,
/// it is the decode's (0.99 and more); a 20 ms slip inside a second brings it
/// to 0.8-0.9. A third of the frames missing or repeated, the frames of a
/// packet out of order, or the speech backwards, bring every second below
/// 0.95. Returns the delay of the last second.
fn assert_plays_the_decode(offline: &[f32], audio: &[f32], rate: u32, around_ms: f64, err: &str) -> f64 {
    let track = codec_stream::delay::envelope_track(offline, audio, rate, 1000.0, around_ms, 300.0);
    println!("second by second: {track:?}");
    assert!(track.len() >= 4, "{track:?}");
    let slips = count(err, "xruns") + count(err, "concealed");
    let loose = track.iter().filter(|m| m.corr < 0.95).count() as u64;
    assert!(loose <= slips, "{loose} seconds unlike the sent speech after {slips} slips: {track:?}");
    assert!(track.iter().all(|m| m.corr > 0.6), "the output is not the sent speech: {track:?}");
    track.last().map_or(around_ms, |m| m.delay_ms)
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
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
        .args(["receive", "--listen", &addr, "-o", s(out), "--idle-stop", "1.5", "-q"])
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
    // 5 s of speech and the short tail that flushes the encoder, in threes.
    assert!((80..=95).contains(&packets), "{packets} packets: {send_err}");
    // Every frame of every packet is played.
    assert!(decoded >= 3 * packets - 3, "{decoded} frames decoded from {packets} packets: {err}");
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
    // not the 1.5 s of --idle-stop as well.
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

/// Writes a fresh SRTP key file (mode 0600) in `dir`, returning its path and base64.
fn key_file(dir: &Path) -> (PathBuf, String) {
    use std::os::unix::fs::PermissionsExt;
    let bytes: [u8; 30] = std::array::from_fn(|i| (i as u8).wrapping_mul(97).wrapping_add(13));
    let key = codec_stream::SrtpKey::from_bytes(bytes).to_base64();
    let path = dir.join("call.key");
    std::fs::write(&path, format!("{key}\n")).expect("write key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    (path, key)
}

/// Forwards what `codec send` sends to `to` and, after every fifth packet of
/// frames from the tenth on, sends the receiver three an attacker could:
/// the same again (a replay), the next sequence number with its last byte
/// (the SRTP tag) flipped (a forgery), and the same under another SSRC.
/// Stops when `stop` is set; returns how many of each kind it sent.
fn attacking_relay(
    socket: UdpSocket,
    to: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    socket.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
    std::thread::spawn(move || {
        let (mut buf, mut seen, mut attacks) = ([0u8; 2048], 0u64, 0u64);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok(n) = socket.recv(&mut buf) else { continue };
            let d = &buf[..n];
            socket.send_to(d, &to).expect("forward");
            // A packet of one frame with no header extension: 12 + 5 + 10 bytes.
            if n != 27 {
                continue;
            }
            seen += 1;
            if seen < 10 || seen % 5 != 0 {
                continue;
            }
            attacks += 1;
            socket.send_to(d, &to).expect("replay");
            let mut forged = d.to_vec();
            let seq = u16::from_be_bytes([forged[2], forged[3]]).wrapping_add(1);
            forged[2..4].copy_from_slice(&seq.to_be_bytes());
            forged[n - 1] ^= 0x01;
            socket.send_to(&forged, &to).expect("forgery");
            let mut other = d.to_vec();
            other[8..12].iter_mut().for_each(|b| *b ^= 0xff);
            socket.send_to(&other, &to).expect("other source");
        }
        attacks
    })
}

#[test]
fn an_srtp_call_plays_and_drops_replayed_forged_and_foreign_packets() {
    let _turn = realtime();
    let dir = tempfile::tempdir().expect("tmp");
    let (key, key_text) = key_file(dir.path());
    let out = dir.path().join("received.wav");
    let addr = format!("127.0.0.1:{}", free_port());
    let receiver = codec()
        .args(["receive", "--listen", &addr, "-o", s(&out), "--idle-stop", "1.5", "-q", "--srtp-key", s(&key)])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn receive");
    let relay = UdpSocket::bind("127.0.0.1:0").expect("bind relay");
    let relay_addr = relay.local_addr().expect("addr").to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attacker = attacking_relay(relay, addr.clone(), stop.clone());
    std::thread::sleep(Duration::from_millis(1500));
    let sent = codec()
        .args(["send", "--to", &relay_addr, "-i", s(&sample()), "-q", "--srtp-key", s(&key)])
        .output()
        .expect("run send");
    let send_err = String::from_utf8_lossy(&sent.stderr).into_owned();
    assert!(sent.status.success(), "{send_err}");
    let received = wait(receiver, Duration::from_secs(30));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let attacks = attacker.join().expect("relay");
    let err = String::from_utf8_lossy(&received.stderr).into_owned();
    println!("send:\n{send_err}\nreceive:\n{err}\n{attacks} rounds of attack");
    assert!(received.status.success(), "{err}");
    assert!(attacks >= 40, "{attacks}");
    assert_eq!(count(&err, "replayed"), attacks, "{err}");
    assert_eq!(count(&err, "unauthenticated"), attacks, "{err}");
    assert_eq!(count(&err, "other source"), attacks, "{err}");
    assert!(err.contains("SRTP (AES_CM_128_HMAC_SHA1_80)") && !err.contains("call is not encrypted"), "{err}");
    assert!(!err.contains(key_text.as_str()) && !send_err.contains(key_text.as_str()), "the key was printed");
    let (sent_packets, got) = (count(&send_err, "packets sent"), count(&err, "received"));
    assert!(got + 3 >= sent_packets && got <= sent_packets, "received {got} of {sent_packets}");
    let (audio, rate) = wav_samples(&out);
    let offline = offline_decode();
    let (delay_ms, _) = codec_stream::delay::envelope_delay(&offline, &audio, rate, 3000.0);
    assert_plays_the_decode(&offline, &audio, rate, delay_ms, &err);
}

#[test]
fn srtp_keys_are_checked_and_never_printed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let (key, key_text) = key_file(dir.path());
    let open = dir.path().join("open.key");
    std::fs::copy(&key, &open).expect("copy");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let short = dir.path().join("short.key");
    std::fs::write(&short, "c2VjcmV0\n").expect("write");
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    for (args, needle) in [
        (vec!["--srtp-key", s(&open)], "readable by others"),
        (vec!["--srtp-key", s(&short)], "6 bytes, not 30"),
        (vec!["--srtp-key", s(dir.path())], "not a regular file"),
        (vec!["--srtp-key-env", "CODEC_TEST_NO_SUCH_VARIABLE"], "is not set"),
    ] {
        let out = codec().args(["receive", "--listen", "0", "-o", "/dev/null"]).args(&args).output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.trim_end().lines().last().is_some_and(|l| l.starts_with("error: ") && l.contains(needle)), "{err}");
        assert!(!err.contains(key_text.as_str()) && !err.contains("c2VjcmV0"), "{err}");
    }
    // The environment variable works as the file does; a plain call says it is not encrypted.
    let sdp = codec().args(["sdp", "--port", "5004", "--srtp-key-env", "K"]).env("K", &key_text).output().expect("run");
    let text = String::from_utf8_lossy(&sdp.stdout);
    assert!(text.contains(&format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key_text}")), "{text}");
    assert!(text.contains("m=audio 5004 RTP/SAVP 96"), "{text}");
    let plain = codec().args(["send", "--to", "127.0.0.1:9", "-i", s(&sample()), "--duration", "0.2", "-q"]).output();
    let err = String::from_utf8_lossy(&plain.expect("run").stderr).into_owned();
    assert_eq!(err.matches("the call is not encrypted").count(), 1, "{err}");
}
