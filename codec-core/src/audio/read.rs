//! Decoding any format symphonia supports to mono f32 at the file's rate.

use std::fs::File;
use std::io::{Cursor, ErrorKind, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use symphonia::core::audio::{AudioBuffer, AudioBufferRef, Signal};
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::conv::IntoSample;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader, Track};
use symphonia::core::io::MediaSource;
use symphonia::core::sample::Sample;

use super::{Audio, AudioError, MAX_SAMPLE_RATE};

/// Decoded samples beyond this are refused: 4 hours at 192 kHz. A corrupt or
/// hostile header must not make us fill memory.
pub const MAX_DECODED_SAMPLES: u64 = 4 * 3600 * 192_000;

/// Non-seekable input (stdin) is buffered whole in memory, up to this size.
pub const MAX_INPUT_BYTES: u64 = 4 << 30;

/// Preallocation trusts a header's frame count only this far.
const MAX_PREALLOC: u64 = 1 << 24;

/// Reads and decodes an audio file, mixing all channels down to mono.
///
/// The format is found from the first bytes (the extension is ignored), so a
/// misnamed file still decodes. Corrupt packets of an otherwise good stream are
/// skipped and counted in [`Audio::skipped_packets`].
///
/// # Errors
/// [`AudioError::NotFound`] for a missing file, [`AudioError::EmptyInput`] for
/// a 0-byte one, [`AudioError::Unsupported`] for anything that is not audio in
/// a supported format, and the decoding errors of [`read_audio_from`].
pub fn read_audio(path: &Path) -> Result<Audio, AudioError> {
    let io_error = |source: std::io::Error| match source.kind() {
        ErrorKind::NotFound => AudioError::NotFound { path: path.to_owned() },
        _ => AudioError::Io { path: path.to_owned(), source },
    };
    let file = File::open(path).map_err(io_error)?;
    let meta = file.metadata().map_err(io_error)?;
    if meta.is_dir() {
        let source = std::io::Error::new(ErrorKind::InvalidInput, "is a directory");
        return Err(AudioError::Io { path: path.to_owned(), source });
    }
    // Pipes and devices report 0 bytes; only a regular file's size is its content's.
    if meta.is_file() && meta.len() == 0 {
        return Err(AudioError::EmptyInput);
    }
    let hint = path.extension().and_then(|e| e.to_str());
    decode(Box::new(file), hint, path)
}

/// Reads audio from a stream that may not seek, such as stdin: the bytes are
/// read into memory (at most [`MAX_INPUT_BYTES`]) and decoded from there.
/// `extension` is ignored: the first bytes decide the format (see `guard`).
///
/// # Errors
/// [`AudioError::Io`] if reading fails, [`AudioError::InputTooLarge`],
/// [`AudioError::EmptyInput`], [`AudioError::Unsupported`],
/// [`AudioError::NoTrack`], [`AudioError::UnsupportedCodec`],
/// [`AudioError::Empty`] (no samples), [`AudioError::Truncated`] (a header
/// without its audio), [`AudioError::Undecodable`] (no packet decodes),
/// [`AudioError::Decode`] (an unrecoverable error mid-stream),
/// [`AudioError::LimitExceeded`], [`AudioError::RateChanged`] and
/// [`AudioError::BadSampleRate`].
pub fn read_audio_from<R: Read>(reader: R, extension: Option<&str>) -> Result<Audio, AudioError> {
    let stdin = Path::new("-");
    let bytes = read_capped(reader, MAX_INPUT_BYTES)
        .map_err(|source| AudioError::Io { path: stdin.to_owned(), source })?
        .ok_or(AudioError::InputTooLarge { limit: MAX_INPUT_BYTES })?;
    if bytes.is_empty() {
        return Err(AudioError::EmptyInput);
    }
    decode(Box::new(Cursor::new(bytes)), extension, stdin)
}

/// All of `reader`, or `None` if it holds more than `limit` bytes.
pub(super) fn read_capped<R: Read>(reader: R, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

fn decode(source: Box<dyn MediaSource>, extension: Option<&str>, origin: &Path) -> Result<Audio, AudioError> {
    let mut decoded = 0u64;
    // Symphonia is pure Rust but not hardened against every malformed input
    // (a WAV header with a zero sample rate makes it panic); a panic in it must
    // become an error, not take the caller down or print a backtrace.
    quiet_panics::install();
    let _quiet = quiet_panics::Guard::new();
    catch_unwind(AssertUnwindSafe(|| decode_unguarded(source, extension, origin, &mut decoded)))
        .unwrap_or(Err(AudioError::DecoderPanic { decoded }))
}

/// Silences the panic hook on this thread while a guard lives; other threads,
/// and this one afterwards, keep the hook they had.
mod quiet_panics {
    use std::cell::Cell;
    use std::sync::Once;

    thread_local! {
        static QUIET: Cell<bool> = const { Cell::new(false) };
    }
    static INSTALL: Once = Once::new();

    pub(super) fn install() {
        INSTALL.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if !QUIET.with(Cell::get) {
                    previous(info);
                }
            }));
        });
    }

    pub(super) struct Guard(bool);

    impl Guard {
        pub(super) fn new() -> Self {
            Guard(QUIET.with(|q| q.replace(true)))
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            let was = self.0;
            QUIET.with(|q| q.set(was));
        }
    }
}

