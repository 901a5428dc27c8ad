//! A progress bar for long files, drawn on stderr only when it is a terminal.

use indicatif::{ProgressBar, ProgressStyle};

/// Signals shorter than this finish before a bar would help.
const MIN_SECONDS: f64 = 5.0;

pub struct Progress(Option<ProgressBar>);

impl Progress {
    pub fn new(what: &str, seconds: f64) -> Self {
        if seconds < MIN_SECONDS {
            return Self(None);
        }
        let bar = ProgressBar::new(1000);
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {percent:>3}% {elapsed} eta {eta}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        Self(Some(bar))
    }

    pub fn set(&self, fraction: f64) {
        if let Some(bar) = &self.0 {
            bar.set_position((fraction.clamp(0.0, 1.0) * 1000.0) as u64);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
