//! Speech corpora for tokenization: what to read ([`list_inputs`], split
//! deterministically among workers by [`select_shard`]) and the token part
//! files written for it ([`part`]).

pub mod part;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::input::{open_regular, InputError};

/// The largest manifest [`list_inputs`] reads: some ten million lines.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 30;

/// Extensions read when the input is a folder (what symphonia decodes).
pub const AUDIO_EXTENSIONS: &[&str] =
    &["wav", "flac", "mp3", "ogg", "oga", "m4a", "aac", "aiff", "aif", "caf", "mka", "webm"];

/// One file of a corpus.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CorpusEntry {
    /// Stable name: the manifest's id, or the path under the folder without
    /// its extension (see [`folder_id`]).
    pub id: String,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Input(#[from] InputError),
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
/// manifest are relative to the manifest's folder. A manifest must be a
/// regular file of at most [`MAX_MANIFEST_BYTES`].
///
/// # Errors
/// An unreadable folder or manifest, a manifest that is not a regular file
/// or is over the limit, a malformed line, duplicate ids, or nothing to read.
pub fn list_inputs(input: &Path) -> Result<Vec<CorpusEntry>, CorpusError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CorpusError::Io { path, source }
    };
    let mut entries = if input.is_dir() {
        walk(input)?
            .into_iter()
            .map(|path| CorpusEntry { id: folder_id(path.strip_prefix(input).unwrap_or(&path)), path })
            .collect::<Vec<_>>()
    } else {
        // Read a line at a time: memory follows the entries, not the file.
        let mut reader = BufReader::new(open_regular(input)?.take(MAX_MANIFEST_BYTES + 1));
        let base = input.parent().unwrap_or(Path::new("."));
        let mut entries = Vec::new();
        let (mut text, mut read) = (String::new(), 0u64);
        for n in 0.. {
            text.clear();
            let got = reader.read_line(&mut text).map_err(io(input))?;
            read += got as u64;
            if read > MAX_MANIFEST_BYTES {
                return Err(InputError::TooLarge { path: input.to_path_buf(), limit: MAX_MANIFEST_BYTES }.into());
            }
            if got == 0 {
                break;
            }
            let line = text.trim();
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

/// The audio files under `root` by extension, following symbolic links:
/// a link back to a folder above is skipped (its files are listed through
/// the folder itself), and a file reached by several paths (links, hard
/// links) is listed once, by the first path in name order. What is not a
/// regular file (a FIFO, a device) is listed: the tokenizer refuses it when
/// it comes to it, and says so in its error log.
fn walk(root: &Path) -> Result<Vec<PathBuf>, CorpusError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(true).sort_by_file_name() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if e.loop_ancestor().is_some() => continue,
            // A dangling link: listed, so that the error log names it.
            Err(e) if e.io_error().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) => {
                if let Some(path) = e.path().filter(|p| has_audio_extension(p)) {
                    out.push(path.to_path_buf());
                }
                continue;
            }
            Err(e) => {
                let path = e.path().unwrap_or(root).to_path_buf();
                return Err(CorpusError::Io { path, source: e.into() });
            }
        };
        if entry.file_type().is_dir() || !has_audio_extension(entry.path()) {
            continue;
        }
        if let Some(file) = file_identity(&entry) {
            if !seen.insert(file) {
                continue;
            }
        }
        out.push(entry.into_path());
    }
    Ok(out)
}

fn has_audio_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The device and inode of the file an entry leads to.
#[cfg(unix)]
fn file_identity(entry: &walkdir::DirEntry) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    entry.metadata().ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_identity(_: &walkdir::DirEntry) -> Option<(u64, u64)> {
    None
}

/// The id of a file at `rel` under a corpus folder: its path without the
/// extension, components joined by `/`, each written as its UTF-8 text
/// except `%`, written `%25`, and every byte that is not UTF-8, written
/// `%XX` (upper-case hex). Distinct paths give distinct ids, and a name
/// that is UTF-8 without `%` is its own id.
pub fn folder_id(rel: &Path) -> String {
    let rel = rel.with_extension("");
    let mut id = String::new();
    for (i, part) in rel.components().enumerate() {
        if i > 0 {
            id.push('/');
        }
        for chunk in part.as_os_str().as_encoded_bytes().utf8_chunks() {
            for c in chunk.valid().chars() {
                if c == '%' {
                    id.push_str("%25");
                } else {
                    id.push(c);
                }
            }
            for b in chunk.invalid() {
                id.push_str(&format!("%{b:02X}"));
            }
        }
    }
    id
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

    /// Issue 32, items 8 and 9: a manifest that is an endless device or a
    /// FIFO is refused at once, not read until memory runs out or a writer comes.
    #[cfg(unix)]
    #[test]
    fn a_manifest_that_is_not_a_regular_file_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let fifo = dir.path().join("list.txt");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(made.success());
        for path in [Path::new("/dev/zero"), fifo.as_path()] {
            let err = list_inputs(path).expect_err("refused");
            assert!(matches!(err, CorpusError::Input(InputError::NotRegular { .. })), "{err}");
        }
    }

    /// Issue 20, item 12: links back up are not followed round, and a file
    /// reached by several paths is listed once.
    #[test]
    fn links_and_loops_list_each_file_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("a.wav"), b"x").expect("write");
        std::fs::write(root.join("sub/b.wav"), b"y").expect("write");
        std::fs::hard_link(root.join("a.wav"), root.join("hard.wav")).expect("hard link");
        std::os::unix::fs::symlink(".", root.join("loop")).expect("symlink");
        std::os::unix::fs::symlink("..", root.join("sub/up")).expect("symlink");
        std::os::unix::fs::symlink("sub", root.join("zlias")).expect("symlink");
        std::os::unix::fs::symlink("nowhere.wav", root.join("gone.wav")).expect("symlink");
        let ids: Vec<_> = list_inputs(root).expect("list").into_iter().map(|e| e.id).collect();
        assert_eq!(ids, ["a", "gone", "sub/b"]);
    }

    /// Issue 20, item 14: names that are not UTF-8 keep distinct ids.
    #[test]
    fn ids_of_names_that_are_not_utf8_stay_distinct() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().expect("tmp");
        for name in [&b"x\xff.wav"[..], b"x\xfe.wav", b"x%FF.wav", b"y\xc3\xa9.wav", b"z\xff\xff/w.wav"] {
            let path = dir.path().join(std::ffi::OsStr::from_bytes(name));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, b"x").expect("write");
        }
        let ids: Vec<_> = list_inputs(dir.path()).expect("list").into_iter().map(|e| e.id).collect();
        assert_eq!(ids, ["x%25FF", "x%FE", "x%FF", "y\u{e9}", "z%FF%FF/w"]);
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
