//! Output files: the one way every command writes one.
//!
//! - `-` is stdout.
//! - A symbolic link is followed; its final target is what gets written.
//! - Anything that is not a regular file (a FIFO, a character device such as
//!   `/dev/null`) is written through, never replaced. Block devices and
//!   directories are refused.
//! - A regular file, or a new one, is written under a temporary name beside it
//!   and renamed over it by [`OutputFile::commit`]: no reader sees half a file,
//!   and a failure (or a drop without commit) leaves the old file as it was.
//!   A new file's mode follows the umask (0644 under 022); a replaced file
//!   keeps its mode.
//! - An output that is one of the inputs (same device and inode, however the
//!   paths are spelled) is refused before anything is written.
//!
//! A temporary file is named `.codec-PID-XXXXXX.tmp`. A program that ends
//! on a signal calls [`remove_temps`] from its handler to remove the ones
//! still being written. If the process is
//! killed before it renames it, the next output written into that folder
//! removes it: a file of that name, owned by this user, untouched for a
//! minute, whose process is gone. Earlier releases named theirs
//! `.codec-XXXXXX`, without the PID; such a file, owned by this user and
//! untouched for a minute, is removed too: those releases wrote the whole
//! output into it at once and renamed it, so a minute idle means its run died.

use std::collections::HashSet;
use std::fs::{self, File, Metadata};
use std::io::{self, BufWriter, ErrorKind, Stdout, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tempfile::NamedTempFile;

/// Links followed before giving up, as the kernel's own limit.
const MAX_LINKS: usize = 40;
/// A temporary file untouched this long, whose process is gone, is stale.
const STALE_AFTER: Duration = Duration::from_secs(60);
const TEMP_PREFIX: &str = ".codec-";
const TEMP_SUFFIX: &str = ".tmp";
const TEMP_RAND_LEN: usize = 6;

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{output} is the input {input}: refusing to overwrite the input")]
    SameFile { input: PathBuf, output: PathBuf },
    #[error("cannot write {path}: it is a directory")]
    Directory { path: PathBuf },
    #[error("cannot write {path}: it is a block device; refusing to write to it")]
    BlockDevice { path: PathBuf },
    #[error("cannot write {path}: more than {MAX_LINKS} levels of symbolic links")]
    TooManyLinks { path: PathBuf },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |source| OutputError::Io { path: path.to_owned(), source }
}

/// An output being written; see the [module](self) for what happens to it.
pub struct OutputFile {
    /// The path as the caller gave it, for messages.
    path: PathBuf,
    sink: Sink,
}

enum Sink {
    Stdout(BufWriter<Stdout>),
    Through(BufWriter<File>),
    Replace { temp: BufWriter<NamedTempFile>, target: PathBuf, _listed: Listed },
}

/// The temporary files of the outputs being written, for [`remove_temps`].
struct Live {
    paths: Vec<PathBuf>,
    /// Set by [`remove_temps`]: the process is ending, and makes no more.
    closed: bool,
}

static LIVE: Mutex<Live> = Mutex::new(Live { paths: Vec::new(), closed: false });

/// A temporary file's place in [`LIVE`], given up when it is dropped.
struct Listed(PathBuf);

impl Listed {
    fn new(temp: &Path) -> Result<Self, OutputError> {
        let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        if live.closed {
            let source = io::Error::new(ErrorKind::Interrupted, "the command is ending on a signal");
            return Err(OutputError::Io { path: temp.to_owned(), source });
        }
        live.paths.push(temp.to_owned());
        Ok(Self(temp.to_owned()))
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(at) = live.paths.iter().position(|p| *p == self.0) {
            live.paths.swap_remove(at);
        }
    }
}

/// Removes the temporary files of the outputs still being written, and has
/// any output opened afterwards fail: for a handler that ends the process on
/// a signal, when no destructor will run. It takes a lock, so it belongs on
/// a handler's own thread (as `ctrlc` runs them), not in a signal handler.
pub fn remove_temps() {
    let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
    live.closed = true;
    for path in live.paths.drain(..) {
        // Already renamed into place, or never there: nothing to remove.
        let _ = fs::remove_file(path);
    }
}

