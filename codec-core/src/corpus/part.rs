//! Token part files: what `codec tokenize` writes, readable without this
//! project.
//!
//! A part is two files with the same stem:
//!
//! - `STEM.safetensors`: one tensor `codes`, `U16`, shape `[frames, codes_per_frame]`:
//!   the frames of every entry of the part one after the other, each frame's
//!   codes in the order of a `.tok` file; its metadata holds `model`,
//!   `model_id` (hex), `stages`, `codes_per_frame`, `codebook_size`,
//!   `sample_rate` and `hop`;
//! - `STEM.jsonl`: one JSON object a line per input file, in order: `id`,
//!   `path`, and either `offset` and `frames` (its rows in `codes`),
//!   `seconds`, `model` and `stages`, or `error` for a file that could not be
//!   tokenized.
//!
//! The `.jsonl` is written last, and both are written to a temporary name and
//! renamed: a part whose `.jsonl` exists is complete. In Python:
//!
//! ```python
//! import json
//! from safetensors.numpy import load_file
//! codes = load_file("part-00000.safetensors")["codes"]
//! for line in open("part-00000.jsonl"):
//!     e = json.loads(line)
//!     if "error" not in e:
//!         tokens = codes[e["offset"] : e["offset"] + e["frames"]]   # [frames, codebooks]
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::input::{read_regular, read_text, InputError};

/// The largest part index (`.jsonl`) [`read_part`] reads: a line of some
/// kilobytes for each of the most files a part holds.
pub const MAX_INDEX_BYTES: u64 = 256 << 20;

/// The largest part codes file (`.safetensors`) [`read_part`] reads, which
/// it holds in memory whole: 2^31 codes (an hour of audio at 50 frames a
/// second and 32 codes a frame is some 5.8 million).
pub const MAX_CODES_BYTES: u64 = 4 << 30;

/// Facts about the codes of a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartMeta {
    pub model: String,
    pub model_id: String,
    pub stages: u8,
    pub codes_per_frame: usize,
    pub codebook_size: usize,
    pub sample_rate: u32,
    pub hop: usize,
}

/// One line of a part's index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexLine {
    pub id: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A part read back.
#[derive(Debug, Clone)]
pub struct Part {
    pub meta: PartMeta,
    pub index: Vec<IndexLine>,
    /// `frames * codes_per_frame` codes, frame-major.
    pub codes: Vec<u16>,
}

