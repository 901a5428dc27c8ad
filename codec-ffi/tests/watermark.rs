//! The token watermark through the C ABI (issue 34): an encoder that embeds
//! it makes codec-core's codes, and `codec_detect_watermark` finds it with
//! its message in the decoded audio, not in the plain sample; bad keys and
//! arguments are errors with a message, never the key.

use std::ffi::{CStr, CString};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::ptr::{null, null_mut};

use codec_core::watermark::{Message, Watermark, WatermarkKey};
use codec_core::{offline, Encoder, ModelPackage, RuntimeOptions};
use codec_ffi::*;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const MESSAGE: &str = "1011001110001111";

fn last_error() -> String {
    // SAFETY: the library returns a NUL-terminated string that lives until the next failure.
    unsafe { CStr::from_ptr(codec_last_error_message()) }.to_string_lossy().into_owned()
}

fn key_file(dir: &Path, name: &str, text: &str, mode: u32) -> CString {
    let path = dir.join(name);
    std::fs::write(&path, format!("{text}\n")).expect("write key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    CString::new(path.to_str().expect("utf-8")).expect("no NUL")
}

fn sample() -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/sample.wav");
    codec_core::audio::read_audio(&path).expect("sample").samples
}

#[test]
fn an_encoder_embeds_and_detection_finds_the_message() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = key_file(dir.path(), "wm.key", KEY, 0o600);
    let pcm = sample();
    let mut model = null_mut();
    // SAFETY: a NUL-terminated name and a writable out-pointer.
    assert_eq!(unsafe { codec_model_open(c"default".as_ptr(), &mut model) }, CODEC_OK, "{}", last_error());
    let mut encoder = null_mut();
    // SAFETY: a live model, default options, a writable out-pointer.
    assert_eq!(unsafe { codec_encoder_new(model, null(), &mut encoder) }, CODEC_OK, "{}", last_error());
    let message = CString::new(MESSAGE).expect("no NUL");
    // SAFETY: a live encoder and NUL-terminated strings.
    let s = unsafe { codec_encoder_set_watermark(encoder, key.as_ptr(), message.as_ptr()) };
    assert_eq!(s, CODEC_OK, "{}", last_error());
    let mut codes = vec![0u16; 8 * (pcm.len() / 320 + 16)];
    let mut written = 0usize;
    // SAFETY: live encoder, pcm.len() readable floats, codes.len() writable codes.
    let s =
        unsafe { codec_encoder_push(encoder, pcm.as_ptr(), pcm.len(), codes.as_mut_ptr(), codes.len(), &mut written) };
    assert_eq!(s, CODEC_OK, "{}", last_error());
    let mut flushed = 0usize;
    let rest = &mut codes[written..];
    // SAFETY: as above.
    assert_eq!(unsafe { codec_encoder_flush(encoder, rest.as_mut_ptr(), rest.len(), &mut flushed) }, CODEC_OK);
    codes.truncate(written + flushed);

    // codec-core's encoder with the same watermark makes the same codes.
    let package = ModelPackage::open("default").expect("model");
    let watermark =
        Watermark::new(WatermarkKey::from_base64(KEY).expect("key"), Some(Message::parse(MESSAGE).expect("message")));
    let mut core = Encoder::new(&package, RuntimeOptions::default(), package.default_stages()).expect("encoder");
    core.set_watermark(Some(&watermark)).expect("watermark");
    let tokens = offline::encode_with(&package, &mut core, &pcm, |_| {}).expect("encode");
    assert_eq!(codes, tokens.codes);

    let decoded = offline::decode_tokens(&package, RuntimeOptions::default(), &tokens, |_| {}).expect("decode");
    let mut result = CodecWatermarkResult::default();
    // SAFETY: a live model, decoded.len() readable floats, a key path, a writable result.
    let s = unsafe {
        codec_detect_watermark(model, decoded.as_ptr(), decoded.len(), 16_000, key.as_ptr(), 1e-6, &mut result)
    };
    assert_eq!(s, CODEC_OK, "{}", last_error());
    assert!(result.found == 1 && result.false_alarm <= 1e-6, "{result:?}");
    assert_eq!(result.message_len, 16, "{result:?}");
    // The plain sample: not found, no message.
    let mut plain = CodecWatermarkResult::default();
    // SAFETY: as above.
    let s = unsafe { codec_detect_watermark(model, pcm.as_ptr(), pcm.len(), 16_000, key.as_ptr(), 1e-6, &mut plain) };
    assert_eq!(s, CODEC_OK, "{}", last_error());
    assert!(plain.found == 0 && plain.message_len == 0 && plain.false_alarm > 1e-3, "{plain:?}");

    // Bad keys and arguments: errors with a message that never holds the key.
    let open = key_file(dir.path(), "open.key", KEY, 0o644);
    let short = key_file(dir.path(), "short.key", "c2VjcmV0", 0o600);
    for (k, needle) in [(&open, "readable by others"), (&short, "6 bytes")] {
        // SAFETY: a live encoder and NUL-terminated strings.
        let s = unsafe { codec_encoder_set_watermark(encoder, k.as_ptr(), null()) };
        assert_eq!(s, CODEC_ERROR_INVALID_ARGUMENT);
        let m = last_error();
        assert!(m.contains(needle) && !m.contains(KEY) && !m.contains("c2VjcmV0"), "{m}");
    }
    let bad = CString::new("102").expect("no NUL");
    // SAFETY: as above.
    assert_eq!(
        unsafe { codec_encoder_set_watermark(encoder, key.as_ptr(), bad.as_ptr()) },
        CODEC_ERROR_INVALID_ARGUMENT
    );
    // SAFETY: NULL key path: an error, not a crash; a NULL result likewise.
    let s = unsafe { codec_detect_watermark(model, pcm.as_ptr(), pcm.len(), 16_000, null(), 1e-6, &mut plain) };
    assert_eq!(s, CODEC_ERROR_NULL_POINTER);
    // SAFETY: as above.
    let s = unsafe { codec_detect_watermark(model, pcm.as_ptr(), pcm.len(), 16_000, key.as_ptr(), 1e-6, null_mut()) };
    assert_eq!(s, CODEC_ERROR_NULL_POINTER);
    // SAFETY: as above.
    let s = unsafe { codec_detect_watermark(model, pcm.as_ptr(), pcm.len(), 16_000, key.as_ptr(), 2.0, &mut plain) };
    assert_eq!(s, CODEC_ERROR_INVALID_ARGUMENT);
    // NULL key path on the encoder stops embedding.
    // SAFETY: a live encoder.
    assert_eq!(unsafe { codec_encoder_set_watermark(encoder, null(), null()) }, CODEC_OK);
    // SAFETY: from their _new calls, freed once.
    unsafe {
        codec_encoder_free(encoder);
        codec_model_free(model);
    }
}
