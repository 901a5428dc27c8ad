//! Codes in, PCM at the model's rate out, one hop per frame.

use std::sync::Arc;

use ndarray::ArrayViewMut2;

use super::network::{to_channel_first, StatefulNetwork};
use super::{check_block_frames, DEFAULT_BLOCK_FRAMES};
use crate::dsp::StftSynthesizer;
use crate::package::ModelPackage;
use crate::quantizer::Quantizer;
use crate::runtime::RuntimeOptions;
use crate::CodecError;

/// The streaming decoder: push frames of codes, get samples.
///
/// Overlap-add makes the output lag the frames by
/// [`Manifest::decoder_delay_samples`](crate::package::Manifest::decoder_delay_samples):
/// for a package that synthesizes one frame a token, the first frame yields
/// nothing and frame `t` completes the samples of hop `t - 1`; for one that
/// synthesizes two at half the hop, the first frame yields nothing, the
/// second half a hop, and frame `t` the hop that ends half a hop before hop
/// `t - 1` does. Every frame after those yields one hop.
pub struct Decoder {
    network: StatefulNetwork,
    quantizer: Arc<dyn Quantizer>,
    synth: StftSynthesizer,
    stages: usize,
    hop: usize,
    /// Floats of one synthesis frame (a token's output holds one or more).
    sub_len: usize,
    /// Synthesis frames pushed, to drop those that only complete padding.
    subs_in: u64,
    channels: usize,
    latent_dim: usize,
    block_frames: usize,
    latent_fm: Vec<f32>,
    latent_cf: Vec<f32>,
    spec_cf: Vec<f32>,
    frame: Vec<f32>,
    hop_out: Vec<f32>,
    frames_in: u64,
    /// The latent of the last frame received, what concealment repeats.
    last_latent: Vec<f32>,
    /// Frames concealed in a row, which sets the fade.
    lost_run: u32,
    concealed: u64,
}

/// Concealed frames played at full level before the fade starts.
const CONCEAL_HOLD_FRAMES: u32 = 1;
/// Level kept from one concealed frame to the next once fading.
const CONCEAL_DECAY: f32 = 0.6;
/// After this many lost frames in a row the output is silence.
const CONCEAL_MAX_FRAMES: u32 = 8;

/// The level of the `run`-th concealed frame in a row (1-based).
fn conceal_gain(run: u32) -> f32 {
    if run > CONCEAL_MAX_FRAMES {
        0.0
    } else {
        CONCEAL_DECAY.powi(run.saturating_sub(CONCEAL_HOLD_FRAMES) as i32)
    }
}

impl Decoder {
    /// A decoder for frames of `stages` stages of codes.
    ///
    /// # Errors
    /// A stage count the model was not trained for, or a graph that does not load.
    pub fn new(package: &ModelPackage, options: RuntimeOptions, stages: usize) -> Result<Self, CodecError> {
        Self::with_block(package, options, stages, DEFAULT_BLOCK_FRAMES)
    }

    /// As [`Decoder::new`], with at most `block_frames` frames a network call.
    ///
    /// # Errors
    /// As [`Decoder::new`], and a block of more than
    /// [`MAX_BLOCK_FRAMES`](crate::MAX_BLOCK_FRAMES) frames.
    pub fn with_block(
        package: &ModelPackage,
        options: RuntimeOptions,
        stages: usize,
        block_frames: usize,
    ) -> Result<Self, CodecError> {
        let block_frames = check_block_frames(block_frames)?;
        let quantizer = package.quantizer().clone();
        quantizer.check_stages(stages)?;
        let m = package.manifest();
        let channels = m.decoder_channels();
        let latent_dim = m.latent_dim;
        let synth = StftSynthesizer::new(m.stft.n_fft, m.synthesis_hop())?;
        let network =
            StatefulNetwork::load("decoder", &package.decoder_graph()?, options, &m.decoder, latent_dim, channels)?;
        Ok(Self {
            network,
            quantizer,
            sub_len: synth.frame_len(),
            subs_in: 0,
            hop_out: vec![0.0; synth.hop()],
            synth,
            stages,
            hop: m.hop,
            channels,
            latent_dim,
            block_frames,
            latent_fm: vec![0.0; latent_dim * block_frames],
            latent_cf: vec![0.0; latent_dim * block_frames],
            spec_cf: vec![0.0; channels * block_frames],
            frame: vec![0.0; channels],
            frames_in: 0,
            last_latent: vec![0.0; latent_dim],
            lost_run: CONCEAL_MAX_FRAMES,
            concealed: 0,
        })
    }

    pub fn stages(&self) -> usize {
        self.stages
    }

