//! The backup file format (version 1), written and read as a stream.
//!
//! ```text
//! magic        16 bytes  "RAFTBOOT-BACKUP\n"
//! version       4 bytes  u32 little endian (1)
//! header_len    4 bytes  u32 little endian (at most 64 MiB)
//! header        JSON     BackupHeader: cluster, node, applied index and term, state
//!                        digest and length, creation time, with_blobs, the blob list
//! header_hash  32 bytes  BLAKE3 of the header bytes
//! state        state_len bytes: the codec encoding of the replicated State (version byte
//!                        + bincode); its BLAKE3 is the state digest in the header
//! blobs        only with with_blobs: each blob of the list, in list order, raw; each
//!                        must hash to its digest and have its size
//! trailer_magic 8 bytes  "RBEND\0\0\0"
//! file_hash    32 bytes  BLAKE3 of every byte before the trailer magic
//! ```
//!
//! Everything is checked on reading: a wrong magic, an unknown version, a header, state or
//! blob whose hash does not match, a truncated file (missing trailer) or bytes after the
//! trailer each give their own [`BackupError`].

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

/// First bytes of every backup file.
pub const MAGIC: &[u8; 16] = b"RAFTBOOT-BACKUP\n";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Marks the end of the body.
pub const TRAILER: &[u8; 8] = b"RBEND\0\0\0";
/// Largest header accepted.
pub const MAX_HEADER: u32 = 64 * 1024 * 1024;
/// Largest state accepted (the codec's own decode limit).
pub const MAX_STATE: u64 = raftboot_raft::codec::MAX_DECODED;

/// One blob an image of the backup needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// Hex BLAKE3 digest.
    pub digest: String,
    pub size: u64,
}

/// What the backup holds (the JSON header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    /// The cluster name of the cluster it was taken from.
    pub cluster: String,
    /// The node that served it (the leader, after a linearizable read).
    pub node: String,
    /// The state is exactly the state after applying this log index.
    pub applied_index: u64,
    pub applied_term: u64,
    /// Hex BLAKE3 of the state bytes (equal to `bootctl status`'s state digest).
    pub state_digest: String,
    pub state_len: u64,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
    pub hosts: usize,
    pub leases: usize,
    pub images: usize,
    /// Whether the blobs follow the state.
    pub with_blobs: bool,
    /// Every blob the state's images need (manifests and file contents), sorted, unique.
    pub blobs: Vec<BlobRef>,
}

/// A backup file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not a raftboot backup (wrong magic bytes)")]
    NotABackup,
    #[error("backup format version {0} is not supported (this build reads version {VERSION})")]
    Version(u32),
    #[error("the backup is truncated: it ends inside {0}")]
    Truncated(&'static str),
    #[error("the backup header is corrupt: {0}")]
    Header(String),
    #[error("the backup's state is corrupt: its digest is {got}, the header says {want}")]
    State { want: String, got: String },
    #[error("the backup's state cannot be decoded: {0}")]
    StateDecode(String),
    #[error("blob {digest} in the backup is corrupt (its bytes hash to {got})")]
    Blob { digest: String, got: String },
    #[error(
        "the backup's file checksum does not match (the file was changed after it was written)"
    )]
    FileChecksum,
    #[error("the backup has {0} unexpected bytes after its end")]
    TrailingData(u64),
    #[error("a blob the backup should contain was not written: {0}")]
    MissingBlob(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn eof_as(what: &'static str) -> impl Fn(std::io::Error) -> BackupError {
    move |e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            BackupError::Truncated(what)
        } else {
            BackupError::Io(e)
        }
    }
}

/// Copies everything written through it into a running BLAKE3.
struct Hashing<W> {
    inner: W,
    hash: blake3::Hasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a backup file: header and state at creation, then each blob, then the trailer.
pub struct BackupWriter<W: Write> {
    out: Hashing<W>,
    pending: std::collections::VecDeque<BlobRef>,
}

impl<W: Write> BackupWriter<W> {
    /// Write the magic, version, header and state. `state` must hash to the header's
    /// state digest (checked).
    pub fn new(out: W, header: &BackupHeader, state: &[u8]) -> Result<Self, BackupError> {
        let got = blake3::hash(state).to_hex().to_string();
        if got != header.state_digest || state.len() as u64 != header.state_len {
            return Err(BackupError::State {
                want: header.state_digest.clone(),
                got,
            });
        }
        let json = serde_json::to_vec(header).map_err(|e| BackupError::Header(e.to_string()))?;
        let len = u32::try_from(json.len())
            .ok()
            .filter(|l| *l <= MAX_HEADER)
            .ok_or_else(|| BackupError::Header("header too large".into()))?;
        let mut out = Hashing {
            inner: out,
            hash: blake3::Hasher::new(),
        };
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&json)?;
        out.write_all(blake3::hash(&json).as_bytes())?;
        out.write_all(state)?;
        let pending = if header.with_blobs {
            header.blobs.iter().cloned().collect()
        } else {
            Default::default()
        };
        Ok(Self { out, pending })
    }

