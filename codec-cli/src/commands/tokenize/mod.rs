//! `codec tokenize`: a corpus to token parts on every core (or a GPU),
//! resumable and splittable among workers; `codec detokenize` and `codec
//! stats` (in `inspect`) read them.

mod inspect;
mod settings;
mod workers;

pub use inspect::{detokenize, stats, DetokenizeArgs, StatsArgs};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use codec_core::corpus::part::{list_parts, part_done, write_part, IndexLine, PartMeta};
use codec_core::corpus::{list_inputs, parse_shard, select_shard, CorpusEntry};
use codec_core::{Device, ModelPackage};
use indicatif::{ProgressBar, ProgressStyle};

use crate::model_args::{ModelArgs, RateArgs};
use crate::wording::{count, times};
use workers::Outcome;

#[derive(clap::Args)]
pub struct Args {
    /// A folder (searched recursively for audio files; symbolic links are
    /// followed, each file is listed once) or a manifest (one path a line, or
    /// JSON lines with "path" and "id"). In a folder, a file's id is its path
    /// under the folder without the extension, `/` between folders, `%`
    /// written %25 and each byte of a name that is not UTF-8 written %XX
    pub input: PathBuf,
    /// Folder for the token parts (created if missing; parts already there are
    /// kept and skipped; the settings are recorded in its tokenize.json, and a
    /// rerun with other settings is refused)
    pub output: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub rate: RateArgs,
    /// Take only part K of N of the input (0-based), e.g. `--shard 3/8`: N workers each take one, no coordination
    #[arg(long)]
    pub shard: Option<String>,
    /// Threads decoding and encoding files, one file each (default: the machine's cores)
    #[arg(long, short)]
    pub jobs: Option<usize>,
    /// Files a network call encodes together (padded to the longest, which
    /// cannot change the codes): for GPUs. 1 (the default on the CPU) has each
    /// thread encode its own files; the default on cuda and tensorrt is 32
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub batch: Option<u64>,
    /// Files per part: the unit that is written at once and never redone
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub part_files: u64,
    /// Skip files shorter than this many seconds (listed as errors)
    #[arg(long, default_value_t = 0.1)]
    pub min_seconds: f64,
    /// No progress bar or summary
    #[arg(long, short)]
    pub quiet: bool,
}

