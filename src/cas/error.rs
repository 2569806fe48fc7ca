//! The one error type of the content-addressed store: [`CasError`].
//!
//! Every failure of the blob store, the manifest codec and the importers is a variant here,
//! so callers (the API, the NFS server, the repair loop) can tell corruption from a missing
//! blob from a full disk without parsing strings.

use std::io;
use std::path::PathBuf;

use raftboot_raft::codec::CodecError;

use super::digest::Digest;

/// What went wrong in the content-addressed store.
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    /// A filesystem operation failed (disk full, permission denied, I/O error, ...).
    /// `op` says what the store was doing, `path` which file it was touching.
    #[error("{op} {}: {source}{}", path.display(), enospc_hint(source))]
    Io {
        /// What the store was doing ("create temp file", "rename blob into place", ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Bytes offered under a digest do not hash to that digest; nothing was stored.
    #[error("digest mismatch: expected {expected}, content hashes to {actual}")]
    DigestMismatch {
        /// The digest the caller claimed.
        expected: Digest,
        /// The digest of the bytes actually received.
        actual: Digest,
    },
    /// A stored blob failed verification; its bytes were not returned. `offset` is the start
    /// of the first bad 64 KiB chunk (or where the file ends early).
    #[error("blob {digest} is corrupt on disk at offset {offset}")]
    Corrupt {
        /// The blob.
        digest: Digest,
        /// Start of the first chunk that failed verification.
        offset: u64,
    },
    /// No blob with this digest is stored.
    #[error("blob {0} is not in the store")]
    NotFound(Digest),
    /// Manifest bytes could not be decoded.
    #[error("manifest decode: {0}")]
    Codec(#[from] CodecError),
    /// A manifest broke one of its invariants (order, parents, hard links, ...).
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    /// A file name in an imported tree or archive is not valid UTF-8. Manifests carry
    /// UTF-8 paths only; rename the file (or re-create the archive) to import it.
    #[error("file name is not valid UTF-8: {}", path.display())]
    NonUtf8Path {
        /// The offending path (shown lossily).
        path: PathBuf,
    },
    /// An import source contained something the store refuses (unsafe tar path, unsupported
    /// entry type, dangling hard link, ...).
    #[error("cannot import {path}: {reason}")]
    Import {
        /// The path inside the tree or archive.
        path: String,
        /// Why it was refused.
        reason: String,
    },
}

impl CasError {
    /// Wrap an [`io::Error`] with what was being done and to which path.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> CasError {
        CasError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`CasError::Import`].
    pub fn import(path: impl Into<String>, reason: impl Into<String>) -> CasError {
        CasError::Import {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// True when this error means stored data failed verification.
    pub fn is_corruption(&self) -> bool {
        matches!(self, CasError::Corrupt { .. })
    }
}

/// `ENOSPC` on Linux.
const ENOSPC: i32 = 28;

fn enospc_hint(e: &io::Error) -> &'static str {
    if e.raw_os_error() == Some(ENOSPC) {
        " (the data disk is full; free space or add capacity, nothing partial was kept)"
    } else {
        ""
    }
}
