//! Stacks we did not write receive our calls: tshark decodes a call
//! captured on the loopback interface as RTP of our payload type, and
//! GStreamer's SRTP decoder (libsrtp) decrypts an SRTP call from `codec
//! send`, whose payloads `codec decode` turns into the offline decode's
//! audio.
//!
//! Without tshark or GStreamer (`scripts/system-deps.sh --peer-stacks`
//! installs them), or where capturing on `lo` is not allowed, the tests say
//! so and pass, unless `CODEC_REQUIRE_PEER_STACKS` is set (CI sets it): then
//! each of those is a failure.

mod common;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use codec_core::bitstream::{unpack_codes, TokenFile};
use codec_core::{ModelPackage, RuntimeOptions};
use common::call::{count, realtime};
use common::{codec, ok, s, sample};

/// Whether the tests may go on: `false` (after saying why) when `problem`
/// is something and the stacks are not required; a failure when they are.
fn usable(problem: Option<String>) -> bool {
    let Some(problem) = problem else { return true };
    assert!(std::env::var_os("CODEC_REQUIRE_PEER_STACKS").is_none(), "{problem}");
    eprintln!("skipped: {problem} (CODEC_REQUIRE_PEER_STACKS makes this a failure)");
    false
}

fn missing(tool: &str, args: &[&str]) -> Option<String> {
    let runs = Command::new(tool).args(args).output().is_ok_and(|o| o.status.success());
    (!runs).then(|| format!("{tool} is not installed (scripts/system-deps.sh --peer-stacks installs it)"))
}

/// Lines `child` writes to stderr (or stdout), as they come.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line containing `needle`; `Err` with what came instead if
/// the stream ends or nothing comes for a long while (a hang is a failure).
fn wait_for_line(lines: &mpsc::Receiver<String>, needle: &str) -> Result<(), String> {
    let mut seen = String::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.contains(needle) => return Ok(()),
            Ok(line) => seen += &format!("{line}\n"),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(seen),
        }
    }
    Err(format!("no `{needle}` within 60 s: {seen}"))
}

/// Asks `child` to stop as Ctrl-C would, and waits for it (at most 30 s).
fn interrupt(mut child: Child) {
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) on a child this test started and has not reaped.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("{pid} did not stop within 30 s of SIGINT");
}

#[test]
fn tshark_decodes_a_captured_call_as_rtp_of_our_payload_type() {
    if !usable(missing("tshark", &["--version"])) {
        return;
    }
    let _turn = realtime();
    let dir = tempfile::tempdir().expect("tmp");
    let capture = dir.path().join("call.pcapng");
    // The call goes to a socket that takes it in, so no ICMP comes back.
    let sink = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = sink.local_addr().expect("addr").port();
    let mut tshark = Command::new("tshark")
        .args(["-i", "lo", "-f", &format!("udp port {port}"), "-w", s(&capture)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tshark");
    let lines = lines_of(tshark.stderr.take().expect("stderr"));
    if let Err(said) = wait_for_line(&lines, "Capturing on") {
        let _ = tshark.kill();
        let _ = tshark.wait();
        if !usable(Some(format!("tshark cannot capture on lo here (root, or the wireshark group?): {said}"))) {
            return;
        }
    }
    let sent = ok(&[
        "send",
        "--to",
        &format!("127.0.0.1:{port}"),
        "-i",
        s(&sample()),
        "-q",
        "--frames-per-packet",
        "2",
        "--payload-type",
        "101",
    ]);
    // The last datagrams are in the capture once the kernel handed them to the sink.
    std::thread::sleep(Duration::from_millis(500));
    interrupt(tshark);
    let send_err = String::from_utf8_lossy(&sent.stderr).into_owned();
    let decoded = Command::new("tshark")
        .args(["-r", s(&capture), "-d", &format!("udp.port=={port},rtp"), "-T", "fields", "-E", "separator=,"])
        .args(["-e", "rtp.version", "-e", "rtp.p_type", "-e", "rtp.seq", "-e", "rtp.timestamp", "-e", "rtp.ssrc"])
        .args(["-e", "rtp.marker", "-e", "udp.length"])
        .output()
        .expect("run tshark -r");
    let text = String::from_utf8_lossy(&decoded.stdout).into_owned();
    assert!(decoded.status.success(), "{}", String::from_utf8_lossy(&decoded.stderr));
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    println!("{send_err}\n{} packets decoded; first {:?}, last {:?}", rows.len(), rows.first(), rows.last());
    // Every packet of frames, and the three copies of the goodbye.
    let packets = count(&send_err, "packets sent");
    assert!(packets >= 120, "{send_err}");
    assert_eq!(rows.len() as u64, packets + 3, "{text}");
    let field = |row: &Vec<&str>, i: usize| row.get(i).copied().unwrap_or_default().to_string();
    let number = |row: &Vec<&str>, i: usize| -> u64 {
        let f = field(row, i);
        let parsed = match f.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => f.parse(),
        };
        parsed.unwrap_or_else(|_| panic!("field {i} of {row:?} is not a number"))
    };
    let ssrc = number(&rows[0], 4);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!((number(row, 0), number(row, 1), number(row, 4)), (2, 101, ssrc), "{row:?}");
        let marker = matches!(field(row, 5).as_str(), "1" | "True" | "true");
        assert_eq!(marker, i == 0, "the marker is on the first packet only: {row:?}");
    }
    for pair in rows.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert_eq!(number(b, 2), (number(a, 2) + 1) % 65536, "sequence numbers without a gap: {a:?} {b:?}");
        let step = (number(b, 3) + (1 << 32) - number(a, 3)) % (1 << 32);
        // Two frames of 320 samples a packet (the last may hold one);
        // the goodbye's copies share the stream's end.
        let goodbye = number(b, 6) == 8 + 12 + 12;
        assert!(step == 640 || (goodbye && [0, 320, 640].contains(&step)), "timestamp step {step}: {a:?} {b:?}");
    }
}