fn decode_unguarded(
    source: Box<dyn MediaSource>,
    // The content alone decides the format (symphonia's probe ignored the hint too).
    _extension: Option<&str>,
    origin: &Path,
    decoded: &mut u64,
) -> Result<Audio, AudioError> {
    // Gapless trims encoder delay and padding (MP3, Vorbis), keeping the decoded
    // audio aligned with the original.
    let format_opts = FormatOptions { enable_gapless: true, ..Default::default() };
    let mut format = super::guard::open(source, &format_opts, origin)?;
    let track = audio_track(format.as_ref()).ok_or(AudioError::NoTrack)?;
    let (track_id, params) = (track.id, track.codec_params.clone());
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|source| AudioError::UnsupportedCodec { codec: codec_name(&params), source })?;

    let mut rate = params.sample_rate.filter(|r| *r > 0);
    let declared = params.n_frames.unwrap_or(0);
    let mut samples = Vec::with_capacity(declared.min(MAX_PREALLOC) as usize);
    let mut skipped = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(SymphoniaError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => break,
            // A chained stream begins; its parameters may differ, so the first one is the audio.
            Err(SymphoniaError::ResetRequired) => break,
            Err(source) => return Err(AudioError::Decode { decoded: *decoded, source }),
        };
        if packet.track_id() != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buffer) => {
                let packet_rate = buffer.spec().rate;
                match rate {
                    None => rate = Some(packet_rate),
                    Some(r) if r != packet_rate => {
                        return Err(AudioError::RateChanged { from: r, to: packet_rate });
                    }
                    Some(_) => {}
                }
                if !mix_down(&buffer, &mut samples) {
                    skipped += 1;
                }
            }
            // A corrupt packet: leave it out and keep going.
            Err(SymphoniaError::DecodeError(_)) => skipped += 1,
            Err(SymphoniaError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => skipped += 1,
            Err(source) => return Err(AudioError::Decode { decoded: *decoded, source }),
        }
        *decoded = samples.len() as u64;
        if *decoded > MAX_DECODED_SAMPLES {
            return Err(AudioError::LimitExceeded { limit: MAX_DECODED_SAMPLES });
        }
    }
    if samples.is_empty() {
        return Err(if skipped > 0 {
            AudioError::Undecodable { skipped }
        } else if declared > 0 {
            AudioError::Truncated { declared_frames: declared }
        } else {
            AudioError::Empty
        });
    }
    let sample_rate = rate.unwrap_or(0);
    if sample_rate == 0 || sample_rate > MAX_SAMPLE_RATE {
        return Err(AudioError::BadSampleRate { rate: sample_rate, max: MAX_SAMPLE_RATE });
    }
    Ok(Audio { samples, sample_rate, skipped_packets: skipped })
}

/// The default track if it is audio, else the first that is.
fn audio_track(format: &dyn FormatReader) -> Option<&Track> {
    let is_audio = |t: &&Track| t.codec_params.codec != CODEC_TYPE_NULL;
    format.default_track().filter(is_audio).or_else(|| format.tracks().iter().find(is_audio))
}

fn codec_name(params: &symphonia::core::codecs::CodecParameters) -> String {
    symphonia::default::get_codecs()
        .get_codec(params.codec)
        .map_or_else(|| params.codec.to_string(), |d| d.short_name.to_owned())
}

/// Appends the buffer's frames as the mean of its channels. Returns false
/// (appending nothing) for a buffer without channels.
fn mix_down(buffer: &AudioBufferRef<'_>, out: &mut Vec<f32>) -> bool {
    match buffer {
        AudioBufferRef::U8(b) => mix_planes(b, out),
        AudioBufferRef::U16(b) => mix_planes(b, out),
        AudioBufferRef::U24(b) => mix_planes(b, out),
        AudioBufferRef::U32(b) => mix_planes(b, out),
        AudioBufferRef::S8(b) => mix_planes(b, out),
        AudioBufferRef::S16(b) => mix_planes(b, out),
        AudioBufferRef::S24(b) => mix_planes(b, out),
        AudioBufferRef::S32(b) => mix_planes(b, out),
        AudioBufferRef::F32(b) => mix_planes(b, out),
        AudioBufferRef::F64(b) => mix_planes(b, out),
    }
}

fn mix_planes<S: Sample + IntoSample<f32>>(buffer: &AudioBuffer<S>, out: &mut Vec<f32>) -> bool {
    let channels = buffer.spec().channels.count();
    if channels == 0 {
        return false;
    }
    let start = out.len();
    out.resize(start + buffer.frames(), 0.0);
    let mixed = &mut out[start..];
    for c in 0..channels {
        for (m, s) in mixed.iter_mut().zip(buffer.chan(c)) {
            *m += (*s).into_sample();
        }
    }
    let scale = 1.0 / channels as f32;
    for m in mixed {
        // Float files can hold NaN or out-of-range values; the network only saw [-1, 1].
        let v = *m * scale;
        *m = if v.is_finite() { v.clamp(-1.0, 1.0) } else { 0.0 };
    }
    true
}
