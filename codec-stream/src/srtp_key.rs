//! The SRTP master key and salt of a call, pre-shared as SDES (RFC 4568)
//! distributes them: the base64 of 16 bytes of key followed by 14 of salt,
//! for the AES_CM_128_HMAC_SHA1_80 suite.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use webrtc_srtp::context::Context;
use webrtc_srtp::option::srtp_replay_protection;
use webrtc_srtp::protection_profile::ProtectionProfile;

use crate::StreamError;

/// The one crypto suite offered: the SDES name of it.
pub const SRTP_SUITE: &str = "AES_CM_128_HMAC_SHA1_80";
const KEY_LEN: usize = 16;
const SALT_LEN: usize = 14;
/// Bytes of key and salt together.
pub const MASTER_LEN: usize = KEY_LEN + SALT_LEN;
/// Bytes of authentication tag SRTP adds to every packet.
pub const SRTP_TAG_LEN: usize = 10;
/// Sequence numbers remembered behind the newest for replay protection
/// (RFC 3711 asks for at least 64; libsrtp keeps 128).
const REPLAY_WINDOW: usize = 128;

/// A master key and salt. Its `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKey([u8; MASTER_LEN]);

impl fmt::Debug for SrtpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SrtpKey(..)")
    }
}

impl SrtpKey {
    /// Parses the SDES form: base64 of 30 bytes, surrounding white space
    /// ignored. Errors never quote the text.
    ///
    /// # Errors
    /// Text that is not base64, or decodes to another length.
    pub fn from_base64(text: &str) -> Result<Self, StreamError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            StreamError::Network(format!("the SRTP key is not base64 (it must be 40 characters, {MASTER_LEN} bytes)"))
        })?;
        let key = <[u8; MASTER_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
            StreamError::Network(format!(
                "the SRTP key is {} bytes, not {MASTER_LEN} (16 of key and 14 of salt for {SRTP_SUITE})",
                bytes.len()
            ))
        })?;
        Ok(Self(key))
    }

    /// A key from the bytes given (a random one for a new call).
    pub fn from_bytes(bytes: [u8; MASTER_LEN]) -> Self {
        Self(bytes)
    }

    /// The SDES form, as `a=crypto` carries it after `inline:`.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// A fresh SRTP context of this key, with replay protection. Use one per
    /// direction and per source: a context keeps state for every SSRC it is
    /// handed, so it is only ever handed one.
    ///
    /// # Errors
    /// None in practice (the lengths are fixed); reported rather than unwrapped.
    pub(crate) fn context(&self) -> Result<Context, StreamError> {
        let (key, salt) = self.0.split_at(KEY_LEN);
        Context::new(
            key,
            salt,
            ProtectionProfile::Aes128CmHmacSha1_80,
            Some(srtp_replay_protection(REPLAY_WINDOW)),
            None,
        )
        .map_err(|e| StreamError::Internal(format!("SRTP context: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_lengths_without_quoting_them() {
        let key = SrtpKey::from_bytes(std::array::from_fn(|i| i as u8));
        let text = key.to_base64();
        assert_eq!(text.len(), 40);
        assert_eq!(SrtpKey::from_base64(&format!("  {text}\n")).expect("parse"), key);
        let short = SrtpKey::from_base64("c2VjcmV0").expect_err("6 bytes");
        assert!(short.to_string().contains("6 bytes"), "{short}");
        assert!(!short.to_string().contains("c2VjcmV0"));
        let garbage = SrtpKey::from_base64("not base64 at all!").expect_err("garbage");
        assert!(!garbage.to_string().contains("at all"), "{garbage}");
        assert_eq!(format!("{key:?}"), "SrtpKey(..)");
    }
}
