//! `codec detokenize` (token parts back to WAV files) and `codec stats`
//! (codebook use of token parts).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use codec_core::audio;
use codec_core::corpus::part::{list_parts, read_part, PartMeta};

use super::model_id;
use crate::model_args::ModelArgs;
use crate::stdout::outln;

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
