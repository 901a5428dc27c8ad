//! `codec tokenize`: a corpus to token parts on every core, resumable and
//! splittable among workers; `codec detokenize` and `codec stats` read them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use codec_core::corpus::part::{list_parts, part_done, read_part, write_part, IndexLine, PartMeta};
use codec_core::corpus::{list_inputs, parse_shard, select_shard, CorpusEntry};
use codec_core::{audio, offline, Encoder, ModelPackage};
use indicatif::{ProgressBar, ProgressStyle};

use crate::model_args::{ModelArgs, RateArgs};

#[derive(clap::Args)]
pub struct Args {
    /// A folder (searched recursively for audio files) or a manifest (one path a line, or JSON lines with "path" and "id")
    pub input: PathBuf,
    /// Folder for the token parts (created if missing; parts already there are kept and skipped)
    pub output: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub rate: RateArgs,
    /// Take only part K of N of the input (0-based), e.g. `--shard 3/8`: N workers each take one, no coordination
    #[arg(long)]
    pub shard: Option<String>,
    /// Files encoded at once, one per thread (default: the machine's cores)
    #[arg(long, short)]
    pub jobs: Option<usize>,
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

/// The package's weight hash in hex, as parts record it.
fn model_id(package: &ModelPackage) -> String {
    package.id().iter().map(|b| format!("{b:02x}")).collect()
}

/// What one file became.
enum Outcome {
    Codes { codes: Vec<u16>, frames: u64, seconds: f64 },
    Failed(String),
}

fn encode_file(package: &ModelPackage, encoder: &mut Encoder, path: &Path, min_seconds: f64) -> Outcome {
    let mut run = || -> Result<(Vec<u16>, u64, f64)> {
        let input = audio::read_audio(path)?;
        let seconds = input.duration_secs();
        if seconds < min_seconds {
            bail!("too short ({seconds:.3} s < {min_seconds} s)");
        }
        let pcm = audio::resample(&input.samples, input.sample_rate, package.sample_rate())?;
        let tokens = offline::encode_with(package, encoder, &pcm, |_| {})?;
        Ok((tokens.codes, u64::from(tokens.header.frames), seconds))
    };
    match run() {
        Ok((codes, frames, seconds)) => Outcome::Codes { codes, frames, seconds },
        Err(e) => Outcome::Failed(crate::one_line(&e)),
    }
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
    let prefix = match &args.shard {
        Some(text) => {
            let (k, n) = parse_shard(text)?;
            entries = select_shard(entries, k, n);
            format!("shard-{k:05}-of-{n:05}-")
        }
        None => String::new(),
    };
    std::fs::create_dir_all(&args.output).with_context(|| format!("cannot create {}", args.output.display()))?;
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)).max(1);
    let part_files = args.part_files as usize;
    let parts: Vec<(String, &[CorpusEntry])> =
        entries.chunks(part_files).enumerate().map(|(i, chunk)| (format!("{prefix}part-{i:05}"), chunk)).collect();
    let todo: Vec<&(String, &[CorpusEntry])> =
        parts.iter().filter(|(stem, _)| !part_done(&args.output, stem)).collect();
    let skipped_parts = parts.len() - todo.len();
    let meta = PartMeta {
        model: package.name().to_owned(),
        model_id: model_id(&package),
        stages: u8::try_from(stages).context("stage count")?,
        codes_per_frame: package.quantizer().codes_per_frame(stages),
        codebook_size: package.quantizer().codebook_size(),
        sample_rate: package.sample_rate(),
        hop: package.hop(),
    };
    if !args.quiet && skipped_parts > 0 {
        eprintln!("{skipped_parts} of {} parts already done in {}: skipped", parts.len(), args.output.display());
    }
    let total_files: usize = todo.iter().map(|(_, e)| e.len()).sum();
    let bar = progress(total_files as u64, args.quiet);
    let started = Instant::now();
    let (mut audio_seconds, mut failed, mut frames_total) = (0.0f64, Vec::new(), 0u64);

    // Files go to `jobs` threads, each with its own encoder; results come back
    // tagged with their place, and a part is written once all of its files are in.
    let (work_tx, work_rx) = crossbeam_channel::bounded::<(usize, usize, PathBuf)>(jobs * 4);
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<(usize, usize, Outcome)>();
    let runtime = args.model.runtime();
    let min_seconds = args.min_seconds;
    let mut workers = Vec::new();
    for _ in 0..jobs.min(total_files.max(1)) {
        let (rx, tx, package) = (work_rx.clone(), done_tx.clone(), package.clone());
        let mut encoder = Encoder::new(&package, runtime, stages)?;
        workers.push(std::thread::spawn(move || {
            for (part, slot, path) in rx {
                let outcome = encode_file(&package, &mut encoder, &path, min_seconds);
                if tx.send((part, slot, outcome)).is_err() {
                    break;
                }
            }
        }));
    }
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
        bar.set_message(format!("{:.2} h of audio, {:.0}x realtime", audio_seconds / 3600.0, audio_seconds / wall));
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
            "tokenized {} files ({:.2} h of audio, {frames_total} frames) into {} parts in {:.1} s: {:.0}x realtime \
             ({:.0} h of audio an hour) with {jobs} threads; {} files failed{}",
            total_files - failed.len(),
            audio_seconds / 3600.0,
            todo.len(),
            wall,
            audio_seconds / wall.max(1e-3),
            audio_seconds / wall.max(1e-3),
            failed.len(),
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

