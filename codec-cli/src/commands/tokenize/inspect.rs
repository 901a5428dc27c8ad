//! `codec detokenize` (token parts back to WAV files) and `codec stats`
//! (codebook use of token parts).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use codec_core::audio;
use codec_core::corpus::part::{list_parts, part_paths, read_part, IndexLine, PartMeta};
use codec_core::{Decoder, ModelPackage};

use super::{hex, model_id};
use crate::model_args::{notice_fallback, open_given_or_named, LEGACY_ID_NOTICE};
use crate::stdout::outln;
use crate::wording::count;

#[derive(clap::Args)]
pub struct DetokenizeArgs {
    /// A part (its .jsonl or .safetensors) written by `codec tokenize`, or a folder of parts
    pub part: PathBuf,
    /// Folder for the WAV files: one per entry, ID.wav, each `/` or `\` of the id written `__`
    /// (`a/b` gives a__b.wav); an id that cannot name a file is skipped, named, and exits 1 at the end
    pub output: PathBuf,
    /// Only these ids (comma-separated); ids that are in no part are named, and none found is an error
    #[arg(long, value_delimiter = ',')]
    pub ids: Vec<String>,
    /// At most this many files
    #[arg(long)]
    pub limit: Option<usize>,
    /// Model package; by default the shipped model recorded in the part
    #[arg(long, short)]
    pub model: Option<String>,
    /// Where the networks run: cpu, cuda or tensorrt (falls back to cpu with a notice)
    #[arg(long, default_value = "cpu")]
    pub device: codec_core::Device,
    /// Threads inside each network call (at most 256)
    #[arg(long, default_value_t = 1, value_parser = crate::model_args::threads)]
    pub threads: usize,
}

/// The package and decoder for the parts, checked against each part's model.
struct PartDecoder {
    package: ModelPackage,
    decoder: Decoder,
    /// Whether a part of the previous release's id was said already.
    told_legacy: bool,
}

impl PartDecoder {
    fn open(args: &DetokenizeArgs, meta: &PartMeta, path: &Path) -> Result<Self> {
        let source = format!("the part {}", path.display());
        let package = open_given_or_named(args.model.as_deref(), &meta.model, &source)?;
        let told_legacy = check_model(&package, meta, path, false)?;
        let runtime = codec_core::RuntimeOptions { device: args.device, intra_threads: args.threads };
        let decoder = Decoder::new(&package, runtime, usize::from(meta.stages))?;
        notice_fallback(decoder.device());
        Ok(Self { package, decoder, told_legacy })
    }

    /// Checks a later part against the first.
    fn check(&mut self, meta: &PartMeta, path: &Path) -> Result<()> {
        self.told_legacy |= check_model(&self.package, meta, path, self.told_legacy)?;
        if usize::from(meta.stages) != self.decoder.stages() {
            bail!("{} has {} stages; the parts before it have {}", path.display(), meta.stages, self.decoder.stages());
        }
        Ok(())
    }
}

/// Checks that the part's codes are `package`'s. A part of the previous
/// release's id is accepted with a notice (unless `told`); true if it is one.
fn check_model(package: &ModelPackage, meta: &PartMeta, path: &Path, told: bool) -> Result<bool> {
    let id = model_id(package);
    if meta.model_id == hex(&package.legacy_id()) {
        if !told {
            eprintln!("notice: {}: {LEGACY_ID_NOTICE}", path.display());
        }
        return Ok(true);
    } else if meta.model_id != id {
        bail!(
            "{} was made with model `{}` ({}…), not `{}` ({}…): pass --model {}",
            path.display(),
            meta.model,
            meta.model_id.get(..8).unwrap_or(&meta.model_id),
            package.name(),
            &id[..8],
            meta.model
        );
    }
    Ok(false)
}

/// What `detokenize` will write, worked out before it writes anything: so a
/// clash of two ids is refused with nothing written, and an id that cannot
/// be a file name is skipped without stopping the others.
#[derive(Default)]
struct Plan {
    /// For each part, its entries to write: (line in the index, file).
    files: Vec<Vec<(usize, PathBuf)>>,
    /// Ids that cannot name a file, and why.
    skipped: Vec<(String, &'static str)>,
    /// The `--ids` met in the parts.
    found: HashSet<String>,
    count: usize,
}

/// The WAV file an id is written to: each `/` and `\` written `__`, so an
/// id's folders never become folders (or a way out) here.
fn file_name(id: &str) -> Result<String, &'static str> {
    let name = format!("{}.wav", id.replace(['/', '\\'], "__"));
    if id.is_empty() {
        Err("it is empty")
    } else if id.contains('\0') {
        Err("it holds a NUL byte, which no file name can")
    } else if name.len() > 255 {
        Err("its file name would be longer than 255 bytes")
    } else {
        Ok(name)
    }
}

