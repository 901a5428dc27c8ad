//! Inputs and outputs by path or `-`, and outputs that appear only when complete.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use codec_core::audio::{self, Audio};
use codec_core::bitstream::TokenFile;

pub fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Reads audio from a file, or from stdin for `-`.
pub fn read_audio(path: &Path) -> Result<Audio> {
    if is_stdio(path) {
        let audio = audio::read_audio_from(Box::new(std::io::stdin()), None).context("cannot read audio from stdin")?;
        return Ok(audio);
    }
    audio::read_audio(path).with_context(|| format!("cannot read audio from {}", path.display()))
}

/// Reads a token file from a path, or stdin for `-`.
pub fn read_tokens(path: &Path) -> Result<TokenFile> {
    let what = || {
        format!("cannot read tokens from {}", if is_stdio(path) { "stdin".into() } else { path.display().to_string() })
    };
    if is_stdio(path) {
        return TokenFile::read_from(&mut std::io::stdin().lock()).with_context(what);
    }
    let mut file = std::fs::File::open(path).with_context(what)?;
    TokenFile::read_from(&mut file).with_context(what)
}

/// Writes `bytes` to stdout for `-`, else to a temporary file beside `path`
/// that is renamed into place once complete.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if is_stdio(path) {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes).context("cannot write to stdout")?;
        return out.flush().context("cannot write to stdout");
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".codec-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    tmp.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))?;
    tmp.as_file().sync_all().ok();
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes PCM as a 16-bit WAV file (or to stdout for `-`), atomically.
pub fn write_wav(path: &Path, samples: &[f32], rate: u32) -> Result<()> {
    let mut buf = std::io::Cursor::new(Vec::new());
    audio::write_wav_to(&mut buf, samples, rate).context("cannot encode WAV")?;
    write_atomic(path, buf.get_ref())
}