    /// The next blob the file expects, if any.
    pub fn next_expected(&self) -> Option<&BlobRef> {
        self.pending.front()
    }

    /// Stream the next blob from `src`, verifying its size and digest on the way.
    pub fn write_blob(&mut self, src: &mut impl Read) -> Result<BlobRef, BackupError> {
        let want = self
            .pending
            .pop_front()
            .ok_or_else(|| BackupError::MissingBlob("no blob is expected".into()))?;
        let mut hash = blake3::Hasher::new();
        let mut left = want.size;
        let mut buf = vec![0u8; 1 << 20];
        while left > 0 {
            let take = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
            let n = src.read(&mut buf[..take])?;
            if n == 0 {
                return Err(BackupError::Truncated("a blob sent by the node"));
            }
            hash.update(&buf[..n]);
            self.out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        let got = hash.finalize().to_hex().to_string();
        if got != want.digest {
            return Err(BackupError::Blob {
                digest: want.digest,
                got,
            });
        }
        Ok(want)
    }

    /// Write the trailer; every expected blob must have been written.
    pub fn finish(self) -> Result<W, BackupError> {
        if let Some(b) = self.pending.front() {
            return Err(BackupError::MissingBlob(b.digest.clone()));
        }
        let file_hash = self.out.hash.finalize();
        let mut inner = self.out.inner;
        inner.write_all(TRAILER)?;
        inner.write_all(file_hash.as_bytes())?;
        inner.flush()?;
        Ok(inner)
    }
}

/// Copies everything read through it into a running BLAKE3.
struct HashingReader<R> {
    inner: R,
    hash: blake3::Hasher,
}

impl<R: Read> HashingReader<R> {
    fn exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), BackupError> {
        self.inner.read_exact(buf).map_err(eof_as(what))?;
        self.hash.update(buf);
        Ok(())
    }
}

/// Reads and verifies a backup file.
pub struct BackupReader<R: Read> {
    input: HashingReader<R>,
    header: BackupHeader,
    next_blob: usize,
}

impl<R: Read> BackupReader<R> {
    /// Read and check the magic, version and header.
    pub fn open(input: R) -> Result<Self, BackupError> {
        let mut input = HashingReader {
            inner: input,
            hash: blake3::Hasher::new(),
        };
        let mut magic = [0u8; 16];
        match input.exact(&mut magic, "the magic bytes") {
            Err(BackupError::Truncated(_)) => return Err(BackupError::NotABackup),
            other => other?,
        }
        if &magic != MAGIC {
            return Err(BackupError::NotABackup);
        }
        let mut word = [0u8; 4];
        input.exact(&mut word, "the version")?;
        let version = u32::from_le_bytes(word);
        if version != VERSION {
            return Err(BackupError::Version(version));
        }
        input.exact(&mut word, "the header length")?;
        let len = u32::from_le_bytes(word);
        if len > MAX_HEADER {
            return Err(BackupError::Header(format!(
                "header length {len} is too large"
            )));
        }
        let mut json = vec![0u8; len as usize];
        input.exact(&mut json, "the header")?;
        let mut hash = [0u8; 32];
        input.exact(&mut hash, "the header checksum")?;
        if blake3::hash(&json).as_bytes() != &hash {
            return Err(BackupError::Header("checksum mismatch".into()));
        }
        let header: BackupHeader =
            serde_json::from_slice(&json).map_err(|e| BackupError::Header(e.to_string()))?;
        if header.state_len > MAX_STATE {
            return Err(BackupError::Header(format!(
                "state length {} is too large",
                header.state_len
            )));
        }
        Ok(Self {
            input,
            header,
            next_blob: 0,
        })
    }

    pub fn header(&self) -> &BackupHeader {
        &self.header
    }

    /// Read the state bytes and check them against the header's digest.
    pub fn read_state(&mut self) -> Result<(Vec<u8>, raftboot_raft::State), BackupError> {
        let len = usize::try_from(self.header.state_len)
            .map_err(|_| BackupError::Header("state length".into()))?;
        let mut bytes = vec![0u8; len];
        self.input.exact(&mut bytes, "the state")?;
        let got = blake3::hash(&bytes).to_hex().to_string();
        if got != self.header.state_digest {
            return Err(BackupError::State {
                want: self.header.state_digest.clone(),
                got,
            });
        }
        let mut state: raftboot_raft::State = raftboot_raft::codec::decode(&bytes)
            .map_err(|e| BackupError::StateDecode(e.to_string()))?;
        state.reindex();
        Ok((bytes, state))
    }

