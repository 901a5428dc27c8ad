//! Whole signals to token files and back, on the streaming objects, in large
//! chunks, with progress reported as a fraction: from PCM in memory, or
//! streamed from an audio file to codes and from a token stream to a WAV
//! file in memory that does not grow with the length of the signal. Both
//! ways give the same bytes: the networks get the same chunks.

use std::io::{Read, Write};

use crate::audio::{AudioReader, Resampler, WavWriter};
use crate::bitstream::{CodeLayout, TokenFile, TokenHeader, TokenReader};
use crate::codec::{frames_for, samples_from, Decoder, Encoder};
use crate::package::ModelPackage;
use crate::runtime::RuntimeOptions;
use crate::CodecError;

/// Samples handed to the encoder a call: five seconds at 16 kHz.
const CHUNK_SAMPLES: usize = 80_000;

/// Encodes `pcm` (mono, at the model's rate) into a token file.
///
/// # Errors
/// Empty input, a stage count the model does not support, or a network failure.
pub fn encode_pcm(
    package: &ModelPackage,
    options: RuntimeOptions,
    stages: usize,
    pcm: &[f32],
    progress: impl FnMut(f64),
) -> Result<TokenFile, CodecError> {
    let mut encoder = Encoder::new(package, options, stages)?;
    encode_with(package, &mut encoder, pcm, progress)
}

/// As [`encode_pcm`], with an encoder the caller built (and may inspect or reuse: it is reset first).
///
/// # Errors
/// As [`encode_pcm`].
pub fn encode_with(
    package: &ModelPackage,
    encoder: &mut Encoder,
    pcm: &[f32],
    mut progress: impl FnMut(f64),
) -> Result<TokenFile, CodecError> {
    let mut chunks = EncodeChunks::new(encoder);
    for (i, chunk) in pcm.chunks(CHUNK_SAMPLES).enumerate() {
        chunks.push(chunk)?;
        progress(((i + 1) * CHUNK_SAMPLES).min(pcm.len()) as f64 / pcm.len() as f64);
    }
    chunks.finish(package)
}

/// Encodes audio as it is decoded from `input`, converted to the model's
/// rate on the way. Memory holds the codes (under 1 MB an hour at 2 kbps),
/// never the audio. The codes are those [`encode_with`] makes of the whole
/// signal resampled with [`crate::audio::resample`].
///
/// `progress` gets the fraction done when the file declares its length.
///
/// # Errors
/// As [`encode_pcm`], and the errors of [`AudioReader::read_packet`].
pub fn encode_audio(
    package: &ModelPackage,
    encoder: &mut Encoder,
    input: &mut AudioReader,
    mut progress: impl FnMut(f64),
) -> Result<TokenFile, CodecError> {
    let mut resampler = Resampler::new(input.sample_rate(), package.sample_rate())?;
    let expected = input.declared_samples().map(|n| resampler.output_len(n).max(1) as f64);
    let mut chunks = EncodeChunks::new(encoder);
    let (mut samples, mut pcm) = (Vec::new(), Vec::new());
    while input.read_packet(&mut samples)? {
        resampler.push(&samples, &mut pcm)?;
        samples.clear();
        chunks.push(&pcm)?;
        pcm.clear();
        if let Some(total) = expected {
            progress(chunks.len as f64 / total);
        }
    }
    resampler.finish(&mut pcm)?;
    chunks.push(&pcm)?;
    chunks.finish(package)
}

/// Hands the encoder [`CHUNK_SAMPLES`] samples a call, however the signal
/// arrives: the codes depend on the chunks the networks see.
struct EncodeChunks<'e> {
    encoder: &'e mut Encoder,
    pending: Vec<f32>,
    codes: Vec<u16>,
    len: u64,
}

impl<'e> EncodeChunks<'e> {
    fn new(encoder: &'e mut Encoder) -> Self {
        encoder.reset();
        Self { encoder, pending: Vec::new(), codes: Vec::new(), len: 0 }
    }

    fn push(&mut self, mut pcm: &[f32]) -> Result<(), CodecError> {
        self.len += pcm.len() as u64;
        if !self.pending.is_empty() {
            let take = (CHUNK_SAMPLES - self.pending.len()).min(pcm.len());
            self.pending.extend_from_slice(&pcm[..take]);
            pcm = &pcm[take..];
            if self.pending.len() < CHUNK_SAMPLES {
                return Ok(());
            }
            self.encoder.push(&self.pending, &mut self.codes)?;
            self.pending.clear();
        }
        let whole = pcm.len() / CHUNK_SAMPLES * CHUNK_SAMPLES;
        for chunk in pcm[..whole].chunks(CHUNK_SAMPLES) {
            self.encoder.push(chunk, &mut self.codes)?;
        }
        self.pending.extend_from_slice(&pcm[whole..]);
        Ok(())
    }

