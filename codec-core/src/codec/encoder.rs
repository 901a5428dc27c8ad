//! PCM at the model's rate in, codes out, one frame per hop.

use std::sync::Arc;

use ndarray::ArrayView2;

use super::network::{to_channel_first, to_frame_major, StatefulNetwork};
use super::{check_block_frames, frames_covering, spectrum_channels, DEFAULT_BLOCK_FRAMES};
use crate::dsp::StftAnalyzer;
use crate::package::ModelPackage;
use crate::quantizer::{Quantizer, Scratch};
use crate::runtime::RuntimeOptions;
use crate::watermark::{Embedder, Watermark, WatermarkError};
use crate::CodecError;

/// The streaming encoder: push samples, get codes.
///
/// A frame is emitted for every complete hop; [`Encoder::flush`] ends the
/// stream by padding the last hop and adding the frames the decoder needs to
/// complete it ([`crate::frames_for`] in all). Buffers are sized in `new`, so a warm encoder fed at most
/// `block_frames` hops a call does not allocate.
pub struct Encoder {
    network: StatefulNetwork,
    quantizer: Arc<dyn Quantizer>,
    stft: StftAnalyzer,
    stages: usize,
    hop: usize,
    channels: usize,
    latent_dim: usize,
    block_frames: usize,
    pending: Vec<f32>,
    frames_fm: Vec<f32>,
    frames_cf: Vec<f32>,
    latent_cf: Vec<f32>,
    latent_fm: Vec<f32>,
    scratch: Scratch,
    frames_out: u64,
    samples_in: u64,
    /// Samples the decoder's synthesis lags, which the flush must cover.
    decoder_delay: usize,
    watermark: Option<Embedder>,
}

impl Encoder {
    /// An encoder that emits `stages` stages of codes a frame.
    ///
    /// # Errors
    /// A stage count the model was not trained for, or a graph that does not load.
    pub fn new(package: &ModelPackage, options: RuntimeOptions, stages: usize) -> Result<Self, CodecError> {
        Self::with_block(package, options, stages, DEFAULT_BLOCK_FRAMES)
    }

