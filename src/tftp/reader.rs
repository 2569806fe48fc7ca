//! [`BlockSource`]: the bytes a transfer sends — generated text, or a blob read from the
//! CAS in verified [`READ_STEP`] pieces (blocking; transfers run on threads of their own).
//! Bytes that fail verification are never returned.

use std::sync::Arc;

use crate::bootfiles::{BootFiles, READ_STEP};
use crate::cas::{CasError, Digest};

/// Why a block could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The store failed (corruption is quarantined by [`BootFiles::read_blob`]).
    #[error(transparent)]
    Cas(#[from] CasError),
    /// The store holds fewer bytes than the size the transfer announced.
    #[error("blob shorter than its recorded size")]
    Short,
}

enum Inner {
    Text(Vec<u8>),
    Blob {
        files: Arc<BootFiles>,
        digest: Digest,
        /// Verified bytes at `buf_off`.
        buf: Vec<u8>,
        buf_off: u64,
    },
}

/// Random access to one file's bytes, with a read-ahead buffer.
pub struct BlockSource {
    inner: Inner,
    size: u64,
}

impl BlockSource {
    /// Generated text.
    pub fn text(text: Vec<u8>) -> BlockSource {
        BlockSource {
            size: text.len() as u64,
            inner: Inner::Text(text),
        }
    }

    /// A stored blob of `size` bytes.
    pub fn blob(files: Arc<BootFiles>, digest: Digest, size: u64) -> BlockSource {
        BlockSource {
            inner: Inner::Blob {
                files,
                digest,
                buf: Vec::new(),
                buf_off: 0,
            },
            size,
        }
    }

    /// File size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// `len` bytes at `off` (clipped to the file).
    pub fn get(&mut self, off: u64, len: usize) -> Result<&[u8], SourceError> {
        let len = usize::try_from(self.size.saturating_sub(off)).map_or(len, |r| r.min(len));
        match &mut self.inner {
            Inner::Text(t) => {
                let start = usize::try_from(off).map_err(|_| SourceError::Short)?;
                t.get(start..start + len).ok_or(SourceError::Short)
            }
            Inner::Blob {
                files,
                digest,
                buf,
                buf_off,
            } => {
                let end = off + len as u64;
                if off < *buf_off || end > *buf_off + buf.len() as u64 {
                    let want = usize::try_from(self.size - off)
                        .map_or(READ_STEP.max(len), |r| r.min(READ_STEP.max(len)));
                    *buf = files.read_blob(digest, off, want)?;
                    *buf_off = off;
                    if buf.len() < len {
                        return Err(SourceError::Short);
                    }
                }
                let start = (off - *buf_off) as usize;
                buf.get(start..start + len).ok_or(SourceError::Short)
            }
        }
    }
}
