//! [`ChunkTable`]: the per-blob sidecar that lets a read verify only the 64 KiB chunks it
//! touches, and [`ChunkHasher`], which computes a blob's digest and its table in one pass.
//!
//! The table holds the BLAKE3 *chaining values* of each 64 KiB chunk (a 64 KiB-aligned run of
//! BLAKE3's own 1 KiB chunks is a complete subtree of BLAKE3's hash tree). Merging those
//! values up the tree reproduces the blob digest, so a table is checked against the digest
//! itself — a damaged or forged sidecar can never vouch for damaged bytes. Each chunk read
//! later is hashed as that subtree and compared with its entry.
//!
//! Sidecar layout: `"RBCHNK01"` | blob digest (32) | blob length (u64 LE) | one 32-byte
//! chaining value per chunk. Blobs of at most one chunk have no sidecar file: the single
//! chunk is checked against the digest directly.

use blake3::hazmat::{self, ChainingValue, HasherExt, Mode};

use super::digest::Digest;

/// Verification granularity: 64 KiB.
pub const CHUNK_SIZE: u64 = 64 * 1024;
const CHUNK: usize = CHUNK_SIZE as usize;
const MAGIC: &[u8; 8] = b"RBCHNK01";
const HEADER_LEN: usize = 8 + 32 + 8;

/// A blob's verified chunk table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkTable {
    digest: Digest,
    len: u64,
    /// Empty when `len <= CHUNK_SIZE`; otherwise one per chunk.
    cvs: Vec<ChainingValue>,
}

impl ChunkTable {
    /// The table of a blob of at most one chunk, which needs no sidecar: its only chunk is
    /// checked against the digest itself. `None` if `len` is more than one chunk.
    pub fn single(digest: Digest, len: u64) -> Option<ChunkTable> {
        (len <= CHUNK_SIZE).then(|| ChunkTable {
            digest,
            len,
            cvs: Vec::new(),
        })
    }

    /// Whether this table needs a sidecar file (blobs of more than one chunk).
    pub fn needs_sidecar(&self) -> bool {
        !self.cvs.is_empty()
    }

    /// The blob's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for the empty blob.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The blob's digest.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Number of chunks (at least one, even for the empty blob).
    pub fn chunk_count(&self) -> u64 {
        self.len.div_ceil(CHUNK_SIZE).max(1)
    }

    /// The byte length chunk `index` must have, or `None` past the end.
    pub fn chunk_len(&self, index: u64) -> Option<usize> {
        if index >= self.chunk_count() {
            return None;
        }
        let start = index * CHUNK_SIZE;
        usize::try_from((self.len - start).min(CHUNK_SIZE)).ok()
    }

    /// Whether `bytes` are exactly chunk `index` of this blob.
    pub fn verify_chunk(&self, index: u64, bytes: &[u8]) -> bool {
        if self.chunk_len(index) != Some(bytes.len()) {
            return false;
        }
        if self.cvs.is_empty() {
            return index == 0 && Digest::of(bytes) == self.digest;
        }
        let Some(expected) = usize::try_from(index).ok().and_then(|i| self.cvs.get(i)) else {
            return false;
        };
        // Non-empty (chunk_len > 0 here), at most CHUNK_SIZE and 64 KiB-aligned: a valid
        // BLAKE3 subtree, so the hazmat calls below cannot fail their assertions.
        chunk_cv(index, bytes) == *expected
    }

    /// Offset of the first chunk where `other` (the same blob as re-read) differs from
    /// this table; 0 when the tables cannot tell (blobs of one chunk).
    pub fn first_difference(&self, other: &ChunkTable) -> u64 {
        let same = self
            .cvs
            .iter()
            .zip(&other.cvs)
            .take_while(|(a, b)| a == b)
            .count();
        same as u64 * CHUNK_SIZE
    }

    /// The sidecar bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.cvs.len() * 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.digest.0);
        out.extend_from_slice(&self.len.to_le_bytes());
        for cv in &self.cvs {
            out.extend_from_slice(cv);
        }
        out
    }

    /// The sidecar length implied by a header, if the header is sane (for sizing reads).
    pub fn expected_sidecar_len(blob_len: u64) -> Option<u64> {
        let n = if blob_len <= CHUNK_SIZE {
            0
        } else {
            blob_len.div_ceil(CHUNK_SIZE)
        };
        n.checked_mul(32)?.checked_add(HEADER_LEN as u64)
    }

    /// Parse sidecar bytes and check them against `digest`. `None` if they are malformed,
    /// belong to another blob, or do not merge back to `digest`.
    pub fn decode(digest: &Digest, bytes: &[u8]) -> Option<ChunkTable> {
        let header = bytes.get(..HEADER_LEN)?;
        if &header[..8] != MAGIC || header[8..40] != digest.0 {
            return None;
        }
        let len = u64::from_le_bytes(header[40..48].try_into().ok()?);
        if Self::expected_sidecar_len(len)? != bytes.len() as u64 {
            return None;
        }
        let cvs: Vec<ChainingValue> = bytes[HEADER_LEN..]
            .chunks_exact(32)
            .filter_map(|c| c.try_into().ok())
            .collect();
        let table = ChunkTable {
            digest: *digest,
            len,
            cvs,
        };
        if !table.cvs.is_empty() && root(&table.cvs, len)? != *digest {
            return None;
        }
        Some(table)
    }
}

