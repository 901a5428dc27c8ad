//! Whole signals to token files and back, on the streaming objects, in large
//! chunks, with progress reported as a fraction.

use crate::bitstream::{CodeLayout, TokenFile, TokenHeader};
use crate::codec::{frames_for, Decoder, Encoder};
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
    if pcm.is_empty() {
        return Err(CodecError::Mismatch("the audio is empty: nothing to encode".into()));
    }
    encoder.reset();
    let stages = encoder.stages();
    let frames = frames_for(pcm.len() as u64, package.hop());
    let frames_u32 = u32::try_from(frames).map_err(|_| CodecError::Mismatch(format!("{frames} frames is too long")))?;
    let mut codes = Vec::with_capacity(frames as usize * encoder.codes_per_frame());
    for (i, chunk) in pcm.chunks(CHUNK_SAMPLES).enumerate() {
        encoder.push(chunk, &mut codes)?;
        progress(((i + 1) * CHUNK_SAMPLES).min(pcm.len()) as f64 / pcm.len() as f64);
    }
    encoder.flush(&mut codes)?;
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
        original_len: pcm.len() as u64,
    };
    let file = TokenFile { header, codes };
    file.validate()?;
    Ok(file)
}

/// Checks that a token file was made by `package`. A file of a release
/// before the id covered the manifest carries the package's
/// [`ModelPackage::legacy_id`] and is accepted ([`made_by_earlier_release`] tells).
///
/// # Errors
/// [`CodecError::Mismatch`] naming what differs.
pub fn check_compatible(package: &ModelPackage, tokens: &TokenFile) -> Result<(), CodecError> {
    let h = &tokens.header;
    if h.model_hash != package.id() && !made_by_earlier_release(package, tokens) {
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
    tokens.header.model_hash == package.legacy_id()
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
    check_compatible(package, tokens)?;
    if decoder.stages() != usize::from(tokens.header.layout.stages) {
        return Err(CodecError::Mismatch(format!(
            "the tokens have {} stages; the decoder was built for {}",
            tokens.header.layout.stages,
            decoder.stages()
        )));
    }
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
