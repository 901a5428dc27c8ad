//! `codec loopback`, `send` and `receive` end to end, through files at real
//! time (no sound card needed) and UDP on this machine; and the bad
//! conditions: a port in use, garbage and foreign datagrams, no sound server.

mod common;

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

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
