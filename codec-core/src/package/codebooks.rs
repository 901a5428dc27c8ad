//! `codebooks.safetensors`: one `[size, width]` float32 table per quantizer
//! stage, named `group{g}.stage{s}`.

use std::sync::Arc;

use ndarray::Array2;
use safetensors::{Dtype, SafeTensors};

use super::{Manifest, PackageError};
use crate::quantizer::{Codebook, Grvq, Mcrvq, Quantizer};

/// Larger than any codebook file a manifest can describe (64 tables of 65536 x 4096 would not fit anyway).
pub(super) const MAX_BYTES: u64 = 512 << 20;

/// The quantizer the codebooks file's `bytes` (already checked against its
/// hash) describe, as the manifest says it must be.
pub(super) fn load(bytes: &[u8], manifest: &Manifest) -> Result<Arc<dyn Quantizer>, PackageError> {
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| PackageError::Codebooks(e.to_string()))?;
    let q = &manifest.quantizer;
    let width = if q.kind == "mcrvq" { manifest.latent_dim } else { manifest.latent_dim / q.groups };
    let table = |g: usize, s: usize| -> Result<Codebook, PackageError> {
        let name = format!("group{g}.stage{s}");
        let t = tensors.tensor(&name).map_err(|_| PackageError::Codebooks(format!("no table `{name}`")))?;
        if t.dtype() != Dtype::F32 || t.shape() != [q.codebook_size, width] {
            return Err(PackageError::Codebooks(format!(
                "`{name}` is {:?} {:?}; the manifest needs F32 [{}, {width}]",
                t.dtype(),
                t.shape(),
                q.codebook_size
            )));
        }
        let values: Vec<f32> = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(PackageError::Codebooks(format!("`{name}` holds a value that is not finite")));
        }
        let entries = Array2::from_shape_vec((q.codebook_size, width), values)
            .map_err(|e| PackageError::Codebooks(e.to_string()))?;
        Ok(Codebook::new(entries))
    };
    if q.kind == "mcrvq" {
        let books = (0..q.stages).map(|s| table(0, s)).collect::<Result<Vec<_>, _>>()?;
        let masks = q.masked_stages.iter().map(|m| m[0]..m[1]).collect();
        Ok(Arc::new(Mcrvq::new(manifest.latent_dim, books, masks, q.min_stages)?))
    } else {
        let books = (0..q.groups)
            .map(|g| (0..q.stages).map(|s| table(g, s)).collect::<Result<Vec<_>, _>>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(Grvq::new(manifest.latent_dim, books, q.min_stages)?))
    }
}
