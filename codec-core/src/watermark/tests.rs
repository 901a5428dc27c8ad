use super::prf::{Tables, PHASES};
use super::*;
use crate::quantizer::Steer;

const SIZE: usize = 64;
const STAGES: usize = 3;
/// 50 frames a second, as the default model's hop of 320 at 16 kHz.
const HOP: usize = 320;
const RATE: u32 = 16_000;

fn key(seed: u8) -> WatermarkKey {
    WatermarkKey::from_bytes(&[seed; 32]).expect("key")
}

/// A pseudo-random code stream (a linear congruential generator: enough to
/// look like speech's codes to a keyed hash).
fn codes(frames: usize, seed: u64) -> Vec<u16> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..frames * STAGES)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 33) % SIZE as u64) as u16
        })
        .collect()
}

/// Embeds in `plain` as an encoder whose every codeword is equally near
/// would: the embedder may take any code.
fn embed(watermark: &Watermark, plain: &[u16]) -> Vec<u16> {
    let mut e = Embedder::new(watermark, STAGES, SIZE).expect("embedder");
    let mut out = plain.to_vec();
    for frame in out.chunks_exact_mut(STAGES) {
        for (stage, code) in frame.iter_mut().enumerate() {
            let mut errors = vec![1.0f32; SIZE];
            errors[usize::from(*code)] = 0.9;
            *code = e.choose(stage, &errors, *code);
        }
    }
    out
}

fn detect(key: &WatermarkKey, codes: &[u16]) -> Report {
    let mut d = Detector::new(key, STAGES, SIZE, HOP, RATE, "test").expect("detector");
    for frame in codes.chunks_exact(STAGES) {
        d.push_frame(frame);
    }
    d.report(DEFAULT_THRESHOLD)
}

#[test]
fn keys_are_checked_and_never_shown() {
    assert!(matches!(WatermarkKey::from_bytes(&[1; 15]), Err(WatermarkError::KeyLength(15))));
    assert!(matches!(WatermarkKey::from_bytes(&[1; 65]), Err(WatermarkError::KeyLength(65))));
    assert!(WatermarkKey::from_bytes(&[1; 16]).is_ok() && WatermarkKey::from_bytes(&[1; 64]).is_ok());
    let k = WatermarkKey::from_base64(" AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n").expect("32 bytes");
    assert_eq!(format!("{k:?}"), "WatermarkKey(..)");
    let err = WatermarkKey::from_base64("c2VjcmV0").expect_err("6 bytes");
    assert!(err.to_string().contains("6 bytes") && !err.to_string().contains("c2VjcmV0"), "{err}");
    let err = WatermarkKey::from_base64("not base64 at all!").expect_err("garbage");
    assert!(matches!(err, WatermarkError::NotBase64) && !err.to_string().contains("at all"), "{err}");
}

#[test]
fn messages_parse_and_their_payload_reads_back() {
    assert!(Message::parse("").is_err() && Message::parse("102").is_err());
    assert!(Message::parse(&"1".repeat(33)).is_err());
    for text in ["0", "1", "1011001110001111", &"0".repeat(32), &"1".repeat(32)] {
        let m = Message::parse(text).expect("message");
        assert_eq!(m.to_string(), text);
        assert_eq!(Message::from_payload(&Message::payload(Some(&m))), Some(m));
    }
    assert_eq!(Message::from_payload(&Message::payload(None)), None);
}

