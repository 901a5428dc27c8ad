//! The audio ends of a call: a capture device or an input file on one side,
//! a playback device or an output file on the other, each opened before the
//! call starts so that a call never runs only to fail at its end.

use std::path::Path;
use std::sync::Arc;

use codec_core::audio::read_audio;
use codec_core::OutputFile;
use ringbuf::{HeapCons, HeapProd};

use super::{CallOptions, Input, Output};
use crate::device::{open_capture, open_playback, DeviceFault, InputStream, OutputStream, RING_MARGIN_MS};
use crate::filedev::{FileCapture, FilePlayback, FILE_BUFFER_MS};
use crate::priority::{opening_realtime, ThreadRole};
use crate::stats::Counters;
use crate::StreamError;

/// Audio the rings can hold: far more than the pipeline keeps in them, so
/// only a stalled codec thread fills them.
const RING_MS: u32 = 500;

pub(super) enum CaptureEnd {
    Device(InputStream),
    File(FileCapture),
}

impl CaptureEnd {
    pub(super) fn begin(&self) -> Result<(), StreamError> {
        match self {
            CaptureEnd::Device(stream) => stream.begin(),
            CaptureEnd::File(feeder) => {
                feeder.begin();
                Ok(())
            }
        }
    }
}

pub(super) enum PlaybackEnd {
    Device(#[allow(dead_code)] OutputStream),
    /// The file is open (a temporary file beside it, for a regular one)
    /// from the start, and written when the call ends.
    File(FilePlayback, OutputFile),
}

impl PlaybackEnd {
    /// Stops playing; for a file, writes what was played and commits it
    /// when `keep`, and leaves nothing behind otherwise.
    ///
    /// # Errors
    /// The file cannot be written.
    pub(super) fn finish(self, keep: bool) -> Result<(), StreamError> {
        let PlaybackEnd::File(puller, mut out) = self else { return Ok(()) };
        let rate = puller.rate;
        let recording = puller.finish();
        if !keep {
            return Ok(());
        }
        if let Err(e) = recording.write_wav(&mut out, rate) {
            return Err(StreamError::Output(format!("{}: {e}", out.path().display())));
        }
        out.commit().map_err(|e| StreamError::Output(e.to_string()))
    }
}

/// Opens a device, from a realtime thread if the call asks for realtime
/// scheduling, so the backend's threads inherit it.
fn open_device<T>(options: &CallOptions, counters: &Arc<Counters>, open: impl FnOnce() -> T) -> T {
    if options.realtime {
        opening_realtime(ThreadRole::Device, &counters.realtime_refusal, open)
    } else {
        open()
    }
}

pub(super) fn open_input(
    input: &Input,
    options: &CallOptions,
    tail: std::time::Duration,
    counters: &Arc<Counters>,
    fault: &DeviceFault,
) -> Result<(CaptureEnd, HeapCons<f32>, u32, String), StreamError> {
    match input {
        Input::Device(name) => {
            let c = open_device(options, counters, || {
                open_capture(name.as_deref(), options.buffer_ms, RING_MS, counters.clone(), fault)
            })?;
            let what = format!("{} ({})", name.as_deref().unwrap_or("default input"), c.description);
            Ok((CaptureEnd::Device(c.stream), c.ring, c.rate, what))
        }
        Input::File { path, pace } => {
            let audio = read_audio(path).map_err(|e| StreamError::Input(e.to_string()))?;
            let what = format!("{} ({} Hz, {:.1} s)", path.display(), audio.sample_rate, audio.duration_secs());
            // A file stands in for a sound card, whose clock no codec thread can hold up.
            let (feeder, ring) = open_device(options, counters, || {
                FileCapture::start(audio.samples, audio.sample_rate, *pace, tail, RING_MS, counters.clone())
            })?;
            Ok((CaptureEnd::File(feeder), ring, audio.sample_rate, what))
        }
    }
}

pub(super) fn open_output(
    output: &Output,
    file_rate: u32,
    options: &CallOptions,
    counters: &Arc<Counters>,
    fault: &DeviceFault,
) -> Result<(PlaybackEnd, HeapProd<f32>, u32, u32, String), StreamError> {
    match output {
        Output::Device(name) => {
            let p = open_device(options, counters, || {
                open_playback(name.as_deref(), options.buffer_ms, RING_MS, counters.clone(), fault)
            })?;
            let what = format!("{} ({})", name.as_deref().unwrap_or("default output"), p.description);
            Ok((PlaybackEnd::Device(p.stream), p.ring, p.rate, p.ring_target_ms, what))
        }
        Output::File { path, pace } => {
            let out = create_output(path)?;
            let (puller, ring) =
                open_device(options, counters, || FilePlayback::start(file_rate, *pace, RING_MS, counters.clone()))?;
            let what = path.display().to_string();
            Ok((PlaybackEnd::File(puller, out), ring, file_rate, FILE_BUFFER_MS + RING_MARGIN_MS, what))
        }
    }
}

/// Opens the output file before the call rather than failing after it: a
/// missing folder, a folder given as the file, or one this user may not
/// write into.
fn create_output(path: &Path) -> Result<OutputFile, StreamError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(StreamError::Output(format!("{}: no such folder", dir.display())));
    }
    OutputFile::create(path).map_err(|e| StreamError::Output(e.to_string()))
}
