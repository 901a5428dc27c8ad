//! Input files read whole: the one way a manifest, a part or a token file
//! named by a stranger is opened and read.
//!
//! - Only a regular file is read. A FIFO would hold the open until a writer
//!   comes (and Ctrl-C cannot interrupt a Python call waiting in it), and a
//!   device such as `/dev/zero` never ends. The file is opened without
//!   blocking and its type checked on the open handle, so a FIFO is refused
//!   at once, and a file swapped in after a check is not read.
//! - No more than a limit the caller names is read; memory grows only as
//!   bytes arrive.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not a regular file (a FIFO, a device or a folder): refused")]
    NotRegular { path: PathBuf },
    #[error("{path}: larger than the {limit}-byte limit")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path}: the key is readable by others (mode {mode:o}); chmod 600 it")]
    ReadableByOthers { path: PathBuf, mode: u32 },
}

/// Opens `path` to read if it is a regular file.
///
/// # Errors
/// [`InputError::NotRegular`] for anything else, [`InputError::Io`] when it
/// cannot be opened.
pub fn open_regular(path: &Path) -> Result<File, InputError> {
    let io_error = |source| InputError::Io { path: path.to_owned(), source };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io_error)?;
    if !file.metadata().map_err(io_error)?.is_file() {
        return Err(InputError::NotRegular { path: path.to_owned() });
    }
    #[cfg(unix)]
    blocking(&file).map_err(io_error)?;
    Ok(file)
}

/// Clears `O_NONBLOCK` again, so that reads of a file on a network file
/// system wait for their data rather than fail.
#[cfg(unix)]
fn blocking(file: &File) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function's caller owns and keeps open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The regular file at `path`, whole, if it holds at most `limit` bytes.
///
/// # Errors
/// As [`open_regular`], and [`InputError::TooLarge`].
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let io_error = |source| InputError::Io { path: path.to_owned(), source };
    let file = open_regular(path)?;
    // Room for the whole file at once (a regular file's size is its
    // content's); only a hint, as the file may change while it is read.
    let size = file.metadata().map_or(0, |m| m.len()).min(limit);
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io_error)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge { path: path.to_owned(), limit });
    }
    Ok(bytes)
}

/// As [`read_regular`], for a file that must be UTF-8 text.
///
/// # Errors
/// As [`read_regular`], and [`InputError::Io`] of kind `InvalidData` for
/// text that is not UTF-8.
pub fn read_text(path: &Path, limit: u64) -> Result<String, InputError> {
    String::from_utf8(read_regular(path, limit)?).map_err(|_| InputError::Io {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidData, "stream did not contain valid UTF-8"),
    })
}

/// As [`read_text`], for a secret (a key file): refused, before a byte of it
/// is read, when its group or others may read or write it. The content is
/// never quoted in an error.
///
/// # Errors
/// As [`read_text`], and [`InputError::ReadableByOthers`].
pub fn read_private_text(path: &Path, limit: u64) -> Result<String, InputError> {
    let io_error = |source| InputError::Io { path: path.to_owned(), source };
    let mut file = open_regular(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(io_error)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(InputError::ReadableByOthers { path: path.to_owned(), mode: mode & 0o777 });
        }
    }
    let mut bytes = Vec::new();
    (&mut file).take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io_error)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge { path: path.to_owned(), limit });
    }
    String::from_utf8(bytes).map_err(|_| InputError::Io {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidData, "not a text file"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_up_to_the_limit() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "hello").expect("write");
        assert_eq!(read_text(&path, 5).expect("read"), "hello");
        assert!(matches!(read_regular(&path, 4), Err(InputError::TooLarge { limit: 4, .. })));
        std::fs::write(&path, b"\xff").expect("write");
        let err = read_text(&path, 5).expect_err("not UTF-8");
        assert!(err.to_string().contains("valid UTF-8"), "{err}");
        assert!(matches!(read_regular(&dir.path().join("none"), 5), Err(InputError::Io { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn private_text_is_refused_when_others_may_read_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("k");
        std::fs::write(&path, "secret").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = read_private_text(&path, 64).expect_err("world-readable");
        assert!(matches!(err, InputError::ReadableByOthers { mode: 0o644, .. }), "{err}");
        assert!(!err.to_string().contains("secret"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(read_private_text(&path, 64).expect("read"), "secret");
        assert!(matches!(read_private_text(&path, 3), Err(InputError::TooLarge { .. })));
    }

    /// Issue 32, items 8 and 9: a FIFO is refused without waiting for a
    /// writer, and an endless device without reading it.
    #[cfg(unix)]
    #[test]
    fn fifos_devices_and_folders_are_refused_at_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(made.success());
        for path in [fifo.as_path(), Path::new("/dev/zero"), dir.path()] {
            let err = read_regular(path, 1 << 40).expect_err("refused");
            assert!(matches!(err, InputError::NotRegular { .. }), "{}: {err}", path.display());
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
    }
}