    /// As [`Encoder::new`], with at most `block_frames` frames a network call.
    ///
    /// # Errors
    /// As [`Encoder::new`], and a block of more than
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
        let channels = spectrum_channels(package);
        let latent_dim = m.latent_dim;
        let network =
            StatefulNetwork::load("encoder", &package.encoder_graph()?, options, &m.encoder, channels, latent_dim)?;
        Ok(Self {
            network,
            quantizer,
            stft: StftAnalyzer::new(m.stft.n_fft, m.hop)?,
            stages,
            hop: m.hop,
            channels,
            latent_dim,
            block_frames,
            pending: Vec::with_capacity(m.hop),
            frames_fm: vec![0.0; channels * block_frames],
            frames_cf: vec![0.0; channels * block_frames],
            latent_cf: vec![0.0; latent_dim * block_frames],
            latent_fm: vec![0.0; latent_dim * block_frames],
            scratch: Scratch::new(),
            frames_out: 0,
            samples_in: 0,
            decoder_delay: m.decoder_delay_samples(),
            watermark: None,
        })
    }

    /// Embeds `watermark` in the codes from now on (`None`: no longer).
    /// Set it before the first push of a stream.
    ///
    /// # Errors
    /// A model whose quantizer has no stage to carry one (not MCRVQ).
    pub fn set_watermark(&mut self, watermark: Option<&Watermark>) -> Result<(), CodecError> {
        self.watermark = match watermark {
            None => None,
            Some(w) => {
                let stages = self.quantizer.steerable_stages();
                if stages == 0 || self.quantizer.codebook_size() > crate::watermark::MAX_CODEBOOK {
                    return Err(WatermarkError::Unsupported(format!("{:?}", self.quantizer.kind())).into());
                }
                Some(Embedder::new(w, stages, self.quantizer.codebook_size())?)
            }
        };
        Ok(())
    }

    /// Whether a watermark is embedded.
    pub fn watermarked(&self) -> bool {
        self.watermark.is_some()
    }

    /// Stages of codes a frame.
    pub fn stages(&self) -> usize {
        self.stages
    }

    /// Codes a frame.
    pub fn codes_per_frame(&self) -> usize {
        self.quantizer.codes_per_frame(self.stages)
    }

    /// Frames emitted since the start or the last reset.
    pub fn frames_out(&self) -> u64 {
        self.frames_out
    }

    /// Frames [`Encoder::flush`] would emit now: the padded partial hop, if
    /// any, and those that let the decoder complete the last sample.
    pub fn frames_to_flush(&self) -> u64 {
        frames_covering(self.samples_in, self.hop, self.decoder_delay).saturating_sub(self.frames_out)
    }

    /// The most frames a flush can emit, whatever was pushed: a buffer this
    /// large never needs to grow for one.
    pub fn max_flush_frames(&self) -> usize {
        1 + self.decoder_delay.div_ceil(self.hop)
    }

    /// The device the encoder network runs on, and why not the one asked for.
    pub fn device(&self) -> (crate::runtime::Device, Option<&str>) {
        (self.network.session().device(), self.network.session().fallback_reason())
    }

    /// Takes samples (any count) and appends the codes of every completed
    /// frame to `codes`. Returns the number of frames emitted.
    ///
    /// # Errors
    /// A network that fails to run.
    pub fn push(&mut self, mut pcm: &[f32], codes: &mut Vec<u16>) -> Result<usize, CodecError> {
        self.samples_in += pcm.len() as u64;
        let mut emitted = 0;
        let mut filled = 0;
        while !pcm.is_empty() {
            let take = (self.hop - self.pending.len()).min(pcm.len());
            self.pending.extend_from_slice(&pcm[..take]);
            pcm = &pcm[take..];
            if self.pending.len() == self.hop {
                let frame = &mut self.frames_fm[filled * self.channels..(filled + 1) * self.channels];
                self.stft.push(&self.pending, frame)?;
                self.pending.clear();
                filled += 1;
                if filled == self.block_frames {
                    emitted += self.run_block(filled, codes)?;
                    filled = 0;
                }
            }
        }
        if filled > 0 {
            emitted += self.run_block(filled, codes)?;
        }
        Ok(emitted)
    }

    /// Ends the stream: pads the partial hop with zeros and adds the frames
    /// that let the decoder complete the last sample. Call
    /// [`Encoder::reset`] before encoding another stream.
    ///
    /// # Errors
    /// A network that fails to run.
    pub fn flush(&mut self, codes: &mut Vec<u16>) -> Result<usize, CodecError> {
        let target = frames_covering(self.samples_in, self.hop, self.decoder_delay);
        let mut emitted = 0;
        if !self.pending.is_empty() {
            let missing = self.hop - self.pending.len();
            emitted += self.push_zeros(missing, codes)?;
        }
        while self.frames_out < target {
            emitted += self.push_zeros(self.hop, codes)?;
        }
        Ok(emitted)
    }

    fn push_zeros(&mut self, mut n: usize, codes: &mut Vec<u16>) -> Result<usize, CodecError> {
        const ZEROS: [f32; 256] = [0.0; 256];
        let mut emitted = 0;
        while n > 0 {
            let k = n.min(ZEROS.len());
            emitted += self.push(&ZEROS[..k], codes)?;
            n -= k;
        }
        Ok(emitted)
    }

    fn run_block(&mut self, n: usize, codes: &mut Vec<u16>) -> Result<usize, CodecError> {
        let (c, d) = (self.channels, self.latent_dim);
        to_channel_first(&self.frames_fm[..n * c], n, c, &mut self.frames_cf[..n * c]);
        self.network.run(&self.frames_cf[..n * c], n, &mut self.latent_cf[..n * d])?;
        to_frame_major(&self.latent_cf[..n * d], n, d, &mut self.latent_fm[..n * d]);
        let per_frame = self.codes_per_frame();
        let latent = ArrayView2::from_shape((n, d), &self.latent_fm[..n * d])
            .map_err(|e| CodecError::Internal(e.to_string()))?;
        let start = codes.len();
        codes.resize(start + n * per_frame, 0);
        let out = &mut codes[start..];
        match self.watermark.as_mut() {
            Some(w) => self.quantizer.encode_steered(latent, self.stages, out, &mut self.scratch, w)?,
            None => self.quantizer.encode(latent, self.stages, out, &mut self.scratch)?,
        }
        self.frames_out += n as u64;
        Ok(n)
    }

    /// Back to the state of a new encoder, keeping the loaded network.
    pub fn reset(&mut self) {
        self.network.reset();
        self.stft.reset();
        self.pending.clear();
        self.frames_out = 0;
        self.samples_in = 0;
        if let Some(w) = self.watermark.as_mut() {
            w.reset();
        }
    }
}