/// Reads every part's index (and checks its model) and plans the files.
fn plan(args: &DetokenizeArgs, paths: &[PathBuf], decoder: &mut Option<PartDecoder>) -> Result<Plan> {
    let wanted: HashSet<&str> = args.ids.iter().map(String::as_str).collect();
    let mut plan = Plan::default();
    // File name to the id written there: ids can name one file (`a/b` and `a__b`).
    let mut names: HashMap<String, String> = HashMap::new();
    for path in paths {
        let mut files = Vec::new();
        let full = args.limit.is_some_and(|l| plan.count >= l);
        if !(full && wanted.is_empty()) {
            let part = read_part(path)?;
            match decoder.as_mut() {
                Some(d) => d.check(&part.meta, path)?,
                None => *decoder = Some(PartDecoder::open(args, &part.meta, path)?),
            }
            for (at, line) in part.index.iter().enumerate() {
                if !wanted.is_empty() {
                    if !wanted.contains(line.id.as_str()) {
                        continue;
                    }
                    plan.found.insert(line.id.clone());
                }
                if args.limit.is_some_and(|l| plan.count >= l) || part.entry_codes(line).is_none() {
                    continue;
                }
                let name = match file_name(&line.id) {
                    Ok(name) => name,
                    Err(why) => {
                        plan.skipped.push((line.id.clone(), why));
                        continue;
                    }
                };
                let file = args.output.join(&name);
                if let Some(first) = names.get(&name) {
                    let which = if *first == line.id {
                        format!("the id `{first}` comes twice")
                    } else {
                        format!("the ids `{first}` and `{}` both name one file", line.id)
                    };
                    bail!(
                        "{which}, {}: refused rather than overwritten, and nothing written (detokenize them apart \
                         with --ids)",
                        file.display()
                    );
                }
                names.insert(name, line.id.clone());
                files.push((at, file));
                plan.count += 1;
            }
        }
        plan.files.push(files);
    }
    Ok(plan)
}

/// Samples of an entry's decode to keep: its input's length as the index
/// records it (to the millisecond), as `codec decode` trims to the length a
/// token file records; never more than its frames make.
fn kept_samples(package: &ModelPackage, line: &IndexLine, frames: u64) -> usize {
    let made = codec_core::samples_from(package, frames);
    let recorded = line
        .seconds
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(made, |s| (s * f64::from(package.sample_rate())).round() as u64);
    usize::try_from(made.min(recorded)).unwrap_or(usize::MAX)
}

pub fn detokenize(args: DetokenizeArgs) -> Result<()> {
    let paths = part_paths(&args.part)?;
    let mut decoder: Option<PartDecoder> = None;
    let plan = plan(&args, &paths, &mut decoder)?;
    let wanted: HashSet<&str> = args.ids.iter().map(String::as_str).collect();
    let mut unknown: Vec<&str> = wanted.iter().copied().filter(|id| !plan.found.contains(*id)).collect();
    unknown.sort_unstable();
    if !unknown.is_empty() {
        let list = unknown.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(", ");
        if plan.found.is_empty() {
            bail!("none of the ids is in {}: {list}", args.part.display());
        }
        eprintln!("notice: not in {}: {list}", args.part.display());
    }
    std::fs::create_dir_all(&args.output).with_context(|| format!("cannot create {}", args.output.display()))?;
    let mut written = 0;
    for (path, files) in paths.iter().zip(&plan.files) {
        let (Some(d), false) = (decoder.as_mut(), files.is_empty()) else { continue };
        let part = read_part(path)?;
        for (at, file) in files {
            let line = part.index.get(*at).with_context(|| format!("{} changed while it was read", path.display()))?;
            let codes =
                part.entry_codes(line).with_context(|| format!("{} changed while it was read", path.display()))?;
            d.decoder.reset();
            let mut pcm = Vec::new();
            d.decoder.push(codes, &mut pcm)?;
            pcm.truncate(kept_samples(&d.package, line, (codes.len() / d.decoder.codes_per_frame()) as u64));
            audio::write_wav(file, &pcm, d.package.sample_rate())
                .with_context(|| format!("cannot write {}", file.display()))?;
            written += 1;
        }
    }
    eprintln!("wrote {} into {}", count(written, "file"), args.output.display());
    if !plan.skipped.is_empty() {
        let named: Vec<String> =
            plan.skipped.iter().take(10).map(|(id, why)| format!("`{}` ({why})", id.escape_debug())).collect();
        let more = plan.skipped.len().saturating_sub(named.len());
        bail!(
            "skipped {} that cannot name a file: {}{}",
            count(plan.skipped.len(), "id"),
            named.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() }
        );
    }
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
    outln!(
        "{} parts, {frames} frames ({:.2} h), model {} at {} stages",
        paths.len(),
        frames as f64 * meta.hop as f64 / f64::from(meta.sample_rate) / 3600.0,
        meta.model,
        meta.stages
    )?;
    outln!("| codebook | entries used | entropy (bits) | perplexity |")?;
    outln!("|---|---|---|---|")?;
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
        outln!(
            "| {book} | {:.1}% ({used} of {}) | {entropy:.2} | {:.0} |",
            100.0 * used as f64 / c.len() as f64,
            c.len(),
            entropy.exp2()
        )?;
    }
    let raw_bits = (meta.codebook_size as f64).log2() * meta.codes_per_frame as f64;
    let frame_rate = f64::from(meta.sample_rate) / meta.hop as f64;
    outln!(
        "entropy {total_bits:.2} bits a frame against {raw_bits:.0} sent: {:.2} kbps with ideal entropy coding of each codebook, {:.2} kbps as sent",
        total_bits * frame_rate / 1000.0,
        raw_bits * frame_rate / 1000.0
    )?;
    Ok(())
}