/// The package's id in hex, as parts record it.
pub(crate) fn model_id(package: &ModelPackage) -> String {
    hex(&package.id())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn progress(total_files: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total_files);
    if let Ok(style) =
        ProgressStyle::with_template("tokenizing [{bar:30}] {pos}/{len} files, {msg} elapsed {elapsed} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

pub fn run(args: Args) -> Result<()> {
    let package = Arc::new(args.model.open()?);
    let stages = args.rate.stages(&package)?;
    let mut entries = list_inputs(&args.input).with_context(|| format!("cannot list {}", args.input.display()))?;
    let (prefix, shards) = match &args.shard {
        Some(text) => {
            let (k, n) = parse_shard(text)?;
            entries = select_shard(entries, k, n);
            (format!("shard-{k:05}-of-{n:05}-"), n)
        }
        None => (String::new(), 1),
    };
    std::fs::create_dir_all(&args.output).with_context(|| format!("cannot create {}", args.output.display()))?;
    let settings = settings::Settings {
        model: package.name().to_owned(),
        model_id: model_id(&package),
        stages: u8::try_from(stages).context("stage count")?,
        part_files: args.part_files,
        shards,
        min_seconds: args.min_seconds,
    };
    settings::record_or_check(&args.output, &settings)?;
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)).max(1);
    let part_files = args.part_files as usize;
    let parts: Vec<(String, &[CorpusEntry])> =
        entries.chunks(part_files).enumerate().map(|(i, chunk)| (format!("{prefix}part-{i:05}"), chunk)).collect();
    let todo: Vec<&(String, &[CorpusEntry])> =
        parts.iter().filter(|(stem, _)| !part_done(&args.output, stem)).collect();
    let skipped_parts = parts.len() - todo.len();
    let meta = PartMeta {
        model: settings.model.clone(),
        model_id: settings.model_id.clone(),
        stages: settings.stages,
        codes_per_frame: package.quantizer().codes_per_frame(stages),
        codebook_size: package.quantizer().codebook_size(),
        sample_rate: package.sample_rate(),
        hop: package.hop(),
    };
    if !args.quiet && skipped_parts > 0 {
        eprintln!(
            "{skipped_parts} of {} already done in {}: skipped",
            count(parts.len(), "part"),
            args.output.display()
        );
    }
    let total_files: usize = todo.iter().map(|(_, e)| e.len()).sum();
    let bar = progress(total_files as u64, args.quiet);
    let started = Instant::now();
    let (mut audio_seconds, mut failed, mut frames_total) = (0.0f64, Vec::new(), 0u64);

    // Files go to the worker threads; results come back tagged with their
    // place, and a part is written once all of its files are in.
    let (work_tx, work_rx) = crossbeam_channel::bounded::<workers::Work>(jobs * 4);
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<workers::Done>();
    let runtime = args.model.runtime();
    let batch = args.batch.map_or(if runtime.device == Device::Cpu { 1 } else { 32 }, |b| b as usize);
    let threads = jobs.min(total_files.max(1));
    let workers = if batch > 1 {
        workers::batched(&package, runtime, stages, threads, batch, args.min_seconds, &work_rx, &done_tx)?
    } else {
        workers::per_file(&package, runtime, stages, threads, args.min_seconds, &work_rx, &done_tx)?
    };
    drop(work_rx);
    drop(done_tx);
    let feed_parts: Vec<Vec<PathBuf>> = todo.iter().map(|(_, e)| e.iter().map(|e| e.path.clone()).collect()).collect();
    let feeder = std::thread::spawn(move || {
        for (p, paths) in feed_parts.into_iter().enumerate() {
            for (slot, path) in paths.into_iter().enumerate() {
                if work_tx.send((p, slot, path)).is_err() {
                    return;
                }
            }
        }
    });

    let mut pending: Vec<Vec<Option<Outcome>>> = todo.iter().map(|(_, e)| e.iter().map(|_| None).collect()).collect();
    let mut remaining: Vec<usize> = todo.iter().map(|(_, e)| e.len()).collect();
    for (p, slot, outcome) in done_rx {
        if let Outcome::Codes { seconds, .. } = &outcome {
            audio_seconds += seconds;
        }
        pending[p][slot] = Some(outcome);
        remaining[p] -= 1;
        bar.inc(1);
        let wall = started.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!("{:.2} h of audio, {} realtime", audio_seconds / 3600.0, times(audio_seconds / wall)));
        if remaining[p] == 0 {
            let (stem, list) = todo[p];
            let outcomes = std::mem::take(&mut pending[p]);
            let (index, codes, frames) = assemble(list, outcomes, &meta, &mut failed);
            frames_total += frames;
            write_part(&args.output, stem, &meta, &index, &codes)?;
        }
    }
    let _ = feeder.join();
    for w in workers {
        let _ = w.join();
    }
    bar.finish_and_clear();
    write_error_log(&args.output)?;
    if !args.quiet {
        let wall = started.elapsed().as_secs_f64();
        eprintln!(
            "tokenized {} ({:.2} h of audio, {}) into {} in {:.1} s: {} realtime ({:.0} h of audio an hour) with \
             {}{}; {} failed{}",
            count(total_files - failed.len(), "file"),
            audio_seconds / 3600.0,
            count(usize::try_from(frames_total).unwrap_or(usize::MAX), "frame"),
            count(todo.len(), "part"),
            wall,
            times(audio_seconds / wall.max(1e-3)),
            audio_seconds / wall.max(1e-3),
            count(jobs, "thread"),
            if batch > 1 { format!(" and batches of {batch}") } else { String::new() },
            count(failed.len(), "file"),
            if failed.is_empty() {
                String::new()
            } else {
                format!(" (listed in {})", args.output.join("errors.log").display())
            }
        );
    }
    Ok(())
}

/// The index and codes of one part, in input order.
fn assemble(
    list: &[CorpusEntry],
    outcomes: Vec<Option<Outcome>>,
    meta: &PartMeta,
    failed: &mut Vec<String>,
) -> (Vec<IndexLine>, Vec<u16>, u64) {
    let mut index = Vec::with_capacity(list.len());
    let mut codes = Vec::new();
    let mut offset = 0u64;
    for (entry, outcome) in list.iter().zip(outcomes) {
        let mut line = IndexLine {
            id: entry.id.clone(),
            path: entry.path.to_string_lossy().into_owned(),
            offset: None,
            frames: None,
            seconds: None,
            model: None,
            stages: None,
            error: None,
        };
        match outcome {
            Some(Outcome::Codes { codes: c, frames, seconds }) => {
                codes.extend_from_slice(&c);
                line.offset = Some(offset);
                line.frames = Some(frames);
                line.seconds = Some((seconds * 1000.0).round() / 1000.0);
                line.model = Some(meta.model.clone());
                line.stages = Some(meta.stages);
                offset += frames;
            }
            Some(Outcome::Failed(reason)) => {
                failed.push(entry.path.display().to_string());
                line.error = Some(reason);
            }
            None => line.error = Some("not processed".into()),
        }
        index.push(line);
    }
    (index, codes, offset)
}

/// `errors.log`: every file that failed, in all parts so far (rewritten each run).
fn write_error_log(dir: &Path) -> Result<()> {
    let mut log = String::new();
    for part in list_parts(dir)? {
        let text = std::fs::read_to_string(&part)?;
        for line in text.lines() {
            if let Ok(l) = serde_json::from_str::<IndexLine>(line) {
                if let Some(e) = l.error {
                    log.push_str(&format!("{}\t{}\n", l.path, e));
                }
            }
        }
    }
    let path = dir.join("errors.log");
    if log.is_empty() {
        let _ = std::fs::remove_file(&path);
        return Ok(());
    }
    std::fs::write(&path, log).with_context(|| format!("cannot write {}", path.display()))
}