/// Where a path leads once its links are followed.
enum Target {
    /// Nothing there yet.
    New(PathBuf),
    /// A regular file, replaced.
    Regular(PathBuf, Metadata),
    /// A FIFO, a character device or a socket, written through.
    Special(PathBuf, Metadata),
}

impl OutputFile {
    /// Opens `path` for writing (`-` for stdout).
    ///
    /// # Errors
    /// [`OutputError`]: a directory or block device, a link loop, or a folder
    /// where no file can be created.
    pub fn create(path: &Path) -> Result<Self, OutputError> {
        Self::create_checked(path, &[])
    }

    /// As [`OutputFile::create`], refusing an output that is one of `inputs`
    /// (`-` among them is skipped).
    ///
    /// # Errors
    /// As [`OutputFile::create`], and [`OutputError::SameFile`].
    pub fn create_checked(path: &Path, inputs: &[&Path]) -> Result<Self, OutputError> {
        if path.as_os_str() == "-" {
            return Ok(Self { path: path.to_owned(), sink: Sink::Stdout(BufWriter::new(io::stdout())) });
        }
        let target = resolve(path)?;
        if let Target::Regular(_, meta) | Target::Special(_, meta) = &target {
            for input in inputs.iter().filter(|p| p.as_os_str() != "-") {
                if fs::metadata(input).is_ok_and(|m| same_file(&m, meta)) {
                    return Err(OutputError::SameFile { input: input.to_path_buf(), output: path.to_owned() });
                }
            }
        }
        let sink = match target {
            Target::Special(target, _) => {
                let file = fs::OpenOptions::new().write(true).open(&target).map_err(io_error(path))?;
                Sink::Through(BufWriter::new(file))
            }
            Target::New(target) => replace(target, None)?,
            Target::Regular(target, meta) => replace(target, Some(&meta))?,
        };
        Ok(Self { path: path.to_owned(), sink })
    }

    /// The path as it was given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Finishes the output: flushes it and, for a regular file, syncs the
    /// temporary file and renames it over the target.
    ///
    /// # Errors
    /// [`OutputError::Io`] when a write, the sync or the rename fails; a
    /// temporary file is removed then.
    pub fn commit(self) -> Result<(), OutputError> {
        let path = &self.path;
        match self.sink {
            Sink::Stdout(mut out) => out.flush().map_err(io_error(path)),
            Sink::Through(mut out) => out.flush().map_err(io_error(path)),
            Sink::Replace { temp, target, _listed } => {
                let temp = temp.into_inner().map_err(|e| io_error(path)(e.into_error()))?;
                temp.as_file().sync_all().map_err(io_error(path))?;
                temp.persist(&target).map_err(|e| io_error(path)(e.error))?;
                Ok(())
            }
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.sink {
            Sink::Stdout(out) => out.write(buf),
            Sink::Through(out) => out.write(buf),
            Sink::Replace { temp, .. } => temp.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.sink {
            Sink::Stdout(out) => out.write_all(buf),
            Sink::Through(out) => out.write_all(buf),
            Sink::Replace { temp, .. } => temp.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Stdout(out) => out.flush(),
            Sink::Through(out) => out.flush(),
            Sink::Replace { temp, .. } => temp.flush(),
        }
    }
}

/// Writes `bytes` to `path` as an [`OutputFile`] and commits it.
///
/// # Errors
/// As [`OutputFile::create`] and [`OutputFile::commit`].
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let mut out = OutputFile::create(path)?;
    out.write_all(bytes).map_err(io_error(path))?;
    out.commit()
}

/// Follows `path`'s links to what is (or will be) written.
fn resolve(path: &Path) -> Result<Target, OutputError> {
    let mut current = path.to_owned();
    for _ in 0..MAX_LINKS {
        let meta = match fs::symlink_metadata(&current) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Target::New(current)),
            Err(e) => return Err(io_error(path)(e)),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            let link = fs::read_link(&current).map_err(io_error(path))?;
            // A relative link is relative to the folder holding it.
            current = match current.parent() {
                Some(dir) if link.is_relative() => dir.join(link),
                _ => link,
            };
        } else if kind.is_file() {
            return Ok(Target::Regular(current, meta));
        } else if kind.is_dir() {
            return Err(OutputError::Directory { path: path.to_owned() });
        } else if is_block_device(&meta) {
            return Err(OutputError::BlockDevice { path: path.to_owned() });
        } else {
            return Ok(Target::Special(current, meta));
        }
    }
    Err(OutputError::TooManyLinks { path: path.to_owned() })
}

