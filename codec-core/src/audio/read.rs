//! Decoding any format symphonia supports to mono f32 at the file's rate,
//! whole or a packet at a time.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, ErrorKind, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use symphonia::core::audio::{AudioBuffer, AudioBufferRef, Signal};
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::conv::IntoSample;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader, Track};
use symphonia::core::io::{MediaSource, ReadOnlySource};
use symphonia::core::sample::Sample;

use super::ogg::StreamEnds;
use super::{check_rate, Audio, AudioError};

/// Decoded samples beyond this are refused: 4 hours at 192 kHz. A corrupt or
/// hostile header must not make us fill memory.
pub const MAX_DECODED_SAMPLES: u64 = 4 * 3600 * 192_000;

/// [`read_audio_from`] buffers its input whole in memory, up to this size.
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
    read_all(AudioReader::open(path)?)
}

/// Reads audio from a stream that may not seek: the bytes are read into
/// memory (at most [`MAX_INPUT_BYTES`]) and decoded from there, so every
/// format decodes as from a file. `extension` is ignored: the first bytes
/// decide the format. [`AudioReader::from_stream`] decodes as the bytes come.
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
    read_all(AudioReader::new(Box::new(Cursor::new(bytes)), extension, stdin)?)
}

fn read_all(mut reader: AudioReader) -> Result<Audio, AudioError> {
    let mut samples = Vec::with_capacity(reader.declared.min(MAX_PREALLOC) as usize);
    while reader.read_packet(&mut samples)? {}
    Ok(Audio { samples, sample_rate: reader.sample_rate(), skipped_packets: reader.skipped_packets() })
}

