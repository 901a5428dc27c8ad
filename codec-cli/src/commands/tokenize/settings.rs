//! `tokenize.json` in the output folder: the settings that decide which
//! files go into which part and what their codes are. A rerun skips the
//! parts already there, which is only right when it would have written the
//! same parts: one with other settings is refused.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use codec_core::corpus::part::list_parts;
use serde::{Deserialize, Serialize};

pub const FILE_NAME: &str = "tokenize.json";

/// A settings file is a few hundred bytes.
const MAX_BYTES: u64 = 64 << 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub model: String,
    pub model_id: String,
    pub stages: u8,
    pub part_files: u64,
    /// N of `--shard K/N` (1 without): the workers of one run share a folder.
    pub shards: usize,
    pub min_seconds: f64,
}

impl Settings {
    /// `what there, what now` for every setting that differs.
    fn differences(&self, now: &Settings) -> Vec<String> {
        let mut out = Vec::new();
        let mut differ = |what: &str, there: String, here: String| {
            if there != here {
                out.push(format!("{what} {there} there, {here} now"));
            }
        };
        let model = |s: &Settings| format!("`{}` ({}…)", s.model, s.model_id.get(..16).unwrap_or(&s.model_id));
        differ("model", model(self), model(now));
        differ("--stages", self.stages.to_string(), now.stages.to_string());
        differ("--part-files", self.part_files.to_string(), now.part_files.to_string());
        differ("shards", self.shards.to_string(), now.shards.to_string());
        differ("--min-seconds", self.min_seconds.to_string(), now.min_seconds.to_string());
        out
    }
}

/// Records `now` in `dir`, or checks it against what is recorded there.
///
/// # Errors
/// Settings that differ from the recorded ones (naming both), a folder that
/// holds parts but no settings (written by an earlier release: they cannot
/// be checked), or a settings file that cannot be read or written.
pub fn record_or_check(dir: &Path, now: &Settings) -> Result<()> {
    let path = dir.join(FILE_NAME);
    match read(&path)? {
        Some(there) => check(dir, &there, now),
        None => {
            if !list_parts(dir)?.is_empty() {
                bail!(
                    "{} holds token parts but no {FILE_NAME} (an earlier release wrote them): their settings cannot be \
                     checked, so a rerun could skip or repeat files; use another folder",
                    dir.display()
                );
            }
            // Written under a temporary name and linked into place only if no
            // other worker of the run got there first; then it is checked.
            // Created 0666 less the umask, as the parts and every other output
            // (tempfile's own default, 0600, would hide it from a shared group).
            let mut builder = tempfile::Builder::new();
            builder.prefix(".tokenize-");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                builder.permissions(std::fs::Permissions::from_mode(0o666));
            }
            let mut tmp =
                builder.tempfile_in(dir).with_context(|| format!("cannot create a file in {}", dir.display()))?;
            let text = serde_json::to_string_pretty(now)? + "\n";
            tmp.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
            match tmp.persist_noclobber(&path) {
                Ok(_) => Ok(()),
                Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                    let there = read(&path)?.with_context(|| format!("{} vanished", path.display()))?;
                    check(dir, &there, now)
                }
                Err(e) => Err(e.error).with_context(|| format!("cannot write {}", path.display())),
            }
        }
    }
}

fn check(dir: &Path, there: &Settings, now: &Settings) -> Result<()> {
    let differences = there.differences(now);
    if !differences.is_empty() {
        bail!(
            "{} holds parts made with other settings ({}): use another folder, or the settings recorded in {FILE_NAME}",
            dir.display(),
            differences.join("; ")
        );
    }
    Ok(())
}

fn read(path: &Path) -> Result<Option<Settings>> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Ok(m) if !m.is_file() => bail!("{} is not a regular file", path.display()),
        _ => {}
    }
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_BYTES).read_to_string(&mut text).with_context(|| format!("cannot read {}", path.display()))?;
    let settings = serde_json::from_str(&text)
        .with_context(|| format!("{} is not the settings file of `codec tokenize`", path.display()))?;
    Ok(Some(settings))
}
