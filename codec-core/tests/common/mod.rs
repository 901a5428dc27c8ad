//! Shared by the integration tests: where the shipped data are, and golden vectors.
#![allow(dead_code)]

use std::path::PathBuf;

use ndarray::{Array2, ArrayD, IxDyn};
use safetensors::{Dtype, SafeTensors};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn model_dir(name: &str) -> PathBuf {
    repo().join("models").join(name)
}

/// The shipped packages, each with its golden vectors.
pub const MODELS: [&str; 2] = ["grvq", "mcrvq"];

/// Golden vectors the recipe's export wrote beside a package.
pub struct Golden {
    bytes: Vec<u8>,
}

impl Golden {
    pub fn load(model: &str) -> Self {
        let path = repo().join("testdata").join("golden").join(format!("{model}.safetensors"));
        Self { bytes: std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())) }
    }

    fn tensor(&self, name: &str) -> (Dtype, Vec<usize>, Vec<u8>) {
        let st = SafeTensors::deserialize(&self.bytes).expect("golden file");
        let t = st.tensor(name).unwrap_or_else(|_| panic!("golden tensor {name}"));
        (t.dtype(), t.shape().to_vec(), t.data().to_vec())
    }

    pub fn f32(&self, name: &str) -> ArrayD<f32> {
        let (dtype, shape, data) = self.tensor(name);
        assert_eq!(dtype, Dtype::F32, "{name}");
        let v = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        ArrayD::from_shape_vec(IxDyn(&shape), v).expect("shape")
    }

    pub fn i32(&self, name: &str) -> ArrayD<i32> {
        let (dtype, shape, data) = self.tensor(name);
        assert_eq!(dtype, Dtype::I32, "{name}");
        let v = data.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        ArrayD::from_shape_vec(IxDyn(&shape), v).expect("shape")
    }

    /// A channel-first `[C, T]` tensor as frame-major `[T, C]`.
    pub fn frames(&self, name: &str) -> Array2<f32> {
        let a = self.f32(name).into_dimensionality::<ndarray::Ix2>().expect("2-D");
        a.t().as_standard_layout().to_owned()
    }
}

/// Largest absolute difference.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Synthesis frames a token in a shipped package's manifest (1 unless it says more).
pub fn synthesis_frames(model: &str) -> usize {
    let text = std::fs::read_to_string(model_dir(model).join("manifest.json")).expect("manifest");
    let m: serde_json::Value = serde_json::from_str(&text).expect("manifest JSON");
    m["stft"]["synthesis_frames"].as_u64().unwrap_or(1) as usize
}