/// All of `reader`, or `None` if it holds more than `limit` bytes.
pub(super) fn read_capped<R: Read>(reader: R, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// Audio decoded a packet at a time, mono at the file's rate: memory does not
/// grow with the length of the file.
///
/// The sample rate is known (and checked against
/// [`super::MIN_SAMPLE_RATE`]`..=`[`super::MAX_SAMPLE_RATE`]) once the reader
/// is open. Symphonia's decoders are not hardened against every malformed
/// input (a WAV header with a zero sample rate makes one panic); a panic in
/// one becomes [`AudioError::DecoderPanic`].
pub struct AudioReader {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    rate: u32,
    /// The frame count the header declares, or 0.
    declared: u64,
    /// Samples decoded before the rate was known (a header without one).
    first: Vec<f32>,
    decoded: u64,
    skipped: usize,
    done: bool,
    /// Where each Ogg stream ends, once read: the padding after it is cut.
    ends: StreamEnds,
    /// The timestamp of the first sample.
    start_ts: u64,
}

impl AudioReader {
    /// Opens an audio file.
    ///
    /// # Errors
    /// [`AudioError::NotFound`], [`AudioError::Io`] (a directory, say),
    /// [`AudioError::EmptyInput`], and the errors of [`AudioReader::from_stream`].
    pub fn open(path: &Path) -> Result<Self, AudioError> {
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
        Self::new(Box::new(file), None, path)
    }

    /// Decodes a stream that cannot seek (stdin) as its bytes arrive.
    /// `extension` is ignored: the first bytes decide the format (see `guard`).
    ///
    /// # Errors
    /// [`AudioError::Io`], [`AudioError::EmptyInput`], [`AudioError::Unsupported`],
    /// [`AudioError::NoTrack`], [`AudioError::UnsupportedCodec`],
    /// [`AudioError::BadSampleRate`], and for a file whose first packets do not
    /// say its rate, the errors of [`AudioReader::read_packet`].
    pub fn from_stream(reader: Box<dyn Read + Send + Sync>, extension: Option<&str>) -> Result<Self, AudioError> {
        let stdin = Path::new("-");
        let mut reader = BufReader::new(reader);
        let empty = reader.fill_buf().map_err(|source| AudioError::Io { path: stdin.to_owned(), source })?.is_empty();
        if empty {
            return Err(AudioError::EmptyInput);
        }
        Self::new(Box::new(ReadOnlySource::new(reader)), extension, stdin)
    }

    fn new(source: Box<dyn MediaSource>, _extension: Option<&str>, origin: &Path) -> Result<Self, AudioError> {
        quiet_panics::install();
        let _quiet = quiet_panics::Guard::new();
        let mut reader = catch_unwind(AssertUnwindSafe(|| Self::probe(source, origin)))
            .unwrap_or(Err(AudioError::DecoderPanic { decoded: 0 }))?;
        if reader.rate == 0 {
            // The header did not say: the first decoded packet does.
            let mut first = Vec::new();
            while reader.rate == 0 && reader.read_packet(&mut first)? {}
            reader.first = first;
        }
        check_rate(reader.rate)?;
        Ok(reader)
    }

    fn probe(source: Box<dyn MediaSource>, origin: &Path) -> Result<Self, AudioError> {
        // Gapless trims encoder delay and padding (MP3, Vorbis), keeping the decoded
        // audio aligned with the original.
        let format_opts = FormatOptions { enable_gapless: true, ..Default::default() };
        // The content alone decides the format, from its first bytes (see `guard`).
        let (format, ends) = super::guard::open(source, &format_opts, origin)?;
        let track = audio_track(format.as_ref()).ok_or(AudioError::NoTrack)?;
        let (track_id, params) = (track.id, track.codec_params.clone());
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|source| AudioError::UnsupportedCodec { codec: codec_name(&params), source })?;
        Ok(Self {
            format,
            decoder,
            track_id,
            rate: params.sample_rate.unwrap_or(0),
            declared: params.n_frames.unwrap_or(0),
            first: Vec::new(),
            decoded: 0,
            skipped: 0,
            done: false,
            ends,
            start_ts: params.start_ts,
        })
    }

    /// The file's sample rate, in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// The number of samples the header declares, if it does (a hint: the
    /// file may hold fewer).
    pub fn declared_samples(&self) -> Option<u64> {
        (self.declared > 0).then_some(self.declared)
    }

    /// Corrupt packets left out so far.
    pub fn skipped_packets(&self) -> usize {
        self.skipped
    }

    /// Appends the samples of the next packet to `out`; `false` at the end.
    ///
    /// # Errors
    /// [`AudioError::Empty`], [`AudioError::Truncated`] or
    /// [`AudioError::Undecodable`] at the end of a file without samples;
    /// [`AudioError::Decode`], [`AudioError::LimitExceeded`],
    /// [`AudioError::RateChanged`], [`AudioError::DecoderPanic`].
    pub fn read_packet(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        if !self.first.is_empty() {
            out.append(&mut self.first);
            return Ok(true);
        }
        if self.done {
            return Ok(false);
        }
        quiet_panics::install();
        let _quiet = quiet_panics::Guard::new();
        let decoded = self.decoded;
        let result = catch_unwind(AssertUnwindSafe(|| self.next_packet(out)))
            .unwrap_or(Err(AudioError::DecoderPanic { decoded }));
        if !matches!(result, Ok(true)) {
            self.done = true;
        }
        result
    }

    fn next_packet(&mut self, out: &mut Vec<f32>) -> Result<bool, AudioError> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(packet) => packet,
                Err(SymphoniaError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => return self.end(),
                // A chained stream begins; its parameters may differ, so the first one is the audio.
                Err(SymphoniaError::ResetRequired) => return self.end(),
                Err(source) => {
                    let refused = match &source {
                        SymphoniaError::IoError(e) => super::ogg::refusal(e),
                        _ => None,
                    };
                    return Err(refused.unwrap_or(AudioError::Decode { decoded: self.decoded, source }));
                }
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            match self.decoder.decode(&packet) {
                Ok(buffer) => {
                    let packet_rate = buffer.spec().rate;
                    if self.rate == 0 {
                        self.rate = packet_rate;
                    } else if self.rate != packet_rate {
                        return Err(AudioError::RateChanged { from: self.rate, to: packet_rate });
                    }
                    let before = out.len();
                    if !mix_down(&buffer, out) {
                        self.skipped += 1;
                        continue;
                    }
                    if let Some(end) = self.ends.get(self.track_id) {
                        // Without seeking to the end first, symphonia dates the last
                        // page's packets back from its granule position, so it cannot
                        // tell their padding; that position says how many samples the
                        // stream holds.
                        let left = end.saturating_sub(self.start_ts).saturating_sub(self.decoded);
                        out.truncate(before + (out.len() - before).min(usize::try_from(left).unwrap_or(usize::MAX)));
                    }
                    self.decoded += (out.len() - before) as u64;
                    if self.decoded > MAX_DECODED_SAMPLES {
                        return Err(AudioError::LimitExceeded { limit: MAX_DECODED_SAMPLES });
                    }
                    return Ok(true);
                }
                // A corrupt packet: leave it out and keep going.
                Err(SymphoniaError::DecodeError(_)) => self.skipped += 1,
                Err(SymphoniaError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => self.skipped += 1,
                Err(source) => return Err(AudioError::Decode { decoded: self.decoded, source }),
            }
        }
    }

    fn end(&mut self) -> Result<bool, AudioError> {
        if self.decoded > 0 {
            return Ok(false);
        }
        Err(if self.skipped > 0 {
            AudioError::Undecodable { skipped: self.skipped }
        } else if self.declared > 0 {
            AudioError::Truncated { declared_frames: self.declared }
        } else {
            AudioError::Empty
        })
    }
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