/// Chaining value of chunk `index` (whose bytes are non-empty and at most 64 KiB).
fn chunk_cv(index: u64, bytes: &[u8]) -> ChainingValue {
    let mut h = blake3::Hasher::new();
    h.set_input_offset(index * CHUNK_SIZE);
    h.update(bytes);
    h.finalize_non_root()
}

/// Merge the chaining values of a subtree covering `len` bytes (non-root).
fn merge(cvs: &[ChainingValue], len: u64) -> Option<ChainingValue> {
    if let [one] = cvs {
        return Some(*one);
    }
    let (l, r, left_len) = split(cvs, len)?;
    Some(hazmat::merge_subtrees_non_root(
        &merge(l, left_len)?,
        &merge(r, len - left_len)?,
        Mode::Hash,
    ))
}

/// The root hash of a blob of `len` bytes (more than one chunk) from its chunk values.
fn root(cvs: &[ChainingValue], len: u64) -> Option<Digest> {
    let (l, r, left_len) = split(cvs, len)?;
    let h =
        hazmat::merge_subtrees_root(&merge(l, left_len)?, &merge(r, len - left_len)?, Mode::Hash);
    Some(h.into())
}

/// Split like BLAKE3 does: the left subtree is the largest power of two of chunks that
/// leaves at least one byte on the right. For `len > 64 KiB` that is a whole number of our
/// 64 KiB chunks.
fn split(cvs: &[ChainingValue], len: u64) -> Option<(&[ChainingValue], &[ChainingValue], u64)> {
    if len <= CHUNK_SIZE || cvs.len() as u64 != len.div_ceil(CHUNK_SIZE) {
        return None;
    }
    let left_len = hazmat::left_subtree_len(len);
    let left_chunks = usize::try_from(left_len / CHUNK_SIZE).ok()?;
    let (l, r) = cvs.split_at_checked(left_chunks)?;
    Some((l, r, left_len))
}

/// Streams a blob's bytes and yields its digest and [`ChunkTable`] in one pass.
pub struct ChunkHasher {
    len: u64,
    cvs: Vec<ChainingValue>,
    /// The current (last seen) chunk; flushed only once more bytes arrive, so that a blob
    /// of one chunk can be hashed as a root instead.
    buf: Vec<u8>,
}

impl Default for ChunkHasher {
    fn default() -> Self {
        ChunkHasher::new()
    }
}

impl ChunkHasher {
    /// A hasher at offset 0.
    pub fn new() -> ChunkHasher {
        ChunkHasher {
            len: 0,
            cvs: Vec::new(),
            buf: Vec::with_capacity(CHUNK),
        }
    }

    /// Bytes seen so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Feed the next bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        while !data.is_empty() {
            if self.buf.len() == CHUNK {
                self.flush();
            }
            let take = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
    }

    fn flush(&mut self) {
        let index = self.cvs.len() as u64;
        self.cvs.push(chunk_cv(index, &self.buf));
        self.buf.clear();
    }

    /// The digest and chunk table of everything fed.
    pub fn finish(mut self) -> (Digest, ChunkTable) {
        let digest = if self.cvs.is_empty() {
            Digest::of(&self.buf)
        } else {
            // More than one chunk: `buf` holds the (non-empty) last one.
            self.flush();
            // `root` only fails on inconsistent counts, impossible by construction; a zero
            // digest would then fail every verification rather than panic.
            root(&self.cvs, self.len).unwrap_or_default()
        };
        let table = ChunkTable {
            digest,
            len: self.len,
            cvs: self.cvs,
        };
        (digest, table)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn digest_matches_plain_blake3_at_every_boundary() {
        for n in [
            0,
            1,
            1024,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            2 * CHUNK,
            3 * CHUNK + 5,
            1 << 20,
            (1 << 20) + 1,
            5 * CHUNK + 17,
        ] {
            let d = data(n);
            let mut h = ChunkHasher::new();
            // Odd-sized feeds to exercise buffering.
            for piece in d.chunks(7919) {
                h.update(piece);
            }
            let (digest, table) = h.finish();
            assert_eq!(digest, Digest::of(&d), "len {n}");
            let decoded = ChunkTable::decode(&digest, &table.encode()).unwrap();
            assert_eq!(decoded, table);
            for (i, c) in d.chunks(CHUNK).enumerate() {
                assert!(table.verify_chunk(i as u64, c), "len {n} chunk {i}");
                let mut bad = c.to_vec();
                bad[0] ^= 1;
                assert!(!table.verify_chunk(i as u64, &bad));
            }
            if n == 0 {
                assert!(table.verify_chunk(0, &[]));
            }
        }
    }

    #[test]
    fn forged_sidecar_is_refused() {
        let d = data(3 * CHUNK);
        let mut h = ChunkHasher::new();
        h.update(&d);
        let (digest, table) = h.finish();
        let mut bytes = table.encode();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(ChunkTable::decode(&digest, &bytes).is_none());
        assert!(ChunkTable::decode(&Digest::of(b"other"), &table.encode()).is_none());
        assert!(ChunkTable::decode(&digest, &bytes[..40]).is_none());
        // Claimed length changed: size no longer matches.
        let mut bytes = table.encode();
        bytes[40] = 1;
        assert!(ChunkTable::decode(&digest, &bytes).is_none());
        let mut bytes = table.encode();
        bytes[47] = 0xff;
        assert!(ChunkTable::decode(&digest, &bytes).is_none());
    }
}
