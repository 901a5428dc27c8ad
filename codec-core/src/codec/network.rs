//! A network graph with its streaming state carried between calls.

use ort::value::TensorRef;

use crate::package::GraphSpec;
use crate::runtime::{NetworkSession, RuntimeError, RuntimeOptions};

/// The graph's inputs and outputs must be the manifest's: names, and the
/// fixed sizes (channels, state) where the graph declares them.
fn check_signature(
    graph: &'static str,
    session: &NetworkSession,
    spec: &GraphSpec,
    in_channels: usize,
    out_channels: usize,
) -> Result<(), RuntimeError> {
    let mismatch = |detail: String| RuntimeError::GraphMismatch { graph, detail };
    let s = &session.session;
    let names = |outlets: &[ort::value::Outlet]| outlets.iter().map(|o| o.name().to_string()).collect::<Vec<_>>();
    let (inputs, outputs) = (names(s.inputs()), names(s.outputs()));
    if inputs != spec.inputs || outputs != spec.outputs {
        return Err(mismatch(format!(
            "it has inputs {inputs:?} and outputs {outputs:?}; the manifest names {:?} and {:?}",
            spec.inputs, spec.outputs
        )));
    }
    let expect = [
        (&s.inputs()[0], 1, in_channels),
        (&s.inputs()[1], 1, spec.state_size),
        (&s.outputs()[0], 1, out_channels),
        (&s.outputs()[1], 1, spec.state_size),
    ];
    for (outlet, axis, size) in expect {
        let shape = outlet.dtype().tensor_shape().map(|sh| sh.to_vec()).unwrap_or_default();
        match shape.get(axis) {
            Some(&d) if d >= 0 && d as usize != size => {
                return Err(mismatch(format!(
                    "`{}` has shape {shape:?}; expected {size} on axis {axis}",
                    outlet.name()
                )))
            }
            None => return Err(mismatch(format!("`{}` is not a tensor of rank 2 or more", outlet.name()))),
            _ => {}
        }
    }
    Ok(())
}

/// `(frames [1, C_in, n], state [1, S]) -> (frames [1, C_out, n], next state)`.
pub(crate) struct StatefulNetwork {
    graph: &'static str,
    session: NetworkSession,
    state: Vec<f32>,
    in_channels: usize,
    out_channels: usize,
}

impl StatefulNetwork {
    pub(crate) fn load(
        graph: &'static str,
        path: &std::path::Path,
        options: RuntimeOptions,
        spec: &GraphSpec,
        in_channels: usize,
        out_channels: usize,
    ) -> Result<Self, RuntimeError> {
        let session = NetworkSession::load(path, options)?;
        check_signature(graph, &session, spec, in_channels, out_channels)?;
        Ok(Self { graph, session, state: vec![0.0; spec.state_size], in_channels, out_channels })
    }

    pub(crate) fn session(&self) -> &NetworkSession {
        &self.session
    }

    /// Runs `n` frames: `input` is channel-first `[C_in, n]`, `output` `[C_out, n]`.
    pub(crate) fn run(&mut self, input: &[f32], n: usize, output: &mut [f32]) -> Result<(), RuntimeError> {
        debug_assert_eq!(input.len(), self.in_channels * n);
        debug_assert_eq!(output.len(), self.out_channels * n);
        let frames = TensorRef::from_array_view(([1usize, self.in_channels, n], input))?;
        let state = TensorRef::from_array_view(([1usize, self.state.len()], &self.state[..]))?;
        let outputs = self.session.session.run(ort::inputs![frames, state])?;
        let (shape, data) = outputs[0].try_extract_tensor::<f32>()?;
        let expected = [1, self.out_channels, n];
        if shape.iter().map(|&d| d as usize).ne(expected) || data.len() != output.len() {
            return Err(RuntimeError::BadOutput {
                graph: self.graph,
                what: "frames",
                expected: expected.to_vec(),
                actual: shape.iter().map(|&d| d as usize).collect(),
            });
        }
        output.copy_from_slice(data);
        let (shape, next) = outputs[1].try_extract_tensor::<f32>()?;
        if next.len() != self.state.len() {
            return Err(RuntimeError::BadOutput {
                graph: self.graph,
                what: "state",
                expected: vec![1, self.state.len()],
                actual: shape.iter().map(|&d| d as usize).collect(),
            });
        }
        self.state.copy_from_slice(next);
        Ok(())
    }

    pub(crate) fn reset(&mut self) {
        self.state.fill(0.0);
    }
}

/// `[n, c]` frame-major into `[c, n]` channel-first.
pub(crate) fn to_channel_first(frames: &[f32], n: usize, c: usize, out: &mut [f32]) {
    for t in 0..n {
        for ch in 0..c {
            out[ch * n + t] = frames[t * c + ch];
        }
    }
}

/// `[c, n]` channel-first into `[n, c]` frame-major.
pub(crate) fn to_frame_major(cf: &[f32], n: usize, c: usize, out: &mut [f32]) {
    for ch in 0..c {
        for t in 0..n {
            out[t * c + ch] = cf[ch * n + t];
        }
    }
}
