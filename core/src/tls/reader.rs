//! A bounds-checked cursor over untrusted TLS bytes: every read either
//! succeeds or yields a [`HelloError`]; nothing indexes or overflows.

use super::HelloError;

/// Reads big-endian integers and length-prefixed vectors from a byte slice.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Take exactly `n` bytes.
    pub(super) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], HelloError> {
        match self.rest.split_at_checked(n) {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(head)
            }
            None => Err(HelloError::Truncated { field }),
        }
    }

    pub(super) fn u8(&mut self, field: &'static str) -> Result<u8, HelloError> {
        let (&b, tail) = self
            .rest
            .split_first()
            .ok_or(HelloError::Truncated { field })?;
        self.rest = tail;
        Ok(b)
    }

    pub(super) fn u16(&mut self, field: &'static str) -> Result<u16, HelloError> {
        match self.take(2, field)? {
            &[hi, lo] => Ok(u16::from_be_bytes([hi, lo])),
            _ => Err(HelloError::Truncated { field }),
        }
    }

    /// A vector with a one-byte length prefix.
    pub(super) fn vec8(&mut self, field: &'static str) -> Result<Reader<'a>, HelloError> {
        let len = usize::from(self.u8(field)?);
        self.vector(len, field)
    }

    /// A vector with a two-byte length prefix.
    pub(super) fn vec16(&mut self, field: &'static str) -> Result<Reader<'a>, HelloError> {
        let len = usize::from(self.u16(field)?);
        self.vector(len, field)
    }

    fn vector(&mut self, len: usize, field: &'static str) -> Result<Reader<'a>, HelloError> {
        let available = self.rest.len();
        match self.rest.split_at_checked(len) {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(Reader::new(head))
            }
            None => Err(HelloError::VectorLength {
                field,
                declared: len,
                available,
            }),
        }
    }

    /// The remaining bytes, consuming them.
    pub(super) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// Fail unless every byte was consumed; `field` names what should have
    /// filled the container.
    pub(super) fn finish(&self, field: &'static str) -> Result<(), HelloError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(HelloError::TrailingBytes {
                field,
                extra: self.rest.len(),
            })
        }
    }
}