/// Writes `target` through a temporary file beside it (see [`temp_beside`]).
fn replace(target: PathBuf, existing: Option<&Metadata>) -> Result<Sink, OutputError> {
    let temp = temp_beside(&target, existing)?;
    let listed = Listed::new(temp.path())?;
    Ok(Sink::Replace { temp: BufWriter::new(temp), target, _listed: listed })
}

/// A temporary file in `target`'s folder, with the mode `existing` has or,
/// for a new file, 0666 less the umask.
fn temp_beside(target: &Path, existing: Option<&Metadata>) -> Result<NamedTempFile, OutputError> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    remove_stale_temps(dir);
    let prefix = format!("{TEMP_PREFIX}{}-", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(TEMP_SUFFIX).rand_bytes(TEMP_RAND_LEN);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Passed to open(2), so the umask applies, as for any new file.
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let temp = builder.tempfile_in(dir).map_err(|e| OutputError::Io { path: dir.to_owned(), source: e })?;
    #[cfg(unix)]
    if let Some(meta) = existing {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        temp.as_file().set_permissions(fs::Permissions::from_mode(mode)).map_err(io_error(target))?;
    }
    #[cfg(not(unix))]
    let _ = existing;
    Ok(temp)
}

/// Removes temporary files that killed runs of this program left in `dir`
/// (see the [module](self)). Each folder is looked at once a process: a
/// command writing many files into one folder does not list it every time.
fn remove_stale_temps(dir: &Path) {
    static SEEN: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    let key = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    if !SEEN.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert_with(HashSet::new).insert(key) {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let pid = temp_pid(name);
        if pid.is_none() && !is_legacy_temp(name) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let untouched = meta.modified().ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age >= STALE_AFTER);
        if meta.is_file() && owned_by_us(&meta) && untouched && !pid.is_some_and(process_alive) {
            // Best effort: another run may be removing it at the same moment.
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The PID in a temporary file name of ours, `.codec-PID-XXXXXX.tmp`.
fn temp_pid(name: &str) -> Option<u32> {
    let middle = name.strip_prefix(TEMP_PREFIX)?.strip_suffix(TEMP_SUFFIX)?;
    let (pid, rand) = middle.split_once('-')?;
    let digits = !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit());
    let random = rand.len() == TEMP_RAND_LEN && rand.bytes().all(|b| b.is_ascii_alphanumeric());
    (digits && random).then(|| pid.parse().ok()).flatten()
}

/// A temporary file name of an earlier release, `.codec-XXXXXX` (tempfile's
/// six random letters and digits, no PID, no suffix).
fn is_legacy_temp(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX)
        .is_some_and(|rand| rand.len() == TEMP_RAND_LEN && rand.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(_: &Metadata, _: &Metadata) -> bool {
    false
}

#[cfg(unix)]
fn is_block_device(meta: &Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_block_device()
}

#[cfg(not(unix))]
fn is_block_device(_: &Metadata) -> bool {
    false
}

#[cfg(unix)]
fn owned_by_us(meta: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    meta.uid() == unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn owned_by_us(_: &Metadata) -> bool {
    false
}

/// Whether process `pid` exists; when unsure, it does.
#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    // 0 and negative numbers name process groups, not a process.
    let Ok(pid) = libc::pid_t::try_from(pid) else { return true };
    if pid <= 0 {
        return true;
    }
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let sent = unsafe { libc::kill(pid, 0) } == 0;
    sent || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(not(unix))]
fn process_alive(_: u32) -> bool {
    true
}

#[cfg(test)]
mod tests;
