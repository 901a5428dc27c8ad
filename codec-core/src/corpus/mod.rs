//! Speech corpora for tokenization: what to read ([`list_inputs`], split
//! deterministically among workers by [`select_shard`]) and the token part
//! files written for it ([`part`]).

pub mod part;

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Extensions read when the input is a folder (what symphonia decodes).
pub const AUDIO_EXTENSIONS: &[&str] =
    &["wav", "flac", "mp3", "ogg", "oga", "m4a", "aac", "aiff", "aif", "caf", "mka", "webm"];

/// One file of a corpus.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CorpusEntry {
    /// Stable name: the manifest's id, or the path under the folder without its extension.
    pub id: String,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}, line {line}: {reason}")]
    Manifest { path: PathBuf, line: usize, reason: String },
    #[error("{0}: no audio files in it")]
    Empty(PathBuf),
    #[error("id `{0}` appears twice")]
    DuplicateId(String),
    #[error("shard `{0}` is not K/N with 0 <= K < N")]
    BadShard(String),
}

#[derive(Deserialize)]
struct ManifestLine {
    path: PathBuf,
    id: Option<String>,
}

/// The entries of `input`, sorted by id: every audio file under a folder
/// (recursively, by extension), or the lines of a manifest file: one path a
/// line, or JSON lines with `path` and optionally `id`. Relative paths in a
/// manifest are relative to the manifest's folder.
///
/// # Errors
/// An unreadable folder or manifest, a malformed line, duplicate ids, or
/// nothing to read.
pub fn list_inputs(input: &Path) -> Result<Vec<CorpusEntry>, CorpusError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CorpusError::Io { path, source }
    };
    let mut entries = if input.is_dir() {
        let mut files = Vec::new();
        walk(input, &mut files).map_err(io(input))?;
        files
            .into_iter()
            .map(|path| {
                let rel = path.strip_prefix(input).unwrap_or(&path).with_extension("");
                CorpusEntry { id: rel.to_string_lossy().replace('\\', "/"), path }
            })
            .collect::<Vec<_>>()
    } else {
        let text = std::fs::read_to_string(input).map_err(io(input))?;
        let base = input.parent().unwrap_or(Path::new("."));
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (path, id) = if line.starts_with('{') {
                let parsed: ManifestLine = serde_json::from_str(line).map_err(|e| CorpusError::Manifest {
                    path: input.to_path_buf(),
                    line: n + 1,
                    reason: e.to_string(),
                })?;
                (parsed.path, parsed.id)
            } else {
                (PathBuf::from(line), None)
            };
            let path = if path.is_absolute() { path } else { base.join(path) };
            let id = id.unwrap_or_else(|| path.with_extension("").to_string_lossy().into_owned());
            entries.push(CorpusEntry { id, path });
        }
        entries
    };
    if entries.is_empty() {
        return Err(CorpusError::Empty(input.to_path_buf()));
    }
    entries.sort();
    if let Some(w) = entries.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(CorpusError::DuplicateId(w[0].id.clone()));
    }
    Ok(entries)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Parses `K/N`.
///
/// # Errors
/// Anything but two integers with `0 <= K < N`.
pub fn parse_shard(text: &str) -> Result<(usize, usize), CorpusError> {
    let bad = || CorpusError::BadShard(text.to_owned());
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || k >= n {
        return Err(bad());
    }
    Ok((k, n))
}

/// Worker `k` of `n` takes every `n`-th entry of the sorted list, starting at
/// `k`: the same split on every machine, with no coordination, and shares of
/// similar size and mix.
pub fn select_shard(entries: Vec<CorpusEntry>, k: usize, n: usize) -> Vec<CorpusEntry> {
    entries.into_iter().enumerate().filter(|(i, _)| n > 0 && i % n == k).map(|(_, e)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_manifests_list_sorted_unique_entries() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("b")).expect("mkdir");
        for f in ["b/two.wav", "a.flac", "notes.txt", "b/three.MP3"] {
            std::fs::write(dir.path().join(f), b"x").expect("write");
        }
        let ids: Vec<_> = list_inputs(dir.path()).expect("list").into_iter().map(|e| e.id).collect();
        assert_eq!(ids, ["a", "b/three", "b/two"]);

        let manifest = dir.path().join("m.jsonl");
        std::fs::write(&manifest, "{\"path\": \"a.flac\", \"id\": \"x1\"}\n\nb/two.wav\n").expect("write");
        let entries = list_inputs(&manifest).expect("manifest");
        assert_eq!(entries[1].id, "x1");
        assert_eq!(entries[1].path, dir.path().join("a.flac"));
        std::fs::write(&manifest, "{\"path\": \"a.flac\", \"id\": \"x\"}\n{\"path\": \"b.wav\", \"id\": \"x\"}\n")
            .expect("write");
        assert!(matches!(list_inputs(&manifest), Err(CorpusError::DuplicateId(_))));
        std::fs::write(&manifest, "{\"id\": 3}\n").expect("write");
        assert!(matches!(list_inputs(&manifest), Err(CorpusError::Manifest { line: 1, .. })));
    }

    #[test]
    fn shards_partition_the_entries() {
        let entries: Vec<_> =
            (0..10).map(|i| CorpusEntry { id: format!("{i:02}"), path: PathBuf::from(format!("{i}.wav")) }).collect();
        let mut all: Vec<_> = (0..3).flat_map(|k| select_shard(entries.clone(), k, 3)).collect();
        all.sort();
        assert_eq!(all, entries);
        assert_eq!(parse_shard("2/3").expect("ok"), (2, 3));
        for bad in ["3/3", "1", "a/b", "0/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
