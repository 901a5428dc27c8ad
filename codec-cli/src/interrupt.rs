//! Ending on SIGINT, SIGTERM or SIGHUP without leaving temporary files.

/// Has SIGINT, SIGTERM and SIGHUP remove the temporary files of the outputs
/// still being written before the process ends. Without a handler the
/// process dies at once, and a partial output (59 MB for a long decode)
/// stays beside its target until a later run in that folder clears it.
///
/// The process then dies by SIGINT whatever the signal was (the handler is
/// not told which): its parent sees it killed, as before, so a shell loop
/// running it stops too.
pub fn remove_temps_on_signal() {
    // Only the live commands set a handler of their own, and they do not call this.
    let _ = ctrlc::set_handler(|| {
        codec_core::output::remove_temps();
        // SAFETY: setting a signal's default action and raising it have no
        // preconditions; the default action of SIGINT ends the process.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::raise(libc::SIGINT);
        }
        std::process::exit(130);
    });
}
