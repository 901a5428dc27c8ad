//! Token files and corpus parts, through codec-core's readers and writers:
//! `.tok` files as `codec encode` writes them, and the parts `codec
//! tokenize` writes and `codec detokenize` reads.

use std::path::{Path, PathBuf};

use codec_core::bitstream::{CodeLayout, TokenFile, TokenHeader};
use codec_core::corpus::part::{part_paths, read_part, write_part as write_core_part, IndexLine, Part, PartMeta};
use codec_core::OutputFile;
use numpy::PyArray2;
use pyo3::prelude::*;

use crate::model::Model;
use crate::{arrays, codec_err};

/// The codes of a `.tok` file, uint16 `[frames, codebooks]`. Only a regular
/// file is read (not a FIFO or a device), and no more than its header says.
#[pyfunction]
pub(crate) fn read_tok(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyArray2<u16>>> {
    let tokens = py
        .allow_threads(|| -> Result<TokenFile, String> {
            let mut file = codec_core::input::open_regular(&path).map_err(|e| format!("cannot read {e}"))?;
            TokenFile::read_from(&mut file).map_err(|e| format!("{}: {e}", path.display()))
        })
        .map_err(codec_err)?;
    let per_frame = usize::from(tokens.header.layout.codebooks);
    arrays::codes_array(py, tokens.codes, per_frame)
}

/// Writes codes `[frames, codebooks]` of `model` as a `.tok` file, the
/// bytes `codec encode` writes for the same codes and `original_len`
/// (samples at the model's rate; by default `frames * hop` less the
/// decoder's delay, what they decode to). The file is written whole or not at all.
#[pyfunction]
#[pyo3(signature = (path, codes, model, original_len = None))]
pub(crate) fn write_tok(
    py: Python<'_>,
    path: PathBuf,
    codes: &Bound<'_, PyAny>,
    model: &Bound<'_, Model>,
    original_len: Option<u64>,
) -> PyResult<()> {
    let model = model.get();
    let (codes, per_frame) = model.codes_in(codes, true)?;
    let p = &model.package;
    let q = p.quantizer();
    let frames = codes.len() / per_frame;
    if let Some(n) = original_len {
        model.check_original_len(n, frames)?;
    }
    let too_long = || codec_err(format!("{frames} frames is too long for a .tok file"));
    let header = TokenHeader {
        model_name: p.name().to_string(),
        model_hash: p.id(),
        sample_rate: p.sample_rate(),
        hop: u32::try_from(p.hop()).map_err(|_| too_long())?,
        layout: CodeLayout {
            codebooks: u8::try_from(per_frame).map_err(codec_err)?,
            bits: q.bits_per_code(),
            groups: u8::try_from(q.groups()).map_err(codec_err)?,
            stages: u8::try_from(per_frame / q.groups()).map_err(codec_err)?,
        },
        frames: u32::try_from(frames).map_err(|_| too_long())?,
        original_len: original_len.unwrap_or_else(|| codec_core::samples_from(p, frames as u64)),
    };
    let tokens = TokenFile { header, codes };
    py.allow_threads(|| -> Result<(), String> {
        let name = path.display();
        tokens.validate().map_err(|e| format!("cannot write {name}: {e}"))?;
        let mut out = OutputFile::create(&path).map_err(|e| e.to_string())?;
        tokens.write_to(&mut out).map_err(|e| format!("cannot write {name}: {e}"))?;
        out.commit().map_err(|e| e.to_string())
    })
    .map_err(codec_err)
}

/// A part's stem must name a file in the folder, nothing else.
fn check_stem(stem: &str) -> PyResult<()> {
    let plain = !stem.is_empty()
        && stem.len() <= 200
        && !stem.starts_with('.')
        && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if plain {
        Ok(())
    } else {
        Err(pyo3::exceptions::PyValueError::new_err(format!(
            "part name `{}` is not a plain name (letters, digits, -, _ and ., not starting with .)",
            stem.escape_debug()
        )))
    }
}

/// Writes the part `stem` (`STEM.safetensors` and `STEM.jsonl`) into
/// `folder`, created if missing: `entries` are `(id, codes)` pairs of
/// `model`'s codes, all with the same codebooks. `codec detokenize` decodes
/// it as it does the parts `codec tokenize` writes.
#[pyfunction]
pub(crate) fn write_part(
    py: Python<'_>,
    folder: PathBuf,
    stem: &str,
    model: &Bound<'_, Model>,
    entries: &Bound<'_, PyAny>,
) -> PyResult<()> {
    check_stem(stem)?;
    let m = model.get();
    let p = &m.package;
    let (mut index, mut all, mut per_frame) = (Vec::new(), Vec::new(), None);
    for entry in entries.try_iter()? {
        let (id, codes): (String, Bound<'_, PyAny>) = entry?.extract()?;
        let (codes, c) = m.codes_in(&codes, false)?;
        if *per_frame.get_or_insert(c) != c {
            return Err(codec_err(format!(
                "entry `{id}` has {c} codebooks; the entries before it have {}",
                per_frame.unwrap_or(c)
            )));
        }
        let frames = (codes.len() / c) as u64;
        let samples = codec_core::samples_from(p, frames);
        let seconds = samples as f64 / f64::from(p.sample_rate());
        index.push(IndexLine {
            id,
            path: String::new(),
            offset: Some((all.len() / c) as u64),
            frames: Some(frames),
            seconds: Some((seconds * 1000.0).round() / 1000.0),
            model: Some(p.name().to_string()),
            stages: Some(u8::try_from(c / p.quantizer().groups()).map_err(codec_err)?),
            error: None,
        });
        all.extend_from_slice(&codes);
    }
    let per_frame = per_frame.ok_or_else(|| pyo3::exceptions::PyValueError::new_err("no entries to write"))?;
    let meta = PartMeta {
        model: p.name().to_string(),
        model_id: p.id().iter().map(|b| format!("{b:02x}")).collect(),
        stages: u8::try_from(per_frame / p.quantizer().groups()).map_err(codec_err)?,
        codes_per_frame: per_frame,
        codebook_size: p.quantizer().codebook_size(),
        sample_rate: p.sample_rate(),
        hop: p.hop(),
    };
    py.allow_threads(|| -> Result<(), String> {
        std::fs::create_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
        write_core_part(&folder, stem, &meta, &index, &all).map_err(|e| e.to_string())
    })
    .map_err(codec_err)
}

/// The entries of token parts as `(id, codes)`, one part in memory at a
/// time; entries that failed to tokenize are skipped.
#[pyclass(module = "speechcodec")]
pub(crate) struct Parts {
    /// Parts not yet read, last first.
    paths: Vec<PathBuf>,
    part: Option<Part>,
    next: usize,
}

/// The entries of a `codec tokenize` output folder (or of one part, by its
/// `.jsonl` or `.safetensors` path), in part order: an iterator of
/// `(id, codes)`, codes uint16 `[frames, codebooks]`.
#[pyfunction]
pub(crate) fn read_parts(path: PathBuf) -> PyResult<Parts> {
    let mut paths = part_paths(&path).map_err(codec_err)?;
    paths.reverse();
    Ok(Parts { paths, part: None, next: 0 })
}

fn read(py: Python<'_>, path: &Path) -> PyResult<Part> {
    py.allow_threads(|| read_part(path)).map_err(codec_err)
}

#[pymethods]
impl Parts {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<(String, Bound<'py, PyArray2<u16>>)>> {
        loop {
            if let Some(part) = &self.part {
                while let Some(line) = part.index.get(self.next) {
                    self.next += 1;
                    if let Some(codes) = part.entry_codes(line) {
                        let codes = arrays::codes_array(py, codes.to_vec(), part.meta.codes_per_frame)?;
                        return Ok(Some((line.id.clone(), codes)));
                    }
                }
            }
            let Some(path) = self.paths.pop() else { return Ok(None) };
            self.part = Some(read(py, &path)?);
            self.next = 0;
        }
    }
}