/// The payloads of an RFC 4571 stream of RTP packets (a 16-bit length
/// before each), in the order GStreamer wrote them.
fn payloads(stream: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = stream;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let packet = &rest[2..2 + len];
        rest = &rest[2 + len..];
        assert_eq!(packet[0] >> 6, 2, "RTP version");
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let mut at = 12 + 4 * usize::from(packet[0] & 0x0f);
        if packet[0] & 0x10 != 0 {
            at += 4 + 4 * usize::from(u16::from_be_bytes([packet[at + 2], packet[at + 3]]));
        }
        out.push((seq, packet[at..].to_vec()));
    }
    assert!(rest.is_empty(), "a torn packet at the end");
    out
}

#[test]
fn gstreamer_decrypts_an_srtp_call_that_codec_then_decodes_to_the_offline_audio() {
    let problem = missing("gst-launch-1.0", &["--version"])
        .or_else(|| {
            missing("gst-inspect-1.0", &["srtpdec"])
                .map(|_| "GStreamer's srtpdec (gstreamer1.0-plugins-bad) is missing".into())
        })
        .or_else(|| {
            missing("gst-inspect-1.0", &["rtpstreampay"])
                .map(|_| "GStreamer's rtpstreampay (gstreamer1.0-plugins-good) is missing".into())
        });
    if !usable(problem) {
        return;
    }
    let _turn = realtime();
    let dir = tempfile::tempdir().expect("tmp");
    let key: [u8; 30] = std::array::from_fn(|i| (i as u8).wrapping_mul(31).wrapping_add(7));
    let key_path = dir.path().join("call.key");
    std::fs::write(&key_path, codec_stream::SrtpKey::from_bytes(key).to_base64()).expect("key");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let port = UdpSocket::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let ssrc = 0x2c0d_ec22u32;
    let delivered = dir.path().join("delivered.rtps");
    // What `codec sdp --ssrc ... --srtp-key ...` says, in GStreamer's caps.
    let rtp_caps = "application/x-rtp, media=(string)audio, clock-rate=(int)16000, \
                    encoding-name=(string)SPEECHCODEC, payload=(int)96";
    let srtp_caps = format!(
        "application/x-srtp, media=(string)audio, clock-rate=(int)16000, encoding-name=(string)SPEECHCODEC, \
         payload=(int)96, ssrc=(uint){ssrc}, srtp-key=(buffer){hex}, srtp-cipher=(string)aes-128-icm, \
         srtp-auth=(string)hmac-sha1-80, srtcp-cipher=(string)aes-128-icm, srtcp-auth=(string)hmac-sha1-80"
    );
    let mut gst = Command::new("gst-launch-1.0")
        .args(["-e", "udpsrc", &format!("port={port}"), "address=127.0.0.1", &format!("caps={srtp_caps}")])
        .args(["!", "srtpdec", "!", rtp_caps, "!", "rtpjitterbuffer", "!", "rtpstreampay"])
        .args(["!", "filesink", &format!("location={}", s(&delivered))])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gst-launch-1.0");
    let lines = lines_of(gst.stdout.take().expect("stdout"));
    if let Err(said) = wait_for_line(&lines, "PLAYING") {
        let _ = gst.kill();
        panic!("GStreamer did not start: {said}");
    }
    let sent = ok(&[
        "send",
        "--to",
        &format!("127.0.0.1:{port}"),
        "-i",
        s(&sample()),
        "-q",
        "--srtp-key",
        s(&key_path),
        "--ssrc",
        &ssrc.to_string(),
    ]);
    std::thread::sleep(Duration::from_millis(500));
    interrupt(gst);
    let send_err = String::from_utf8_lossy(&sent.stderr).into_owned();
    let packets = payloads(&std::fs::read(&delivered).expect("GStreamer's output"));
    println!("{send_err}\nGStreamer delivered {} packets", packets.len());
    let sent_packets = count(&send_err, "packets sent");
    // Every packet of frames, in order, and the goodbye (whose copies the
    // jitter buffer may drop as duplicates of its timestamp, or keep).
    let frames: Vec<&(u16, Vec<u8>)> = packets.iter().filter(|(_, p)| !p.is_empty()).collect();
    assert_eq!(frames.len() as u64, sent_packets, "{send_err}");
    assert!(frames.windows(2).all(|w| w[1].0 == w[0].0.wrapping_add(1)), "out of order or a gap");
    assert!(packets.len() as u64 > sent_packets, "no goodbye");
    let package = ModelPackage::open("default").expect("model");
    let options = RuntimeOptions::default();
    let input = codec_core::audio::read_audio(&sample()).expect("sample").samples;
    let offline_tokens =
        codec_core::offline::encode_pcm(&package, options, package.default_stages(), &input, |_| {}).expect("encode");
    let offline = codec_core::offline::decode_tokens(&package, options, &offline_tokens, |_| {}).expect("decode");
    let mut codes = Vec::new();
    for (_, payload) in &frames {
        let mut frame = Vec::new();
        unpack_codes(payload, 10, 4, &mut frame).expect("one frame of four 10-bit codes");
        codes.extend(frame);
    }
    let same = codes.iter().zip(&offline_tokens.codes).filter(|(a, b)| a == b).count();
    println!("codes equal to the offline encode's: {same} of {}", offline_tokens.codes.len());
    let mut header = offline_tokens.header.clone();
    header.frames = u32::try_from(codes.len() / 4).expect("frames");
    header.original_len = u64::from(header.frames) * u64::from(header.hop);
    let tokens = TokenFile { header, codes };
    let tok = dir.path().join("delivered.tok");
    std::fs::write(&tok, tokens.to_bytes().expect("token file")).expect("write tokens");
    let wav = dir.path().join("delivered.wav");
    ok(&["decode", s(&tok), s(&wav)]);
    let audio = read_wav(&wav);
    let (delay_ms, corr) = codec_stream::delay::envelope_delay(&offline, &audio, 16_000, 500.0);
    let track = codec_stream::delay::envelope_track(&offline, &audio, 16_000, 1000.0, delay_ms, 300.0);
    println!("delay {delay_ms} ms, correlation {corr:.3}; second by second: {track:?}");
    assert!(delay_ms.abs() < 30.0, "{delay_ms} ms");
    assert!(track.len() >= 4 && track.iter().all(|m| m.corr > 0.95), "{track:?}");
}

fn read_wav(path: &Path) -> Vec<f32> {
    let mut r = hound::WavReader::open(path).expect("wav");
    r.samples::<i16>().map(|x| f32::from(x.expect("sample")) / 32768.0).collect()
}

#[test]
fn codec_sdp_describes_the_call() {
    let out = codec(&["sdp", "--port", "5004", "--stages", "6", "--frames-per-packet", "2", "--ssrc", "42"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let package = ModelPackage::open("default").expect("model");
    let id: String = package.id().iter().map(|b| format!("{b:02x}")).collect();
    for line in [
        "m=audio 5004 RTP/AVP 96".to_string(),
        "a=rtpmap:96 speechcodec/16000".into(),
        format!("a=fmtp:96 model={}; model-id={id}; stages=6; codebooks=6; bits=10", package.name()),
        "a=ptime:40".into(),
        "a=extmap:1 urn:x-speechcodec:model-tag".into(),
        "a=ssrc:42 cname:codec".into(),
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    assert!(!text.contains("a=crypto"), "{text}");
}
