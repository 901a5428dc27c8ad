//! The RTP options of `codec send`, `codec receive` and `codec sdp`: the
//! payload type and the SRTP key, read from a file or the environment.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use codec_stream::{RtpSettings, SrtpKey};

/// A key file holds 40 characters and a line end: anything much longer is not one.
const MAX_KEY_FILE_LEN: u64 = 1024;

#[derive(ClapArgs, Debug)]
pub struct RtpArgs {
    /// RTP payload type (dynamic, 96-127); both ends and the SDP must agree
    #[arg(long, default_value_t = codec_stream::DEFAULT_PAYLOAD_TYPE,
          value_parser = clap::value_parser!(u8).range(96..=127))]
    pub payload_type: u8,
    /// Protect the call with SRTP (AES_CM_128_HMAC_SHA1_80) under the pre-shared master key and salt in FILE:
    /// the base64 of 30 random bytes, as an SDP a=crypto line's inline: carries it (e.g.
    /// `head -c 30 /dev/urandom | base64 > call.key; chmod 600 call.key`). Refused if group or others may read it
    #[arg(long, value_name = "FILE", conflicts_with = "srtp_key_env")]
    pub srtp_key: Option<PathBuf>,
    /// As --srtp-key, with the key's base64 in this environment variable
    #[arg(long, value_name = "VAR")]
    pub srtp_key_env: Option<String>,
}

impl RtpArgs {
    pub fn settings(&self) -> Result<RtpSettings> {
        let srtp = match (&self.srtp_key, &self.srtp_key_env) {
            (Some(path), _) => Some(read_key_file(path)?),
            (None, Some(var)) => {
                let text =
                    std::env::var(var).with_context(|| format!("--srtp-key-env: ${var} is not set (or not UTF-8)"))?;
                Some(SrtpKey::from_base64(&text).with_context(|| format!("--srtp-key-env: ${var}"))?)
            }
            (None, None) => None,
        };
        Ok(RtpSettings { payload_type: self.payload_type, srtp, ssrc: None })
    }
}

/// Reads a key file: a regular file, no larger than a key needs, that only
/// its owner may read.
fn read_key_file(path: &Path) -> Result<SrtpKey> {
    let shown = path.display();
    let text = codec_core::input::read_private_text(path, MAX_KEY_FILE_LEN).map_err(|e| match e {
        codec_core::input::InputError::TooLarge { .. } => {
            anyhow::anyhow!("--srtp-key {shown}: too long for a key file (a key is 40 characters of base64)")
        }
        other => anyhow::Error::new(other).context("--srtp-key"),
    })?;
    SrtpKey::from_base64(&text).with_context(|| format!("--srtp-key {shown}"))
}