    fn finish(mut self, package: &ModelPackage) -> Result<TokenFile, CodecError> {
        if self.len == 0 {
            return Err(CodecError::Mismatch("the audio is empty: nothing to encode".into()));
        }
        let frames = frames_for(package, self.len);
        let frames_u32 =
            u32::try_from(frames).map_err(|_| CodecError::Mismatch(format!("{frames} frames is too long")))?;
        if !self.pending.is_empty() {
            self.encoder.push(&self.pending, &mut self.codes)?;
        }
        self.encoder.flush(&mut self.codes)?;
        let stages = self.encoder.stages();
        let q = package.quantizer();
        let header = TokenHeader {
            model_name: package.name().to_string(),
            model_hash: package.id(),
            sample_rate: package.sample_rate(),
            hop: package.hop() as u32,
            layout: CodeLayout {
                codebooks: q.codes_per_frame(stages) as u8,
                bits: q.bits_per_code(),
                groups: q.groups() as u8,
                stages: stages as u8,
            },
            frames: frames_u32,
            original_len: self.len,
        };
        let file = TokenFile { header, codes: self.codes };
        file.validate()?;
        Ok(file)
    }
}

/// Checks that a token file was made by `package`. A file of a release
/// before the id covered the manifest carries the package's
/// [`ModelPackage::legacy_id`] and is accepted ([`made_by_earlier_release`] tells).
///
/// # Errors
/// [`CodecError::Mismatch`] naming what differs.
pub fn check_compatible(package: &ModelPackage, tokens: &TokenFile) -> Result<(), CodecError> {
    check_header(package, &tokens.header)
}

/// Checks that a token header is one of `package`'s (or of its
/// [`ModelPackage::legacy_id`], see [`made_by_earlier_release`]).
///
/// # Errors
/// [`CodecError::Mismatch`] naming what differs.
pub fn check_header(package: &ModelPackage, h: &TokenHeader) -> Result<(), CodecError> {
    if h.model_hash != package.id() && !header_of_earlier_release(package, h) {
        return Err(CodecError::Mismatch(format!(
            "the tokens were made by model `{}` (a different model than `{}`); decode with --model {}",
            h.model_name,
            package.name(),
            h.model_name
        )));
    }
    let q = package.quantizer();
    let stages = usize::from(h.layout.stages);
    if h.sample_rate != package.sample_rate()
        || h.hop as usize != package.hop()
        || usize::from(h.layout.groups) != q.groups()
        || h.layout.bits != q.bits_per_code()
        || q.check_stages(stages).is_err()
    {
        return Err(CodecError::Mismatch(format!(
            "the token header ({} Hz, hop {}, {} groups x {} stages of {} bits) does not fit model `{}`",
            h.sample_rate,
            h.hop,
            h.layout.groups,
            h.layout.stages,
            h.layout.bits,
            package.name()
        )));
    }
    Ok(())
}

/// Whether `tokens` carry `package`'s id of the releases before it covered
/// the manifest: they decode, but the model that made them may have differed
/// from `package` in its manifest alone.
pub fn made_by_earlier_release(package: &ModelPackage, tokens: &TokenFile) -> bool {
    header_of_earlier_release(package, &tokens.header)
}

/// [`made_by_earlier_release`] for a header read on its own.
pub fn header_of_earlier_release(package: &ModelPackage, header: &TokenHeader) -> bool {
    header.model_hash == package.legacy_id()
}

/// Decodes a token file to PCM at the model's rate, trimmed to the original length.
///
/// # Errors
/// Tokens of another model, or a network failure.
pub fn decode_tokens(
    package: &ModelPackage,
    options: RuntimeOptions,
    tokens: &TokenFile,
    progress: impl FnMut(f64),
) -> Result<Vec<f32>, CodecError> {
    check_compatible(package, tokens)?;
    let mut decoder = Decoder::new(package, options, usize::from(tokens.header.layout.stages))?;
    decode_with(package, &mut decoder, tokens, progress)
}