impl Part {
    /// The codes of one entry (frame-major), if it has any.
    pub fn entry_codes(&self, line: &IndexLine) -> Option<&[u16]> {
        let (offset, frames) = (line.offset? as usize, line.frames? as usize);
        let c = self.meta.codes_per_frame;
        self.codes.get(offset * c..(offset + frames) * c)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PartError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    #[error(transparent)]
    Input(#[from] InputError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PartError + '_ {
    move |source| PartError::Io { path: path.to_path_buf(), source }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PartError> {
    Ok(crate::output::write_file(path, bytes)?)
}

/// Whether the part `stem` in `dir` was completely written.
pub fn part_done(dir: &Path, stem: &str) -> bool {
    dir.join(format!("{stem}.jsonl")).is_file() && dir.join(format!("{stem}.safetensors")).is_file()
}

/// Writes the part `stem` into `dir`: the codes, then the index.
///
/// # Errors
/// Codes that are not whole frames, or a file that cannot be written.
pub fn write_part(
    dir: &Path,
    stem: &str,
    meta: &PartMeta,
    index: &[IndexLine],
    codes: &[u16],
) -> Result<(), PartError> {
    let st_path = dir.join(format!("{stem}.safetensors"));
    let c = meta.codes_per_frame.max(1);
    if !codes.len().is_multiple_of(c) {
        return Err(PartError::Format { path: st_path, reason: "codes are not whole frames".into() });
    }
    let bytes: Vec<u8> = codes.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(Dtype::U16, vec![codes.len() / c, c], &bytes)
        .map_err(|e| PartError::Format { path: st_path.clone(), reason: e.to_string() })?;
    let info: HashMap<String, String> = [
        ("model", meta.model.clone()),
        ("model_id", meta.model_id.clone()),
        ("stages", meta.stages.to_string()),
        ("codes_per_frame", c.to_string()),
        ("codebook_size", meta.codebook_size.to_string()),
        ("sample_rate", meta.sample_rate.to_string()),
        ("hop", meta.hop.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut st = safetensors::serialize([("codes", view)], Some(info))
        .map_err(|e| PartError::Format { path: st_path.clone(), reason: e.to_string() })?;
    sort_header(&mut st);
    write_atomic(&st_path, &st)?;
    let mut lines = String::new();
    for line in index {
        let json = serde_json::to_string(line)
            .map_err(|e| PartError::Format { path: st_path.clone(), reason: e.to_string() })?;
        lines.push_str(&json);
        lines.push('\n');
    }
    write_atomic(&dir.join(format!("{stem}.jsonl")), lines.as_bytes())
}

/// Rewrites a safetensors header with its keys sorted, so that the same
/// codes make the same bytes in every run (the library writes the metadata
/// in hash order). The sorted header has the same length; a header that
/// does not parse is left as it is.
fn sort_header(file: &mut [u8]) {
    let Some(len) = file.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes) else { return };
    let Some(header) = usize::try_from(len).ok().and_then(|n| file.get_mut(8..8 + n)) else { return };
    let json_len = header.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    // serde_json's map is ordered by key.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&header[..json_len]) else { return };
    if let Ok(sorted) = serde_json::to_vec(&value) {
        if sorted.len() == json_len {
            header[..json_len].copy_from_slice(&sorted);
        }
    }
}

/// Reads a part from its `.jsonl` or `.safetensors` path (or its stem).
/// Both must be regular files, of at most [`MAX_INDEX_BYTES`] and
/// [`MAX_CODES_BYTES`].
///
/// # Errors
/// Missing or malformed files, files that are not regular files, or are
/// over their limits.
pub fn read_part(path: &Path) -> Result<Part, PartError> {
    let index_path = path.with_extension("jsonl");
    let st_path = path.with_extension("safetensors");
    let bad = |p: &Path, reason: String| PartError::Format { path: p.to_path_buf(), reason };
    let text = read_text(&index_path, MAX_INDEX_BYTES)?;
    let index = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<IndexLine>(l).map_err(|e| bad(&index_path, e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let bytes = read_regular(&st_path, MAX_CODES_BYTES)?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(&st_path, e.to_string()))?;
    let info = header.metadata().clone().unwrap_or_default();
    let get = |k: &str| info.get(k).cloned().ok_or_else(|| bad(&st_path, format!("metadata lacks `{k}`")));
    let num = |k: &str| -> Result<usize, PartError> {
        get(k)?.parse().map_err(|_| bad(&st_path, format!("metadata `{k}` is not a number")))
    };
    let meta = PartMeta {
        model: get("model")?,
        model_id: get("model_id")?,
        stages: u8::try_from(num("stages")?).map_err(|_| bad(&st_path, "stages out of range".into()))?,
        codes_per_frame: num("codes_per_frame")?,
        codebook_size: num("codebook_size")?,
        sample_rate: u32::try_from(num("sample_rate")?).map_err(|_| bad(&st_path, "rate out of range".into()))?,
        hop: num("hop")?,
    };
    let tensors = SafeTensors::deserialize(&bytes).map_err(|e| bad(&st_path, e.to_string()))?;
    let codes = tensors.tensor("codes").map_err(|e| bad(&st_path, e.to_string()))?;
    if codes.dtype() != Dtype::U16 || codes.shape().len() != 2 || codes.shape()[1] != meta.codes_per_frame {
        return Err(bad(
            &st_path,
            format!("`codes` is {:?} {:?}, not U16 [frames, {}]", codes.dtype(), codes.shape(), meta.codes_per_frame),
        ));
    }
    let codes: Vec<u16> = codes.data().chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
    let frames = (codes.len() / meta.codes_per_frame.max(1)) as u64;
    for line in &index {
        if let (Some(o), Some(f)) = (line.offset, line.frames) {
            if o.checked_add(f).is_none_or(|end| end > frames) {
                return Err(bad(&index_path, format!("entry `{}` points past the codes", line.id)));
            }
        }
    }
    Ok(Part { meta, index, codes })
}

/// The complete parts in `dir` (their `.jsonl` paths), sorted.
///
/// # Errors
/// An unreadable folder.
pub fn list_parts(dir: &Path) -> Result<Vec<PathBuf>, PartError> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl") && p.with_extension("safetensors").is_file())
        .collect();
    parts.sort();
    Ok(parts)
}

/// The parts `path` names: those of a folder (none is an error), or the one
/// part whose `.jsonl` or `.safetensors` path (or stem) it is. Errors name
/// `path` as given, not a file derived from it.
///
/// # Errors
/// A path where there is neither, an unreadable folder, or a folder of no parts.
pub fn part_paths(path: &Path) -> Result<Vec<PathBuf>, PartError> {
    if path.is_dir() {
        let parts = list_parts(path)?;
        if parts.is_empty() {
            return Err(PartError::Format { path: path.to_owned(), reason: "no token parts in this folder".into() });
        }
        return Ok(parts);
    }
    if !path.exists() && !path.with_extension("jsonl").exists() {
        let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder of parts or part");
        return Err(PartError::Io { path: path.to_owned(), source });
    }
    Ok(vec![path.to_owned()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_reads_back_as_written() {
        let dir = tempfile::tempdir().expect("tmp");
        let meta = PartMeta {
            model: "m".into(),
            model_id: "ab".into(),
            stages: 2,
            codes_per_frame: 2,
            codebook_size: 1024,
            sample_rate: 16000,
            hop: 320,
        };
        let index = vec![
            IndexLine {
                id: "a".into(),
                path: "a.wav".into(),
                offset: Some(0),
                frames: Some(2),
                seconds: Some(0.04),
                model: Some("m".into()),
                stages: Some(2),
                error: None,
            },
            IndexLine {
                id: "b".into(),
                path: "b.wav".into(),
                offset: None,
                frames: None,
                seconds: None,
                model: None,
                stages: None,
                error: Some("empty".into()),
            },
        ];
        assert!(!part_done(dir.path(), "p"));
        write_part(dir.path(), "p", &meta, &index, &[1, 2, 3, 1023]).expect("write");
        assert!(part_done(dir.path(), "p"));
        let part = read_part(&dir.path().join("p.jsonl")).expect("read");
        assert_eq!(part.meta, meta);
        assert_eq!(part.index, index);
        assert_eq!(part.entry_codes(&part.index[0]), Some(&[1u16, 2, 3, 1023][..]));
        assert_eq!(list_parts(dir.path()).expect("list"), vec![dir.path().join("p.jsonl")]);
        assert!(write_part(dir.path(), "q", &meta, &index, &[1, 2, 3]).is_err(), "not whole frames");
    }

    /// Issue 32, item 8: a part whose files are an endless device (or a
    /// FIFO) is refused before anything is read.
    #[cfg(unix)]
    #[test]
    fn a_part_of_devices_is_refused_unread() {
        let dir = tempfile::tempdir().expect("tmp");
        let meta = PartMeta {
            model: "m".into(),
            model_id: "ab".into(),
            stages: 1,
            codes_per_frame: 1,
            codebook_size: 1024,
            sample_rate: 16000,
            hop: 320,
        };
        write_part(dir.path(), "p", &meta, &[], &[7]).expect("write");
        let index = dir.path().join("p.jsonl");
        std::fs::remove_file(&index).expect("rm");
        std::os::unix::fs::symlink("/dev/zero", &index).expect("ln -s");
        let err = read_part(&index).expect_err("refused");
        assert!(matches!(err, PartError::Input(InputError::NotRegular { .. })), "{err}");
        std::fs::remove_file(&index).expect("rm");
        std::fs::write(&index, "").expect("write");
        let codes = dir.path().join("p.safetensors");
        std::fs::remove_file(&codes).expect("rm");
        let made = std::process::Command::new("mkfifo").arg(&codes).status().expect("mkfifo");
        assert!(made.success());
        let err = read_part(&codes).expect_err("refused");
        assert!(matches!(err, PartError::Input(InputError::NotRegular { .. })), "{err}");
    }

    #[test]
    fn the_same_codes_make_the_same_bytes() {
        let dir = tempfile::tempdir().expect("tmp");
        let meta = PartMeta {
            model: "m".into(),
            model_id: "ab".into(),
            stages: 1,
            codes_per_frame: 1,
            codebook_size: 1024,
            sample_rate: 16000,
            hop: 320,
        };
        let mut files = Vec::new();
        for stem in ["a", "b", "c"] {
            write_part(dir.path(), stem, &meta, &[], &[7, 8, 9]).expect("write");
            files.push(std::fs::read(dir.path().join(format!("{stem}.safetensors"))).expect("read"));
        }
        assert!(files.iter().all(|f| f == &files[0]), "parts of the same codes differ");
        let text = String::from_utf8_lossy(&files[0]);
        let at = |key: &str| text.find(key).expect(key);
        assert!(at("codebook_size") < at("codes_per_frame") && at("codes_per_frame") < at("hop"));
        assert_eq!(read_part(&dir.path().join("a.safetensors")).expect("read").codes, vec![7, 8, 9]);
    }
}
