//! Token files the tests build by hand.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use codec_core::bitstream::{TokenFile, TokenHeader};

use super::{ok, s, sample};

/// A valid `.tok` of `frames` frames of zero codes for the default model,
/// written as a sparse file: its payload is a hole, so a 151 MB file takes
/// a few kB of disk. The header is the sample's, with the length changed.
pub fn zero_tokens(dir: &Path, frames: u32) -> PathBuf {
    let small = dir.join("small.tok");
    ok(&["encode", "-q", s(&sample()), s(&small)]);
    let bytes = fs::read(&small).expect("read");
    let header = TokenFile::from_bytes(&bytes).expect("parse").header;
    let header = TokenHeader { frames, original_len: u64::from(frames - 1) * u64::from(header.hop), ..header };
    header.validate().expect("a valid header");
    // The layout of the format: the name, then fixed fields up to the payload.
    let name = usize::from(bytes[8]);
    let mut head = bytes[..69 + name].to_vec();
    let payload = header.encoded_len() - head.len() - 4;
    head[53 + name..57 + name].copy_from_slice(&frames.to_le_bytes());
    head[57 + name..65 + name].copy_from_slice(&header.original_len.to_le_bytes());
    head[65 + name..69 + name].copy_from_slice(&(payload as u32).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&head);
    let zeros = vec![0u8; 1 << 20];
    let mut left = payload;
    while left > 0 {
        let n = left.min(zeros.len());
        crc.update(&zeros[..n]);
        left -= n;
    }
    let path = dir.join(format!("zeros-{frames}.tok"));
    let mut file = fs::File::create(&path).expect("create");
    file.write_all(&head).expect("head");
    file.seek(SeekFrom::Current(payload as i64)).expect("hole");
    file.write_all(&crc.finalize().to_le_bytes()).expect("crc");
    path
}
