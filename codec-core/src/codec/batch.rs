//! Many whole signals through the encoder network at once, for corpus
//! tokenization on GPUs: one network call carries a block of frames of every
//! signal, so the device works on large matrices.
//!
//! The encoder is causal, so frames after a signal's end (the padding of a
//! shorter signal in a batch) never reach that signal's codes: they are
//! computed and thrown away. Signals are taken longest first and a signal
//! leaves the batch once its frames are done, so the padding is at most one
//! block. The codes equal [`Encoder`](super::Encoder)'s, frame for frame.

use std::sync::Arc;

use ndarray::ArrayView2;

use super::network::StatefulNetwork;
use super::{frames_covering, spectrum_channels, DEFAULT_BLOCK_FRAMES};
use crate::dsp::StftAnalyzer;
use crate::package::ModelPackage;
use crate::quantizer::{Quantizer, Scratch};
use crate::runtime::RuntimeOptions;
use crate::CodecError;

/// Encodes whole signals in batches; see the module docs.
pub struct BatchEncoder {
    network: StatefulNetwork,
    quantizer: Arc<dyn Quantizer>,
    stft: StftAnalyzer,
    stages: usize,
    hop: usize,
    channels: usize,
    latent_dim: usize,
    state_size: usize,
    block_frames: usize,
    scratch: Scratch,
    decoder_delay: usize,
}

impl BatchEncoder {
    /// An encoder of `stages` stages of codes a frame.
    ///
    /// # Errors
    /// A stage count the model was not trained for, or a graph that does not load.
    pub fn new(package: &ModelPackage, options: RuntimeOptions, stages: usize) -> Result<Self, CodecError> {
        let quantizer = package.quantizer().clone();
        quantizer.check_stages(stages)?;
        let m = package.manifest();
        let channels = spectrum_channels(package);
        let network =
            StatefulNetwork::load("encoder", &package.encoder_graph()?, options, &m.encoder, channels, m.latent_dim)?;
        Ok(Self {
            network,
            quantizer,
            stft: StftAnalyzer::new(m.stft.n_fft, m.hop)?,
            stages,
            hop: m.hop,
            channels,
            latent_dim: m.latent_dim,
            state_size: m.encoder.state_size,
            block_frames: DEFAULT_BLOCK_FRAMES,
            scratch: Scratch::new(),
            decoder_delay: m.decoder_delay_samples(),
        })
    }

    /// Stages of codes a frame.
    pub fn stages(&self) -> usize {
        self.stages
    }

    /// Codes a frame.
    pub fn codes_per_frame(&self) -> usize {
        self.quantizer.codes_per_frame(self.stages)
    }

    /// The device the network runs on, and why not the one asked for.
    pub fn device(&self) -> (crate::runtime::Device, Option<&str>) {
        (self.network.session().device(), self.network.session().fallback_reason())
    }

    /// The codes of each signal (mono, at the model's rate), as
    /// [`Encoder::push`](super::Encoder::push) of the whole signal and
    /// [`Encoder::flush`](super::Encoder::flush) would give them.
    ///
    /// # Errors
    /// An empty signal, or a network that fails to run.
    pub fn encode(&mut self, signals: &[&[f32]]) -> Result<Vec<Vec<u16>>, CodecError> {
        if signals.iter().any(|s| s.is_empty()) {
            return Err(CodecError::Mismatch("the audio is empty: nothing to encode".into()));
        }
        let spectra: Vec<Vec<f32>> = signals.iter().map(|s| self.spectrum(s)).collect::<Result<_, _>>()?;
        let frames: Vec<usize> = spectra.iter().map(|s| s.len() / self.channels).collect();
        // Longest first: the signals still running are always a prefix.
        let mut order: Vec<usize> = (0..signals.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(frames[i]));
        let latents = self.run_network(&order, &spectra, &frames)?;
        let per_frame = self.codes_per_frame();
        let mut codes = vec![Vec::new(); signals.len()];
        for (k, &i) in order.iter().enumerate() {
            let latent = ArrayView2::from_shape((frames[i], self.latent_dim), &latents[k][..])
                .map_err(|e| CodecError::Internal(e.to_string()))?;
            codes[i] = vec![0; frames[i] * per_frame];
            self.quantizer.encode(latent, self.stages, &mut codes[i], &mut self.scratch)?;
        }
        Ok(codes)
    }

    /// Frame-major `[frames, C]` STFT frames of a signal, the last hop padded
    /// with zeros and followed by the hops of zeros the encoder's flush adds.
    fn spectrum(&mut self, signal: &[f32]) -> Result<Vec<f32>, CodecError> {
        let frames = frames_covering(signal.len() as u64, self.hop, self.decoder_delay) as usize;
        let mut out = vec![0.0; frames * self.channels];
        let mut hop = vec![0.0; self.hop];
        self.stft.reset();
        for (t, frame) in out.chunks_exact_mut(self.channels).enumerate() {
            hop.fill(0.0);
            let start = (t * self.hop).min(signal.len());
            let end = (start + self.hop).min(signal.len());
            hop[..end - start].copy_from_slice(&signal[start..end]);
            self.stft.push(&hop, frame)?;
        }
        Ok(out)
    }

    /// Frame-major latents of the signals in `order`, in that order.
    fn run_network(
        &mut self,
        order: &[usize],
        spectra: &[Vec<f32>],
        frames: &[usize],
    ) -> Result<Vec<Vec<f32>>, CodecError> {
        let (c, d, s) = (self.channels, self.latent_dim, self.state_size);
        let longest = order.first().map_or(0, |&i| frames[i]);
        let mut latents: Vec<Vec<f32>> = order.iter().map(|&i| vec![0.0; frames[i] * d]).collect();
        let mut state = vec![0.0; order.len() * s];
        let (mut input, mut output) = (Vec::new(), Vec::new());
        for t0 in (0..longest).step_by(self.block_frames) {
            let live = order.iter().take_while(|&&i| frames[i] > t0).count();
            let n = self.block_frames.min(longest - t0);
            input.clear();
            input.resize(live * c * n, 0.0);
            for (k, &i) in order[..live].iter().enumerate() {
                let item = &mut input[k * c * n..(k + 1) * c * n];
                for t in t0..frames[i].min(t0 + n) {
                    for ch in 0..c {
                        item[ch * n + t - t0] = spectra[i][t * c + ch];
                    }
                }
            }
            output.resize(live * d * n, 0.0);
            self.network.run_batch(&input, live, n, &mut state[..live * s], &mut output)?;
            for (k, &i) in order[..live].iter().enumerate() {
                let item = &output[k * d * n..(k + 1) * d * n];
                for t in t0..frames[i].min(t0 + n) {
                    for ch in 0..d {
                        latents[k][t * d + ch] = item[ch * n + t - t0];
                    }
                }
            }
        }
        Ok(latents)
    }
}
