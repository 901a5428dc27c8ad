//! `codec detokenize` (token parts back to WAV files) and `codec stats`
//! (codebook use of token parts).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use codec_core::audio;
use codec_core::corpus::part::{list_parts, read_part, PartMeta};
use codec_core::{Decoder, ModelPackage};

use super::{hex, model_id};
use crate::model_args::{notice_fallback, open_given_or_named, LEGACY_ID_NOTICE};
use crate::stdout::outln;

#[derive(clap::Args)]
pub struct DetokenizeArgs {
    /// A part (its .jsonl or .safetensors) written by `codec tokenize`, or a folder of parts
    pub part: PathBuf,
    /// Folder for the WAV files (one per entry, named by id)
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

pub fn detokenize(args: DetokenizeArgs) -> Result<()> {
    let paths = if args.part.is_dir() { list_parts(&args.part)? } else { vec![args.part.clone()] };
    if paths.is_empty() {
        bail!("no token parts in {}", args.part.display());
    }
    std::fs::create_dir_all(&args.output).with_context(|| format!("cannot create {}", args.output.display()))?;
    let wanted: HashSet<&str> = args.ids.iter().map(String::as_str).collect();
    let mut found: HashSet<String> = HashSet::new();
    let mut decoder: Option<PartDecoder> = None;
    let mut written = 0;
    // File name to the id written there: ids can name one file (`a/b` and `a__b`).
    let mut names: HashMap<String, String> = HashMap::new();
    for path in &paths {
        let full = args.limit.is_some_and(|l| written >= l);
        if full && wanted.is_empty() {
            break;
        }
        let part = read_part(path)?;
        let d = match &mut decoder {
            Some(d) => {
                d.check(&part.meta, path)?;
                d
            }
            None => decoder.insert(PartDecoder::open(&args, &part.meta, path)?),
        };
        for line in &part.index {
            if !wanted.is_empty() {
                if !wanted.contains(line.id.as_str()) {
                    continue;
                }
                found.insert(line.id.clone());
            }
            if args.limit.is_some_and(|l| written >= l) {
                continue;
            }
            let Some(codes) = part.entry_codes(line) else { continue };
            let name = format!("{}.wav", line.id.replace(['/', '\\'], "__"));
            let path = args.output.join(&name);
            if let Some(first) = names.get(&name) {
                let which = if *first == line.id {
                    format!("the id `{first}` comes twice")
                } else {
                    format!("the ids `{first}` and `{}` both name one file", line.id)
                };
                bail!(
                    "{which}, {}: refused rather than overwritten (detokenize them apart with --ids)",
                    path.display()
                );
            }
            names.insert(name, line.id.clone());
            d.decoder.reset();
            let mut pcm = Vec::new();
            d.decoder.push(codes, &mut pcm)?;
            audio::write_wav(&path, &pcm, d.package.sample_rate())
                .with_context(|| format!("cannot write {}", path.display()))?;
            written += 1;
        }
    }
    let mut unknown: Vec<&str> = wanted.iter().copied().filter(|id| !found.contains(*id)).collect();
    unknown.sort_unstable();
    if !unknown.is_empty() {
        let list = unknown.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(", ");
        if found.is_empty() {
            bail!("none of the ids is in {}: {list}", args.part.display());
        }
        eprintln!("notice: not in {}: {list}", args.part.display());
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