    /// The next blob (read whole and verified), or `None` after the last one (or when the
    /// file carries no blobs). Call after [`Self::read_state`].
    pub fn next_blob(&mut self) -> Result<Option<(BlobRef, Vec<u8>)>, BackupError> {
        if !self.header.with_blobs {
            return Ok(None);
        }
        let Some(b) = self.header.blobs.get(self.next_blob).cloned() else {
            return Ok(None);
        };
        self.next_blob += 1;
        let len = usize::try_from(b.size)
            .map_err(|_| BackupError::Header(format!("blob {} size", b.digest)))?;
        let mut bytes = Vec::new();
        (&mut self.input.inner)
            .take(b.size)
            .read_to_end(&mut bytes)?;
        if bytes.len() != len {
            return Err(BackupError::Truncated("a blob"));
        }
        self.input.hash.update(&bytes);
        let got = blake3::hash(&bytes).to_hex().to_string();
        if got != b.digest {
            return Err(BackupError::Blob {
                digest: b.digest,
                got,
            });
        }
        Ok(Some((b, bytes)))
    }

    /// Check the trailer, the whole-file checksum, and that nothing follows. Every blob
    /// must have been read.
    pub fn finish(mut self) -> Result<BackupHeader, BackupError> {
        while self.next_blob()?.is_some() {}
        let want = self.input.hash.finalize();
        let mut trailer = [0u8; 8 + 32];
        self.input
            .inner
            .read_exact(&mut trailer)
            .map_err(eof_as("the trailer"))?;
        if &trailer[..8] != TRAILER || &trailer[8..] != want.as_bytes() {
            return Err(BackupError::FileChecksum);
        }
        let extra = std::io::copy(&mut self.input.inner, &mut std::io::sink())?;
        if extra > 0 {
            return Err(BackupError::TrailingData(extra));
        }
        Ok(self.header)
    }
}

/// Read a whole backup, checking everything, without keeping the blobs.
pub fn verify(input: impl Read) -> Result<BackupHeader, BackupError> {
    let mut r = BackupReader::open(input)?;
    r.read_state()?;
    r.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn sample(with_blobs: bool) -> (Vec<u8>, BackupHeader) {
        let state = raftboot_raft::State::default();
        let bytes = raftboot_raft::codec::encode(&state).unwrap();
        let blobs: Vec<Vec<u8>> = vec![b"hello".to_vec(), vec![7u8; 300_000]];
        let header = BackupHeader {
            cluster: "c".into(),
            node: "a".into(),
            applied_index: 9,
            applied_term: 2,
            state_digest: blake3::hash(&bytes).to_hex().to_string(),
            state_len: bytes.len() as u64,
            created_ms: 1,
            hosts: 0,
            leases: 0,
            images: 0,
            with_blobs,
            blobs: blobs
                .iter()
                .map(|b| BlobRef {
                    digest: blake3::hash(b).to_hex().to_string(),
                    size: b.len() as u64,
                })
                .collect(),
        };
        let mut w = BackupWriter::new(Vec::new(), &header, &bytes).unwrap();
        if with_blobs {
            for b in &blobs {
                w.write_blob(&mut b.as_slice()).unwrap();
            }
        }
        (w.finish().unwrap(), header)
    }

    #[test]
    fn round_trip_with_and_without_blobs() {
        for with in [false, true] {
            let (file, header) = sample(with);
            let mut r = BackupReader::open(file.as_slice()).unwrap();
            assert_eq!(r.header(), &header);
            r.read_state().unwrap();
            let mut n = 0;
            while let Some((b, bytes)) = r.next_blob().unwrap() {
                assert_eq!(b.size, bytes.len() as u64);
                n += 1;
            }
            assert_eq!(n, if with { 2 } else { 0 });
            r.finish().unwrap();
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let (file, _) = sample(true);
        for cut in (0..file.len()).step_by(997).chain([file.len() - 1]) {
            let e = verify(&file[..cut]).unwrap_err();
            assert!(
                matches!(e, BackupError::Truncated(_) | BackupError::NotABackup),
                "cut at {cut}: {e}"
            );
        }
    }

    #[test]
    fn wrong_blob_is_refused_while_writing() {
        let (_, header) = sample(true);
        let bytes = raftboot_raft::codec::encode(&raftboot_raft::State::default()).unwrap();
        let mut w = BackupWriter::new(Vec::new(), &header, &bytes).unwrap();
        assert!(matches!(
            w.write_blob(&mut &b"hellO"[..]),
            Err(BackupError::Blob { .. })
        ));
    }

    #[test]
    fn extra_bytes_and_version_are_refused() {
        let (mut file, _) = sample(false);
        file.push(0);
        assert!(matches!(
            verify(file.as_slice()),
            Err(BackupError::TrailingData(1))
        ));
        let (mut file, _) = sample(false);
        file[16] = 2;
        assert!(matches!(
            verify(file.as_slice()),
            Err(BackupError::Version(2))
        ));
    }

    proptest! {
        /// Any single flipped byte is detected (never accepted, never a panic).
        #[test]
        fn any_flipped_byte_is_detected(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let (mut file, _) = sample(true);
            let i = pos.index(file.len());
            file[i] ^= 1 << bit;
            prop_assert!(verify(file.as_slice()).is_err());
        }
    }
}
