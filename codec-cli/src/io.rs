//! Inputs and outputs by path or `-`, read and written as streams.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use anyhow::{bail, Context, Result};
use codec_core::audio::{AudioError, AudioReader};
use codec_core::bitstream::{TokenHeader, TokenReader};
use codec_core::{CodecError, OutputFile};

pub fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// An input path for messages.
pub fn name(path: &Path) -> String {
    if is_stdio(path) {
        "stdin".into()
    } else {
        path.display().to_string()
    }
}

/// An output path for messages.
pub fn out_name(path: &Path) -> String {
    if is_stdio(path) {
        "stdout".into()
    } else {
        path.display().to_string()
    }
}

/// Opens audio to decode a packet at a time, from a file or stdin for `-`.
pub fn open_audio(path: &Path) -> Result<AudioReader> {
    let reader = if is_stdio(path) {
        AudioReader::from_stream(Box::new(std::io::stdin()), None)
    } else {
        AudioReader::open(path)
    };
    reader.with_context(|| format!("cannot read audio from {}", name(path)))
}

/// Opens a token file to read as a stream, from a path or stdin for `-`.
///
/// A regular file is read through and its checksum checked first, so that
/// a damaged one is refused before anything is written; stdin cannot be
/// read twice, and a damaged stream is found out at its end.
pub fn open_tokens(path: &Path) -> Result<TokenReader<Box<dyn Read>>> {
    let what = || format!("cannot read tokens from {}", name(path));
    if is_stdio(path) {
        let stdin: Box<dyn Read> = Box::new(BufReader::new(std::io::stdin()));
        return TokenReader::new(stdin).with_context(what);
    }
    let mut file = File::open(path).with_context(what)?;
    if file.metadata().is_ok_and(|m| m.is_file()) {
        TokenReader::verify(BufReader::new(&mut file)).with_context(what)?;
        file.rewind().with_context(what)?;
    }
    let file: Box<dyn Read> = Box::new(BufReader::new(file));
    TokenReader::new(file).with_context(what)
}

/// A token file's header, once the whole file is read through and checked.
pub fn read_token_header(path: &Path) -> Result<TokenHeader> {
    let what = || format!("cannot read tokens from {}", name(path));
    let file: Box<dyn Read> = if is_stdio(path) {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(File::open(path).with_context(what)?))
    };
    TokenReader::verify(file).with_context(what)
}

/// Audio formats that `codec` reads but never writes: an output named for
/// one of them would hold a WAV file that players trusting the name reject.
const NOT_WRITTEN: [&str; 10] = ["mp3", "flac", "ogg", "oga", "opus", "m4a", "aac", "aif", "aiff", "wma"];

/// Refuses an audio output named for a format other than WAV (any other
/// name, `-` and devices such as `/dev/null` pass).
pub fn check_wav_name(path: &Path) -> Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    if NOT_WRITTEN.contains(&ext.as_str()) {
        bail!(
            "{}: codec writes 16-bit WAV only, not .{ext}: name the output .wav (and convert it afterwards, with \
             ffmpeg or sox, say)",
            path.display()
        );
    }
    Ok(())
}

/// Creates the output (see [`OutputFile`]), refusing one that is the input.
pub fn create_output(path: &Path, input: &Path) -> Result<OutputFile> {
    Ok(OutputFile::create_checked(path, &[input])?)
}

/// Says which side an error of a streamed command came from: the audio or
/// tokens read from `input`, or the WAV written to `output`.
pub fn stream_error(e: CodecError, input: &Path, output: &Path) -> anyhow::Error {
    match e {
        CodecError::Bitstream(_) => anyhow::Error::new(e).context(format!("cannot read tokens from {}", name(input))),
        CodecError::Audio(AudioError::WavIo(source)) => {
            anyhow::Error::new(source).context(format!("cannot write {}", out_name(output)))
        }
        CodecError::Audio(
            AudioError::WavTooLong { .. } | AudioError::WavLength { .. } | AudioError::BadSampleRate { .. },
        ) => anyhow::Error::new(e).context(format!("cannot write {}", out_name(output))),
        CodecError::Audio(_) => anyhow::Error::new(e).context(format!("cannot read audio from {}", name(input))),
        e => e.into(),
    }
}