/// As [`decode_tokens`], with a decoder the caller built for the file's stage count (it is reset first).
///
/// # Errors
/// As [`decode_tokens`], or a decoder built for another stage count.
pub fn decode_with(
    package: &ModelPackage,
    decoder: &mut Decoder,
    tokens: &TokenFile,
    mut progress: impl FnMut(f64),
) -> Result<Vec<f32>, CodecError> {
    check_decoder(package, decoder, &tokens.header)?;
    decoder.reset();
    let per_frame = decoder.codes_per_frame();
    let frames = tokens.header.frames as usize;
    let mut pcm = Vec::with_capacity(frames * package.hop());
    let chunk_frames = (CHUNK_SAMPLES / package.hop()).max(1);
    for (i, chunk) in tokens.codes.chunks(chunk_frames * per_frame).enumerate() {
        decoder.push(chunk, &mut pcm)?;
        progress(((i + 1) * chunk_frames).min(frames) as f64 / frames.max(1) as f64);
    }
    pcm.truncate(tokens.header.original_len as usize);
    Ok(pcm)
}

fn check_decoder(package: &ModelPackage, decoder: &Decoder, header: &TokenHeader) -> Result<(), CodecError> {
    check_header(package, header)?;
    if decoder.stages() != usize::from(header.layout.stages) {
        return Err(CodecError::Mismatch(format!(
            "the tokens have {} stages; the decoder was built for {}",
            header.layout.stages,
            decoder.stages()
        )));
    }
    Ok(())
}

/// Decodes a token stream into a 16-bit WAV at `rate` written to `out` as
/// it is decoded: memory does not grow with the length of the file. The
/// bytes are those of [`crate::audio::write_wav_to`] on [`decode_with`]'s
/// signal resampled with [`crate::audio::resample`]. The WAV header declares
/// the length from the token header, so a file too long for a WAV is refused
/// before anything is decoded or written. Returns the samples written.
///
/// Reading stops at the end of the codes and the checksum is checked then;
/// what was written before a damaged file is found out stays written (an
/// [`crate::output::OutputFile`] that is not committed discards it).
///
/// # Errors
/// As [`decode_tokens`]; [`crate::audio::AudioError::BadSampleRate`],
/// [`crate::audio::AudioError::WavTooLong`]; the token stream's errors; a
/// failing `out` as [`crate::audio::AudioError::WavIo`].
pub fn decode_to_wav<R: Read, W: Write>(
    package: &ModelPackage,
    decoder: &mut Decoder,
    mut tokens: TokenReader<R>,
    rate: u32,
    out: W,
    mut progress: impl FnMut(f64),
) -> Result<u64, CodecError> {
    let header = tokens.header().clone();
    check_decoder(package, decoder, &header)?;
    let mut resampler = Resampler::new(package.sample_rate(), rate)?;
    // The decoder's output lags its frames by the synthesis delay (a hop for
    // one frame a token, more for several); a file may claim more than its
    // frames make, and then gets what they make.
    let decoded_len = header.original_len.min(samples_from(package, u64::from(header.frames)));
    let total = resampler.output_len(decoded_len);
    let mut wav = WavWriter::new(out, rate, total)?;
    decoder.reset();
    let per_frame = decoder.codes_per_frame();
    let chunk_frames = (CHUNK_SAMPLES / package.hop()).max(1);
    let (mut codes, mut pcm, mut resampled) = (Vec::new(), Vec::new(), Vec::new());
    let (mut left, mut done) = (decoded_len, 0usize);
    loop {
        // decode_with's chunks: `chunk_frames` frames a call, the rest last.
        while codes.len() < chunk_frames * per_frame && tokens.read_frames(chunk_frames, &mut codes)? > 0 {}
        if codes.is_empty() {
            break;
        }
        let take = codes.len().min(chunk_frames * per_frame);
        pcm.clear();
        decoder.push(&codes[..take], &mut pcm)?;
        codes.drain(..take);
        let keep = pcm.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        left -= keep as u64;
        resampled.clear();
        resampler.push(&pcm[..keep], &mut resampled)?;
        wav.write(&resampled)?;
        done += take / per_frame.max(1);
        progress(done as f64 / f64::from(header.frames.max(1)));
    }
    tokens.finish()?;
    resampled.clear();
    resampler.finish(&mut resampled)?;
    wav.write(&resampled)?;
    wav.finish()?;
    Ok(total)
}
