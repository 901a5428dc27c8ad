//! A bounds-checked little-endian byte cursor shared by the parsers.
//!
//! Every read names the field it is after, so a short input reports which
//! field was cut off rather than a bare index error.

use super::BitstreamError;

/// Reads fields front to back from a byte slice, never past its end.
pub(crate) struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Bytes not yet consumed.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Consumes exactly `n` bytes, or fails without consuming anything.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], BitstreamError> {
        match self.rest.split_at_checked(n) {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(head)
            }
            None => Err(BitstreamError::Truncated { what, needed: n as u64, available: self.rest.len() as u64 }),
        }
    }

    /// Consumes a fixed-size array.
    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], BitstreamError> {
        let bytes = self.take(N, what)?;
        // `take` returned exactly N bytes, so the conversion cannot fail; the
        // error arm only keeps this function free of panics.
        <[u8; N]>::try_from(bytes).map_err(|_| BitstreamError::Inconsistent("cursor length"))
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, BitstreamError> {
        Ok(u8::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, BitstreamError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, BitstreamError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, BitstreamError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
}
