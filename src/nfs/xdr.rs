//! XDR (RFC 4506) primitives: a bounds-checked [`XdrReader`] over one received record and
//! an append-only [`XdrWriter`].
//!
//! Every read checks the remaining length first and every variable-length item has a caller
//! supplied maximum, so hostile input can neither panic nor make the server allocate more
//! than the record it already holds.

/// Input ended early or a field broke its declared bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum XdrError {
    /// Fewer bytes remain than the field needs.
    #[error("XDR input ends early")]
    Short,
    /// A variable-length field is longer than its protocol maximum.
    #[error("XDR field of {len} bytes exceeds its maximum of {max}")]
    TooLong {
        /// Declared length.
        len: u32,
        /// Allowed maximum.
        max: u32,
    },
    /// A boolean or discriminant has a value the protocol does not define.
    #[error("XDR discriminant {0} is not allowed here")]
    BadDiscriminant(u32),
}

/// Reads XDR items from a byte slice.
#[derive(Debug, Clone)]
pub struct XdrReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// Padding needed after `len` bytes to reach a multiple of 4.
pub fn pad(len: usize) -> usize {
    (4 - len % 4) % 4
}

impl<'a> XdrReader<'a> {
    /// A reader over `buf`, positioned at its start.
    pub fn new(buf: &'a [u8]) -> XdrReader<'a> {
        XdrReader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The unread rest of the input.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], XdrError> {
        if self.remaining() < n {
            return Err(XdrError::Short);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// An unsigned 32-bit integer.
    pub fn u32(&mut self) -> Result<u32, XdrError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An unsigned 64-bit integer (hyper).
    pub fn u64(&mut self) -> Result<u64, XdrError> {
        let hi = u64::from(self.u32()?);
        let lo = u64::from(self.u32()?);
        Ok(hi << 32 | lo)
    }

    /// A boolean (0 or 1 only).
    pub fn bool(&mut self) -> Result<bool, XdrError> {
        match self.u32()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(XdrError::BadDiscriminant(v)),
        }
    }

    /// Fixed-length opaque data of `n` bytes (plus padding).
    pub fn fixed(&mut self, n: usize) -> Result<&'a [u8], XdrError> {
        let data = self.take(n)?;
        self.take(pad(n))?;
        Ok(data)
    }

    /// Variable-length opaque data of at most `max` bytes.
    pub fn opaque(&mut self, max: u32) -> Result<&'a [u8], XdrError> {
        let len = self.u32()?;
        if len > max {
            return Err(XdrError::TooLong { len, max });
        }
        self.fixed(len as usize)
    }
}

/// Builds XDR output in a growing buffer.
#[derive(Debug, Default, Clone)]
pub struct XdrWriter {
    buf: Vec<u8>,
}

impl XdrWriter {
    /// An empty writer.
    pub fn new() -> XdrWriter {
        XdrWriter::default()
    }

    /// An empty writer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> XdrWriter {
        XdrWriter {
            buf: Vec::with_capacity(n),
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Append an unsigned 32-bit integer.
    pub fn u32(&mut self, v: u32) -> &mut XdrWriter {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Append an unsigned 64-bit integer.
    pub fn u64(&mut self, v: u64) -> &mut XdrWriter {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Append a boolean.
    pub fn bool(&mut self, v: bool) -> &mut XdrWriter {
        self.u32(u32::from(v))
    }

    /// Append fixed-length opaque data (plus padding).
    pub fn fixed(&mut self, data: &[u8]) -> &mut XdrWriter {
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(&[0u8; 3][..pad(data.len())]);
        self
    }

    /// Append variable-length opaque data. Callers keep `data` under the protocol's
    /// maximum (all of which are far below `u32::MAX`); longer input is truncated.
    pub fn opaque(&mut self, data: &[u8]) -> &mut XdrWriter {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.u32(len);
        self.fixed(&data[..len as usize])
    }

    /// Append variable-length opaque data that `fill` appends to the buffer in place (for
    /// READ: file data read straight into the reply). `fill` must append at most `max`
    /// bytes (longer output is truncated to `max`); on error nothing is left behind.
    /// Returns the data length.
    pub fn opaque_with<E>(
        &mut self,
        max: usize,
        fill: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<usize, E> {
        let at = self.buf.len();
        self.u32(0);
        let start = self.buf.len();
        if let Err(e) = fill(&mut self.buf) {
            self.buf.truncate(at);
            return Err(e);
        }
        let max = max.min(u32::MAX as usize);
        self.buf.truncate(start + (self.buf.len() - start).min(max));
        let n = self.buf.len() - start;
        self.patch_u32(at, n as u32);
        self.buf.extend_from_slice(&[0u8; 3][..pad(n)]);
        Ok(n)
    }

    /// Overwrite the 32-bit integer written at byte position `at` (a no-op if `at` is not
    /// inside what was written).
    pub fn patch_u32(&mut self, at: usize, v: u32) {
        if let Some(slot) = self.buf.get_mut(at..at.saturating_add(4)) {
            if slot.len() == 4 {
                slot.copy_from_slice(&v.to_be_bytes());
            }
        }
    }

    /// Drop everything written after the first `len` bytes.
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    /// Append raw, already-encoded bytes.
    pub fn raw(&mut self, data: &[u8]) -> &mut XdrWriter {
        self.buf.extend_from_slice(data);
        self
    }
}

/// Encoded size of variable-length opaque data of `len` bytes.
pub fn opaque_size(len: usize) -> usize {
    4 + len + pad(len)
}
