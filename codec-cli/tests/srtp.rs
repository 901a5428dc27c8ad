//! SRTP calls end to end: keys from files and the environment, a call that
//! plays while replayed, forged and foreign packets are dropped and
//! counted, and a flood of random and forged datagrams that the call
//! outlives with bounded memory.

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::call::{assert_plays_the_decode, count, free_port, offline_decode, realtime, wait, wav_samples};
use common::{s, sample};

fn codec() -> Command {
    Command::new(env!("CARGO_BIN_EXE_codec"))
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
fn attacking_relay(socket: UdpSocket, to: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    socket.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
    std::thread::spawn(move || {
        let (mut buf, mut seen, mut attacks) = ([0u8; 2048], 0u64, 0u64);
        while !stop.load(Ordering::Relaxed) {
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

/// A `codec receive` with a fresh key in `dir`, writing `received.wav` there
/// and stopping at the call's goodbye (or 3 s after its last packet).
struct Receiving {
    key: PathBuf,
    key_text: String,
    out: PathBuf,
    addr: String,
    child: std::process::Child,
}

fn srtp_receiver(dir: &Path) -> Receiving {
    let (key, key_text) = key_file(dir);
    let out = dir.join("received.wav");
    let addr = format!("127.0.0.1:{}", free_port());
    let child = codec()
        .args(["receive", "--listen", &addr, "-o", s(&out), "-q", "--srtp-key", s(&key)])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn receive");
    Receiving { key, key_text, out, addr, child }
}

#[test]
fn an_srtp_call_plays_and_drops_replayed_forged_and_foreign_packets() {
    let _turn = realtime();
    let dir = tempfile::tempdir().expect("tmp");
    let Receiving { key, key_text, out, addr, child: receiver } = srtp_receiver(dir.path());
    let relay = UdpSocket::bind("127.0.0.1:0").expect("bind relay");
    let relay_addr = relay.local_addr().expect("addr").to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = attacking_relay(relay, addr.clone(), stop.clone());
    std::thread::sleep(Duration::from_millis(1500));
    let sent = codec()
        .args(["send", "--to", &relay_addr, "-i", s(&sample()), "-q", "--srtp-key", s(&key)])
        .output()
        .expect("run send");
    let send_err = String::from_utf8_lossy(&sent.stderr).into_owned();
    assert!(sent.status.success(), "{send_err}");
    let received = wait(receiver, Duration::from_secs(30));
    stop.store(true, Ordering::Relaxed);
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

/// Issue 32, item 4: a FIFO is refused at once, as a folder is, rather than
/// waited on for a writer until Ctrl-C.
#[test]
fn an_srtp_key_that_is_a_fifo_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let fifo = dir.path().join("call.key");
    let c_path = std::ffi::CString::new(s(&fifo)).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    for command in [&["receive", "--listen", "0", "-o", "/dev/null"][..], &["sdp", "--port", "5004"]] {
        let child = codec().args(command).args(["--srtp-key", s(&fifo)]).stderr(Stdio::piped()).spawn().expect("spawn");
        let out = wait(child, Duration::from_secs(30));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command:?}: {err}");
        let last = err.trim_end().lines().last().unwrap_or_default();
        assert!(last.starts_with("error: ") && last.contains("not a regular file"), "{command:?}: {err}");
    }
}

/// Resident memory of process `pid`, KiB (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU time process `pid` has used, seconds (Linux; clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Datagrams a flood sends each 10 ms: 5,000 a second, a hundred times the
/// call's 50 packets.
const FLOOD_PER_TICK: u64 = 50;
/// The most a flood sends in all.
const FLOOD_LIMIT: u64 = 60_000;

/// Forwards what `codec send` sends to `to` and, once the call's SSRC is
/// known, sends beside it every 10 ms, until `stop`: random bytes, RTP
/// packets of the call's payload type and SSRC with random sequence
/// numbers, timestamps and payloads (forged), and RTP packets of random
/// SSRCs. Small and random, from a seeded generator. Returns the datagrams
/// of the flood it sent.
fn flooding_relay(socket: UdpSocket, to: String, per_tick: u64, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    socket.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut buf, mut ssrc, mut flood) = ([0u8; 2048], None::<[u8; 4]>, 0u64);
        let mut tick = std::time::Instant::now();
        while !stop.load(Ordering::Relaxed) {
            while let Ok(n) = socket.recv(&mut buf) {
                ssrc.get_or_insert([buf[8], buf[9], buf[10], buf[11]]);
                let _ = socket.send_to(&buf[..n], &to);
            }
            if let Some(ssrc) = ssrc.filter(|_| tick.elapsed() >= Duration::from_millis(10) && flood < FLOOD_LIMIT) {
                tick = std::time::Instant::now();
                for i in 0..per_tick {
                    let len = 12 + (next() % 180) as usize;
                    let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                    match i % 3 {
                        0 => {}
                        kind => {
                            d[0] = 0x80;
                            d[1] = 96;
                            if kind == 1 {
                                d[8..12].copy_from_slice(&ssrc);
                            }
                        }
                    }
                    let _ = socket.send_to(&d, &to);
                    flood += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        flood
    })
}

/// How a call went beside a flood.
struct Flooded {
    flood: u64,
    rss_before_kib: u64,
    rss_most_kib: u64,
    cpu_seconds: f64,
    send_err: String,
    err: String,
    audio: Vec<f32>,
}

/// An SRTP call of the sample through a relay that sends `per_tick`
/// datagrams of flood every 10 ms beside it; the receiver's memory and CPU
/// time are taken from the moment it listens to the end of the call.
fn flooded_call(per_tick: u64) -> Flooded {
    let dir = tempfile::tempdir().expect("tmp");
    let Receiving { key, out, addr, child: receiver, .. } = srtp_receiver(dir.path());
    let pid = receiver.id();
    let relay = UdpSocket::bind("127.0.0.1:0").expect("bind relay");
    let relay_addr = relay.local_addr().expect("addr").to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = flooding_relay(relay, addr.clone(), per_tick, stop.clone());
    std::thread::sleep(Duration::from_millis(1500));
    let (rss_before_kib, cpu_before) = (rss_kib(pid), cpu_seconds(pid));
    let sender = codec()
        .args(["send", "--to", &relay_addr, "-i", s(&sample()), "-q", "--srtp-key", s(&key)])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn send");
    let (mut rss_most_kib, mut cpu_last) = (rss_before_kib, cpu_before);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while rss_kib(pid) > 0 && std::time::Instant::now() < deadline && std::fs::metadata(&out).is_err() {
        rss_most_kib = rss_most_kib.max(rss_kib(pid));
        cpu_last = cpu_seconds(pid).max(cpu_last);
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent = wait(sender, Duration::from_secs(30));
    let received = wait(receiver, Duration::from_secs(30));
    stop.store(true, Ordering::Relaxed);
    let flood = flooder.join().expect("flooder");
    let send_err = String::from_utf8_lossy(&sent.stderr).into_owned();
    let err = String::from_utf8_lossy(&received.stderr).into_owned();
    assert!(sent.status.success() && received.status.success(), "{send_err}\n{err}");
    let (audio, rate) = wav_samples(&out);
    assert_eq!(rate, 16_000);
    Flooded { flood, rss_before_kib, rss_most_kib, cpu_seconds: cpu_last - cpu_before, send_err, err, audio }
}

#[test]
fn an_srtp_call_outlives_a_flood_of_random_and_forged_datagrams_with_bounded_memory() {
    let _turn = realtime();
    let quiet = flooded_call(0);
    let f = flooded_call(FLOOD_PER_TICK);
    println!("send:\n{}\nreceive:\n{}", f.send_err, f.err);
    for (what, c) in [("without a flood", &quiet), ("beside the flood", &f)] {
        println!(
            "{what}: {} datagrams of flood; receiver memory {} MiB before the call, {} MiB at most; CPU {:.2} s in the call",
            c.flood,
            c.rss_before_kib / 1024,
            c.rss_most_kib / 1024,
            c.cpu_seconds
        );
    }
    let err = &f.err;
    assert!(f.flood >= 10_000, "the flood sent only {}", f.flood);
    let dropped = ["foreign", "other source", "unauthenticated", "replayed", "stale", "other model"]
        .iter()
        .map(|name| count(err, name))
        .sum::<u64>();
    // Every datagram of the flood that the kernel delivered was dropped,
    // and the kernel delivered most.
    assert!(dropped <= f.flood && dropped * 2 >= f.flood, "{dropped} of {} dropped: {err}", f.flood);
    assert!(count(err, "foreign") > 0 && count(err, "other source") > 0 && count(err, "unauthenticated") > 0);
    // The call itself: played, second by second the offline decode.
    let (packets, got) = (count(&f.send_err, "packets sent"), count(err, "received"));
    assert!(got * 10 >= packets * 9 && got <= packets, "received {got} of {packets}");
    let offline = offline_decode();
    let (delay_ms, _) = codec_stream::delay::envelope_delay(&offline, &f.audio, 16_000, 3000.0);
    assert_plays_the_decode(&offline, &f.audio, 16_000, delay_ms, err);
    // Forged sources leave nothing behind: memory does not grow with the flood.
    assert!(
        f.rss_most_kib < quiet.rss_most_kib.max(f.rss_before_kib) + 16 * 1024,
        "{} KiB at most beside the flood, {} KiB without",
        f.rss_most_kib,
        quiet.rss_most_kib
    );
}
