//! [`BlobReader`]: a sequential [`Read`] over one blob that verifies every chunk it
//! returns (for streaming a blob to a peer or a client).

use std::io::{self, Read};

use super::blob_store::BlobStore;
use super::digest::Digest;
use super::error::CasError;

/// Bytes fetched (and verified) per refill.
const STEP: usize = 1024 * 1024;

/// A verifying reader; corruption surfaces as an [`io::ErrorKind::InvalidData`] error
/// wrapping the [`CasError`].
#[derive(Debug)]
pub struct BlobReader<'a> {
    store: &'a BlobStore,
    digest: Digest,
    pos: u64,
    buf: Vec<u8>,
    at: usize,
}

impl BlobStore {
    /// A verifying sequential reader over a stored blob.
    pub fn open_reader(&self, digest: &Digest) -> Result<BlobReader<'_>, CasError> {
        if !self.contains(digest) {
            return Err(CasError::NotFound(*digest));
        }
        Ok(BlobReader {
            store: self,
            digest: *digest,
            pos: 0,
            buf: Vec::new(),
            at: 0,
        })
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.buf.len() {
            self.buf = self
                .store
                .read_at(&self.digest, self.pos, STEP)
                .map_err(|e| match e {
                    CasError::Io { source, .. } => source,
                    other => io::Error::new(io::ErrorKind::InvalidData, other),
                })?;
            self.at = 0;
            self.pos += self.buf.len() as u64;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