#[test]
fn the_embedder_keeps_to_the_tolerance() {
    let w = Watermark::new(key(1), None).with_tolerance(0.5).expect("tolerance");
    let tables = Tables::new(&w.key, STAGES, SIZE).expect("tables");
    let mut e = Embedder::new(&w, STAGES, SIZE).expect("embedder");
    let mut steered = 0;
    for frame in 0..4 * PHASES {
        let phase = frame % PHASES;
        // Code 0 is nearest; codes 1-3 are within 50 % of its error; the rest are far.
        let mut errors = vec![10.0f32; SIZE];
        errors[..4].copy_from_slice(&[1.0, 1.2, 1.4, 1.5]);
        let chosen = usize::from(e.choose(0, &errors, 0));
        assert!(chosen < 4, "{chosen} is outside the tolerance");
        let agrees = |c: usize| tables.get(0, phase, c).1 == Message::payload(None)[tables.get(0, phase, c).0];
        // The nearest agreeing code within the tolerance, else the nearest.
        let expected = (0..4).find(|&c| agrees(c)).unwrap_or(0);
        assert_eq!(chosen, expected, "frame {frame}");
        steered += usize::from(chosen != 0);
    }
    assert!(steered > 0, "never steered: the test shows nothing");
    assert!(Watermark::new(key(1), None).with_tolerance(-0.1).is_err());
    assert!(Watermark::new(key(1), None).with_tolerance(MAX_TOLERANCE + 1.0).is_err());
}

#[test]
fn marked_codes_are_found_with_their_message_and_plain_ones_are_not() {
    let plain = codes(250, 7);
    let message = Message::parse("1011001110001111").expect("message");
    let marked = embed(&Watermark::new(key(1), Some(message.clone())), &plain);
    let r = detect(&key(1), &marked);
    assert!(r.found && r.false_alarm < 1e-20, "{r:?}");
    assert_eq!(r.message.as_ref(), Some(&message));
    assert_eq!(r.seconds, vec![(0, 5)]);
    let r = detect(&key(1), &plain);
    assert!(!r.found && r.false_alarm > 1e-3, "{r:?}");
    // Another key sees coin tosses.
    let r = detect(&key(2), &marked);
    assert!(!r.found && r.false_alarm > 1e-3, "{r:?}");
    // No message: found, and none read.
    let r = detect(&key(1), &embed(&Watermark::new(key(1), None), &plain));
    assert!(r.found && r.message.is_none(), "{r:?}");
}

#[test]
fn a_cut_marked_stretch_is_found_at_any_phase() {
    let marked = embed(&Watermark::new(key(3), None), &codes(500, 11));
    for start_frame in [0, 1, 5, 123] {
        let cut = &marked[start_frame * STAGES..(start_frame + 150) * STAGES];
        let r = detect(&key(3), cut);
        assert!(r.found, "cut at frame {start_frame}: {r:?}");
    }
}

#[test]
fn a_marked_stretch_of_a_long_stream_is_found_and_placed() {
    // 60 s plain, 20 s marked, 60 s plain: the marked seconds are the ones shown.
    let (a, b, c) = (codes(3000, 1), codes(1000, 2), codes(3000, 3));
    let marked = embed(&Watermark::new(key(4), None), &b);
    let all: Vec<u16> = a.iter().chain(&marked).chain(&c).copied().collect();
    let r = detect(&key(4), &all);
    assert!(r.found, "{r:?}");
    let inside: u32 = r.seconds.iter().map(|&(s, e)| e.min(80).saturating_sub(s.max(60))).sum();
    let shown: u32 = r.seconds.iter().map(|(s, e)| e - s).sum();
    // A plain second passes the per-second tail of 1e-2 by chance now and then.
    assert!(inside >= 15 && shown - inside <= 4, "{:?}", r.seconds);
}

#[test]
fn false_alarms_of_plain_streams_stay_rare() {
    // 200 plain 5 s streams: a threshold of 1e-2 is crossed by at most a few
    // (the probability is an upper bound, so usually by none).
    let alarms = (0..200).filter(|&seed| detect(&key(5), &codes(250, 1000 + seed)).false_alarm <= 1e-2).count();
    assert!(alarms <= 6, "{alarms} of 200");
}

#[test]
fn repeated_codes_count_once() {
    // Silence: one code over and over is one observation a phase, not 250.
    let silence = vec![5u16; 250 * STAGES];
    let r = detect(&key(6), &silence);
    assert!(r.observations <= (STAGES * PHASES) as u64, "{r:?}");
    assert!(!r.found);
}
