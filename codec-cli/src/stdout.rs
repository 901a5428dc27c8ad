//! Standard output as a command's output. A reader that goes away
//! (`codec models | head -1`) ends the command quietly, as it does Unix
//! tools; binary output is never written to a terminal.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Result};

/// `println!` that returns the write error instead of panicking on it (Rust
/// ignores SIGPIPE, so a closed pipe is an error on every write).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err(anyhow::Error::from)
    }};
}
pub(crate) use outln;

/// Whether `e` is, or was caused by, a write to a pipe whose reader has
/// gone: not a failure of the command, so it ends without a message.
pub fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Refuses `-` as the output of `what` (binary) when stdout is a terminal,
/// as opusenc does: the bytes would garble it and help nobody.
pub fn refuse_terminal(output: &Path, what: &str) -> Result<()> {
    if crate::io::is_stdio(output) && std::io::stdout().is_terminal() {
        bail!("not writing {what} to a terminal: redirect stdout (`> out`), pipe it, or name an output file");
    }
    Ok(())
}
