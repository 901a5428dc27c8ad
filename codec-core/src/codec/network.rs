//! A network graph with its streaming state carried between calls.

use ort::memory::Allocator;
use ort::session::IoBinding;
use ort::value::{Tensor, TensorRef};
use ort::AsPointer;

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
    names: [String; 4],
    bound: Option<Bound>,
}

/// Tensors bound to the graph's inputs and outputs once, for calls of a fixed
/// frame count: a streaming call then writes its frames in place and runs,
/// with no allocation on either side of the ONNX Runtime boundary.
struct Bound {
    frames: usize,
    binding: IoBinding,
    input: Tensor<f32>,
    state: Tensor<f32>,
    output: Tensor<f32>,
    next_state: Tensor<f32>,
}

impl Bound {
    fn new(
        session: &NetworkSession,
        names: &[String; 4],
        shapes: [[usize; 3]; 2],
        state: usize,
    ) -> Result<Self, RuntimeError> {
        let allocator = Allocator::default();
        let input = Tensor::<f32>::new(&allocator, shapes[0])?;
        let mut output = Tensor::<f32>::new(&allocator, shapes[1])?;
        let state_t = Tensor::<f32>::new(&allocator, [1usize, state])?;
        let mut next_state = Tensor::<f32>::new(&allocator, [1usize, state])?;
        let mut binding = session.session.create_binding()?;
        binding.bind_input(names[0].clone(), &input)?;
        binding.bind_input(names[1].clone(), &state_t)?;
        binding.bind_output(names[2].clone(), &mut output)?;
        binding.bind_output(names[3].clone(), &mut next_state)?;
        Ok(Self { frames: shapes[0][2], binding, input, state: state_t, output, next_state })
    }
}

impl StatefulNetwork {
    pub(crate) fn load(
        graph: &'static str,
        model: &[u8],
        options: RuntimeOptions,
        spec: &GraphSpec,
        in_channels: usize,
        out_channels: usize,
    ) -> Result<Self, RuntimeError> {
        let session = NetworkSession::load(model, options)?;
        check_signature(graph, &session, spec, in_channels, out_channels)?;
        let names = [spec.inputs[0].clone(), spec.inputs[1].clone(), spec.outputs[0].clone(), spec.outputs[1].clone()];
        Ok(Self { graph, session, state: vec![0.0; spec.state_size], in_channels, out_channels, names, bound: None })
    }

    pub(crate) fn session(&self) -> &NetworkSession {
        &self.session
    }

    /// Runs `n` frames: `input` is channel-first `[C_in, n]`, `output` `[C_out, n]`.
    ///
    /// Calls of one frame (streaming) go through bound tensors; others build
    /// their inputs and outputs per call.
    pub(crate) fn run(&mut self, input: &[f32], n: usize, output: &mut [f32]) -> Result<(), RuntimeError> {
        if n == 1 {
            return self.run_bound(input, n, output);
        }
        self.run_unbound(input, n, output)
    }

    fn run_bound(&mut self, input: &[f32], n: usize, output: &mut [f32]) -> Result<(), RuntimeError> {
        if self.bound.as_ref().is_none_or(|b| b.frames != n) {
            let shapes = [[1, self.in_channels, n], [1, self.out_channels, n]];
            let mut bound = Bound::new(&self.session, &self.names, shapes, self.state.len())?;
            bound.state.extract_tensor_mut().1.copy_from_slice(&self.state);
            self.bound = Some(bound);
        }
        let Some(b) = self.bound.as_mut() else {
            return Err(RuntimeError::Ort("no bound tensors".into()));
        };
        b.input.extract_tensor_mut().1.copy_from_slice(input);
        let run = ort::api().RunWithBinding;
        // SAFETY: the session and the binding are alive and belong together; the
        // bound tensors live in `b` as long as the binding does.
        let status = unsafe { run(self.session.session.ptr_mut(), std::ptr::null(), b.binding.ptr()) };
        if let Some(e) = status_error(status) {
            return Err(RuntimeError::Ort(e));
        }
        output.copy_from_slice(b.output.extract_tensor().1);
        let next = b.next_state.extract_tensor().1;
        b.state.extract_tensor_mut().1.copy_from_slice(next);
        self.state.copy_from_slice(next);
        Ok(())
    }

    fn run_unbound(&mut self, input: &[f32], n: usize, output: &mut [f32]) -> Result<(), RuntimeError> {
        // One stream is a batch of one, run on the network's own state.
        let mut state = std::mem::take(&mut self.state);
        let result = self.run_batch(input, 1, n, &mut state, output);
        self.state = state;
        result?;
        if let Some(b) = self.bound.as_mut() {
            b.state.extract_tensor_mut().1.copy_from_slice(&self.state);
        }
        Ok(())
    }

    /// Runs `batch` independent streams of `n` frames each: `input` is
    /// `[batch, C_in, n]`, `state` `[batch, S]` (replaced by the next state),
    /// `output` `[batch, C_out, n]`.
    pub(crate) fn run_batch(
        &mut self,
        input: &[f32],
        batch: usize,
        n: usize,
        state: &mut [f32],
        output: &mut [f32],
    ) -> Result<(), RuntimeError> {
        let s = state.len() / batch.max(1);
        debug_assert_eq!(input.len(), batch * self.in_channels * n);
        debug_assert_eq!(state.len(), batch * s);
        debug_assert_eq!(output.len(), batch * self.out_channels * n);
        let frames = TensorRef::from_array_view(([batch, self.in_channels, n], input))?;
        let state_in = TensorRef::from_array_view(([batch, s], &state[..]))?;
        let outputs = self.session.session.run(ort::inputs![frames, state_in])?;
        let (shape, data) = outputs[0].try_extract_tensor::<f32>()?;
        let expected = [batch, self.out_channels, n];
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
        if next.len() != state.len() {
            return Err(RuntimeError::BadOutput {
                graph: self.graph,
                what: "state",
                expected: vec![batch, s],
                actual: shape.iter().map(|&d| d as usize).collect(),
            });
        }
        state.copy_from_slice(next);
        Ok(())
    }

    pub(crate) fn reset(&mut self) {
        self.state.fill(0.0);
        if let Some(b) = self.bound.as_mut() {
            b.state.extract_tensor_mut().1.fill(0.0);
        }
    }
}

/// The message of a failed ONNX Runtime call, releasing its status.
fn status_error(status: ort::sys::OrtStatusPtr) -> Option<String> {
    let ptr = status.0;
    if ptr.is_null() {
        return None;
    }
    let api = ort::api();
    // SAFETY: a non-null status from ONNX Runtime, read once and released once.
    unsafe {
        let message = std::ffi::CStr::from_ptr((api.GetErrorMessage)(ptr)).to_string_lossy().into_owned();
        (api.ReleaseStatus)(ptr);
        Some(message)
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
