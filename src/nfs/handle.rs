//! [`FileHandle`]: the NFS file handle and fileid of one manifest entry, derived only from
//! replicated data.
//!
//! A handle names (image sequence number from Raft, entry index in the image's manifest,
//! first 8 bytes of the manifest digest). Every replica that applied the same log and holds
//! the same manifest encodes the same bytes and decodes them to the same entry, before and
//! after restarts; nothing local (start time, counters, inode numbers) goes in. The digest
//! prefix makes a handle from another cluster (or a re-used sequence number, which Raft
//! never produces) stale instead of silently naming another file.
//!
//! Wire layout (28 bytes): `b"RBN1"`, seq (u64 BE), index (u64 BE), digest prefix (8 bytes).
//! fileid = `(seq << 40) | (index + 1)`; fsid = seq.

/// Handle magic and format version.
const MAGIC: &[u8; 4] = b"RBN1";
/// Encoded length of a handle.
pub const HANDLE_LEN: usize = 28;
/// Bits of the fileid that hold `index + 1`.
const INDEX_BITS: u32 = 40;
/// Largest sequence number that fits in a fileid.
pub const MAX_SEQ: u64 = (1 << (64 - INDEX_BITS)) - 1;
/// Largest entry index that fits in a fileid.
pub const MAX_INDEX: u64 = (1 << INDEX_BITS) - 2;

/// One entry of one image, as named on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileHandle {
    /// The image's sequence number (assigned by the replicated state machine).
    pub seq: u64,
    /// The entry's index in the image's manifest.
    pub index: u64,
    /// First 8 bytes of the image's manifest digest.
    pub digest_prefix: [u8; 8],
}

/// Why bytes are not a handle of this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// Wrong length or magic: not a handle this server ever issued (NFS3ERR_BADHANDLE).
    #[error("not a raftboot file handle")]
    Bad,
}

impl FileHandle {
    /// The handle of entry `index` of the image `seq` whose manifest digest starts with
    /// `digest_prefix`.
    pub fn new(seq: u64, index: u64, digest: &[u8; 32]) -> FileHandle {
        let mut digest_prefix = [0u8; 8];
        digest_prefix.copy_from_slice(&digest[..8]);
        FileHandle {
            seq,
            index,
            digest_prefix,
        }
    }

    /// The 28 wire bytes.
    pub fn encode(&self) -> [u8; HANDLE_LEN] {
        let mut out = [0u8; HANDLE_LEN];
        out[..4].copy_from_slice(MAGIC);
        out[4..12].copy_from_slice(&self.seq.to_be_bytes());
        out[12..20].copy_from_slice(&self.index.to_be_bytes());
        out[20..28].copy_from_slice(&self.digest_prefix);
        out
    }

    /// Parse wire bytes. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<FileHandle, HandleError> {
        if bytes.len() != HANDLE_LEN || &bytes[..4] != MAGIC {
            return Err(HandleError::Bad);
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[4..12]);
        let mut index = [0u8; 8];
        index.copy_from_slice(&bytes[12..20]);
        let mut digest_prefix = [0u8; 8];
        digest_prefix.copy_from_slice(&bytes[20..28]);
        let h = FileHandle {
            seq: u64::from_be_bytes(seq),
            index: u64::from_be_bytes(index),
            digest_prefix,
        };
        if h.seq > MAX_SEQ || h.index > MAX_INDEX {
            return Err(HandleError::Bad);
        }
        Ok(h)
    }

    /// The NFS fileid (inode number): unique per (image, entry), never 0.
    pub fn fileid(&self) -> u64 {
        fileid(self.seq, self.index)
    }
}

/// fileid of entry `index` of image `seq`: `(seq << 40) | (index + 1)`.
pub fn fileid(seq: u64, index: u64) -> u64 {
    (seq & MAX_SEQ) << INDEX_BITS | (index.wrapping_add(1) & ((1 << INDEX_BITS) - 1))
}