    pub fn codes_per_frame(&self) -> usize {
        self.quantizer.codes_per_frame(self.stages)
    }

    /// Frames decoded since the start or the last reset.
    pub fn frames_in(&self) -> u64 {
        self.frames_in
    }

    /// The device the decoder network runs on, and why not the one asked for.
    pub fn device(&self) -> (crate::runtime::Device, Option<&str>) {
        (self.network.session().device(), self.network.session().fallback_reason())
    }

    /// Decodes whole frames of codes (frame-major, `codes_per_frame` each) and
    /// appends the completed samples to `pcm`. Returns the samples appended.
    ///
    /// # Errors
    /// Codes that are not whole frames or not in their codebooks, or a network
    /// that fails to run.
    pub fn push(&mut self, codes: &[u16], pcm: &mut Vec<f32>) -> Result<usize, CodecError> {
        let per_frame = self.codes_per_frame();
        if !codes.len().is_multiple_of(per_frame) {
            return Err(CodecError::PartialFrame { codes: codes.len(), per_frame });
        }
        let start = pcm.len();
        for block in codes.chunks(per_frame * self.block_frames) {
            self.run_block(block, block.len() / per_frame, pcm)?;
        }
        Ok(pcm.len() - start)
    }

    /// Stands in for one lost frame and appends the samples it completes to
    /// `pcm`, as [`Decoder::push`] would (nothing for the very first frame).
    /// Returns the samples appended.
    ///
    /// The decoder runs on the last frame's latent again, so its state stays
    /// continuous and the next real frame joins without a click; the output
    /// fades after the first concealed frame and is silent after
    /// `CONCEAL_MAX_FRAMES` (160 ms at 50 frames a second), so a long gap is
    /// quiet rather than a held buzz. Before any frame was received it gives
    /// silence.
    ///
    /// # Errors
    /// A network that fails to run.
    pub fn conceal(&mut self, pcm: &mut Vec<f32>) -> Result<usize, CodecError> {
        let d = self.latent_dim;
        self.lost_run = self.lost_run.saturating_add(1);
        self.latent_fm[..d].copy_from_slice(&self.last_latent);
        let start = pcm.len();
        self.synthesize(1, conceal_gain(self.lost_run), pcm)?;
        self.concealed += 1;
        Ok(pcm.len() - start)
    }

    /// Frames concealed since the start or the last reset.
    pub fn frames_concealed(&self) -> u64 {
        self.concealed
    }

    fn run_block(&mut self, codes: &[u16], n: usize, pcm: &mut Vec<f32>) -> Result<(), CodecError> {
        let d = self.latent_dim;
        let latent = ArrayViewMut2::from_shape((n, d), &mut self.latent_fm[..n * d])
            .map_err(|e| CodecError::Internal(e.to_string()))?;
        self.quantizer.decode(codes, self.stages, latent)?;
        self.last_latent.copy_from_slice(&self.latent_fm[(n - 1) * d..n * d]);
        self.lost_run = 0;
        self.synthesize(n, 1.0, pcm)
    }

    /// Runs the network on the first `n` latent frames and overlap-adds its
    /// spectra, scaled by `gain`.
    fn synthesize(&mut self, n: usize, gain: f32, pcm: &mut Vec<f32>) -> Result<(), CodecError> {
        let (c, d) = (self.channels, self.latent_dim);
        to_channel_first(&self.latent_fm[..n * d], n, d, &mut self.latent_cf[..n * d]);
        self.network.run(&self.latent_cf[..n * d], n, &mut self.spec_cf[..n * c])?;
        let lead = self.synth.overlap() as u64 - 1;
        for t in 0..n {
            for ch in 0..c {
                self.frame[ch] = gain * self.spec_cf[ch * n + t];
            }
            for sub in self.frame.chunks_exact(self.sub_len) {
                self.synth.push(sub, &mut self.hop_out)?;
                // The first pushes complete the hops before the signal starts: padding, not output.
                if self.subs_in >= lead {
                    pcm.extend_from_slice(&self.hop_out);
                }
                self.subs_in += 1;
            }
            self.frames_in += 1;
        }
        Ok(())
    }

    /// Back to the state of a new decoder, keeping the loaded network.
    pub fn reset(&mut self) {
        self.network.reset();
        self.synth.reset();
        self.frames_in = 0;
        self.subs_in = 0;
        self.last_latent.fill(0.0);
        self.lost_run = CONCEAL_MAX_FRAMES;
        self.concealed = 0;
    }

    /// Samples per frame.
    pub fn hop(&self) -> usize {
        self.hop
    }
}