#[derive(clap::Args)]
pub struct DetokenizeArgs {
    /// A part (its .jsonl or .safetensors) written by `codec tokenize`
    pub part: PathBuf,
    /// Folder for the WAV files (one per entry, named by id)
    pub output: PathBuf,
    /// Only these ids (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub ids: Vec<String>,
    /// At most this many files
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn detokenize(args: DetokenizeArgs) -> Result<()> {
    let part = read_part(&args.part)?;
    let package = args.model.open()?;
    let id = model_id(&package);
    if id != part.meta.model_id {
        bail!(
            "the part was made with model `{}` ({}…), not `{}` ({}…): pass --model {}",
            part.meta.model,
            &part.meta.model_id[..8.min(part.meta.model_id.len())],
            package.name(),
            &id[..8],
            part.meta.model
        );
    }
    std::fs::create_dir_all(&args.output)?;
    let mut decoder = codec_core::Decoder::new(&package, args.model.runtime(), usize::from(part.meta.stages))?;
    let mut written = 0;
    for line in &part.index {
        if !args.ids.is_empty() && !args.ids.contains(&line.id) {
            continue;
        }
        if args.limit.is_some_and(|l| written >= l) {
            break;
        }
        let Some(codes) = part.entry_codes(line) else { continue };
        decoder.reset();
        let mut pcm = Vec::new();
        decoder.push(codes, &mut pcm)?;
        let name = line.id.replace(['/', '\\'], "__");
        let path = args.output.join(format!("{name}.wav"));
        audio::write_wav(&path, &pcm, package.sample_rate())?;
        written += 1;
    }
    eprintln!("wrote {written} files into {}", args.output.display());
    Ok(())
}

#[derive(clap::Args)]
pub struct StatsArgs {
    /// Folders of parts, or parts, written by `codec tokenize`
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

/// Per codebook: entries used, entropy in bits and perplexity (2^entropy),
/// the figures the codebook-utilisation papers report.
pub fn stats(args: StatsArgs) -> Result<()> {
    let mut paths = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            paths.extend(list_parts(input)?);
        } else {
            paths.push(input.clone());
        }
    }
    if paths.is_empty() {
        bail!(
            "no token parts in {}",
            args.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    let mut counts: Vec<Vec<u64>> = Vec::new();
    let (mut frames, mut meta) = (0u64, None::<PartMeta>);
    for path in &paths {
        let part = read_part(path)?;
        if let Some(m) = &meta {
            if m.model_id != part.meta.model_id || m.stages != part.meta.stages {
                bail!("{} is from another model or stage count than the parts before it", path.display());
            }
        } else {
            counts = vec![vec![0; part.meta.codebook_size]; part.meta.codes_per_frame];
            meta = Some(part.meta.clone());
        }
        for frame in part.codes.chunks_exact(part.meta.codes_per_frame) {
            for (book, &code) in frame.iter().enumerate() {
                if let Some(c) = counts[book].get_mut(usize::from(code)) {
                    *c += 1;
                }
            }
            frames += 1;
        }
    }
    let meta = meta.context("no parts")?;
    println!(
        "{} parts, {frames} frames ({:.2} h), model {} at {} stages",
        paths.len(),
        frames as f64 * meta.hop as f64 / f64::from(meta.sample_rate) / 3600.0,
        meta.model,
        meta.stages
    );
    println!("| codebook | entries used | entropy (bits) | perplexity |");
    println!("|---|---|---|---|");
    let mut total_bits = 0.0;
    for (book, c) in counts.iter().enumerate() {
        let n: u64 = c.iter().sum();
        let used = c.iter().filter(|&&x| x > 0).count();
        let entropy: f64 = c
            .iter()
            .filter(|&&x| x > 0)
            .map(|&x| {
                let p = x as f64 / n.max(1) as f64;
                -p * p.log2()
            })
            .sum();
        total_bits += entropy;
        println!(
            "| {book} | {:.1}% ({used} of {}) | {entropy:.2} | {:.0} |",
            100.0 * used as f64 / c.len() as f64,
            c.len(),
            entropy.exp2()
        );
    }
    let raw_bits = (meta.codebook_size as f64).log2() * meta.codes_per_frame as f64;
    let frame_rate = f64::from(meta.sample_rate) / meta.hop as f64;
    println!(
        "entropy {total_bits:.2} bits a frame against {raw_bits:.0} sent: {:.2} kbps with ideal entropy coding of each codebook, {:.2} kbps as sent",
        total_bits * frame_rate / 1000.0,
        raw_bits * frame_rate / 1000.0
    );
    Ok(())
}
