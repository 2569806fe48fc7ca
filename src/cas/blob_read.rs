//! Verified reads of a [`BlobStore`]: [`read_at`](BlobStore::read_at) (checks only the
//! 64 KiB chunks it touches against the blob's chunk table), full
//! [`verify`](BlobStore::verify), and [`scrub`](BlobStore::scrub) with [`ScrubReport`].
//!
//! Corrupted bytes are never returned: a chunk that fails its check turns the whole read
//! into [`CasError::Corrupt`]. A missing or damaged sidecar is rebuilt from the blob, but
//! only after the whole blob has been re-hashed and matched against its digest.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::sync::Arc;

use super::blob_store::{BlobStore, COPY_BUF};
use super::chunk_cache::FileStamp;
use super::chunk_table::{ChunkHasher, ChunkTable, CHUNK_SIZE};
use super::digest::Digest;
use super::error::CasError;

/// At most this many chunk tables are cached…
const TABLE_CACHE_ENTRIES: usize = 4096;
/// …and at most this many bytes of them (a 1 GiB blob has a 512 KiB table).
const TABLE_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Result of [`BlobStore::scrub`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrubReport {
    /// Blobs re-hashed.
    pub checked: u64,
    /// Blobs that failed verification; each has been quarantined and needs a re-fetch.
    pub corrupt: Vec<Digest>,
    /// Blobs that could not be checked (I/O errors other than corruption), left in place.
    pub errors: Vec<(Digest, String)>,
}

impl BlobStore {
    /// Read up to `len` bytes at `offset`, verifying every 64 KiB chunk touched. Returns
    /// fewer bytes only at the end of the blob (none at or past it). Always reads (and
    /// verifies) from disk: replication, scrubbing and manifest loads use this.
    pub fn read_at(&self, digest: &Digest, offset: u64, len: usize) -> Result<Vec<u8>, CasError> {
        let mut out = Vec::new();
        self.read_verified(digest, offset, len, &mut out, false)?;
        Ok(out)
    }

    /// The serving path's read (NFS READ): like [`read_at`](Self::read_at), but appends
    /// the bytes to `out` (the reply being built: read straight into it, verified there,
    /// never copied again) and uses the store's [`ChunkCache`] when one is set, so a chunk
    /// read and verified earlier is served from memory. Returns the number of bytes
    /// appended; on any error `out` is left as it was.
    pub fn read_at_into(
        &self,
        digest: &Digest,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, CasError> {
        self.read_verified(digest, offset, len, out, true)
    }

    fn read_verified(
        &self,
        digest: &Digest,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
        cached: bool,
    ) -> Result<usize, CasError> {
        let base = out.len();
        let r = self.read_span_into(digest, offset, len, out, cached);
        if r.is_err() {
            out.truncate(base);
        }
        if let Err(CasError::Corrupt { .. }) = r {
            self.cache.forget(digest);
        }
        r
    }

    fn read_span_into(
        &self,
        digest: &Digest,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
        cached: bool,
    ) -> Result<usize, CasError> {
        let file = self.open_blob(digest)?;
        let meta = file
            .metadata()
            .map_err(|e| CasError::io("stat blob", self.blob_path(digest), e))?;
        let on_disk = meta.len();
        let table = self.chunk_table(digest, &file, on_disk)?;
        let blob_len = table.len();
        if on_disk != blob_len {
            let offset = on_disk.min(blob_len) / CHUNK_SIZE * CHUNK_SIZE;
            return Err(CasError::Corrupt {
                digest: *digest,
                offset,
            });
        }
        if offset >= blob_len || len == 0 {
            return Ok(0);
        }
        let end = offset.saturating_add(len as u64).min(blob_len);
        let first = offset / CHUNK_SIZE;
        let last = (end - 1) / CHUNK_SIZE;
        let span_start = first * CHUNK_SIZE;
        let span_end = ((last + 1) * CHUNK_SIZE).min(blob_len);
        let too_large = || {
            CasError::io(
                "read blob",
                self.blob_path(digest),
                std::io::Error::new(ErrorKind::OutOfMemory, "read too large"),
            )
        };
        let span = usize::try_from(span_end - span_start).map_err(|_| too_large())?;
        out.try_reserve_exact(span).map_err(|_| too_large())?;
        let base = out.len();
        let cache = Some(&self.cache).filter(|c| cached && c.enabled());
        let stamp = FileStamp::of(&meta);
        let mut index = first;
        while index <= last {
            if let Some(hit) = cache.and_then(|c| c.get(digest, index, &stamp)) {
                out.extend_from_slice(&hit);
                index += 1;
                continue;
            }
            // From disk: the rest of the span, or only this chunk when the next may be
            // cached. Read into the spare capacity (no zeroing first); this `File` is
            // ours alone, so seeking it is as good as a positional read.
            let run_end = if cache.is_some() { index } else { last };
            let from = index * CHUNK_SIZE;
            let want = ((run_end + 1) * CHUNK_SIZE).min(blob_len) - from;
            let at = out.len();
            let read = (&file)
                .seek(SeekFrom::Start(from))
                .and_then(|_| (&file).take(want).read_to_end(out))
                .map_err(|e| CasError::io("read blob", self.blob_path(digest), e))?;
            if read as u64 != want {
                return Err(CasError::Corrupt {
                    digest: *digest,
                    offset: from + read as u64 / CHUNK_SIZE * CHUNK_SIZE,
                });
            }
            for (i, chunk) in out[at..].chunks(CHUNK_SIZE as usize).enumerate() {
                let chunk_index = index + i as u64;
                if !table.verify_chunk(chunk_index, chunk) {
                    return Err(CasError::Corrupt {
                        digest: *digest,
                        offset: chunk_index * CHUNK_SIZE,
                    });
                }
                if let Some(c) = cache {
                    c.insert_verified(digest, chunk_index, stamp, chunk);
                }
            }
            index = run_end + 1;
        }
        // Keep [offset, end): both bounds are within the span.
        out.truncate(base + (end - span_start) as usize);
        let head = (offset - span_start) as usize;
        if head > 0 {
            out.drain(base..base + head);
        }
        Ok(out.len() - base)
    }

    /// Re-hash the whole blob against its digest. Also repairs a missing or stale sidecar
    /// of a good blob. [`CasError::Corrupt`] (with the first bad chunk when the sidecar can
    /// tell) if the content does not match.
    pub fn verify(&self, digest: &Digest) -> Result<(), CasError> {
        let file = self.open_blob(digest)?;
        let (actual, table) = self.hash_blob(digest, &file)?;
        let sidecar = self.read_sidecar(digest);
        if actual != *digest {
            let offset = sidecar.map_or(0, |good| good.first_difference(&table));
            return Err(CasError::Corrupt {
                digest: *digest,
                offset,
            });
        }
        if table.needs_sidecar() && sidecar.as_ref() != Some(&table) {
            tracing::warn!(%digest, "rewriting missing or damaged chunk sidecar");
            self.write_sidecar(&table)?;
        }
        Ok(())
    }

    /// Verify every stored blob, quarantining the corrupt ones.
    pub fn scrub(&self) -> Result<ScrubReport, CasError> {
        let mut report = ScrubReport::default();
        for digest in self.list()? {
            match self.verify(&digest) {
                Ok(()) => report.checked += 1,
                Err(CasError::NotFound(_)) => {} // removed while scrubbing
                Err(CasError::Corrupt { .. }) => {
                    report.checked += 1;
                    tracing::error!(%digest, "corrupt blob quarantined by scrub");
                    match self.quarantine(&digest) {
                        Ok(()) | Err(CasError::NotFound(_)) => report.corrupt.push(digest),
                        Err(e) => report.errors.push((digest, e.to_string())),
                    }
                }
                Err(e) => report.errors.push((digest, e.to_string())),
            }
        }
        Ok(report)
    }

    /// Stream the blob file through a [`ChunkHasher`].
    fn hash_blob(
        &self,
        digest: &Digest,
        mut file: &File,
    ) -> Result<(Digest, ChunkTable), CasError> {
        let mut h = ChunkHasher::new();
        let mut buf = vec![0u8; COPY_BUF];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => h.update(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(CasError::io("read blob", self.blob_path(digest), e)),
            }
        }
        Ok(h.finish())
    }

    /// The sidecar, if present and valid for `digest`.
    fn read_sidecar(&self, digest: &Digest) -> Option<ChunkTable> {
        let p = self.sidecar_path(digest);
        let mut f = File::open(p).ok()?;
        let size = f.metadata().ok()?.len();
        // Refuse absurd sizes before allocating (a sidecar is 1/2048 of its blob).
        let blob_len = fs::symlink_metadata(self.blob_path(digest)).ok()?.len();
        if size != ChunkTable::expected_sidecar_len(blob_len)? {
            return None;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).ok()?);
        f.read_to_end(&mut bytes).ok()?;
        ChunkTable::decode(digest, &bytes)
    }

    /// The verified chunk table for an open blob: implicit for a blob of one chunk, else
    /// cache, else sidecar, else rebuilt from a full re-hash (which must match the digest).
    fn chunk_table(
        &self,
        digest: &Digest,
        file: &File,
        on_disk: u64,
    ) -> Result<Arc<ChunkTable>, CasError> {
        if let Some(t) = ChunkTable::single(*digest, on_disk) {
            return Ok(Arc::new(t));
        }
        {
            let cache = self.tables.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(t) = cache.get(digest) {
                return Ok(Arc::clone(t));
            }
        }
        let table = match self.read_sidecar(digest) {
            Some(t) => t,
            None => {
                let (actual, table) = self.hash_blob(digest, file)?;
                if actual != *digest {
                    return Err(CasError::Corrupt {
                        digest: *digest,
                        offset: 0,
                    });
                }
                tracing::warn!(%digest, "rebuilt missing or damaged chunk sidecar");
                if let Err(e) = self.write_sidecar(&table) {
                    tracing::warn!(%digest, error = %e, "could not rewrite chunk sidecar");
                }
                table
            }
        };
        let table = Arc::new(table);
        let mut cache = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let bytes: u64 = cache.values().map(|t| t.chunk_count() * 32).sum();
        if cache.len() >= TABLE_CACHE_ENTRIES
            || bytes + table.chunk_count() * 32 > TABLE_CACHE_BYTES
        {
            cache.clear();
        }
        cache.insert(*digest, Arc::clone(&table));
        Ok(table)
    }
}
