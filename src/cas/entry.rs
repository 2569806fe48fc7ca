//! [`ManifestEntry`] and [`EntryKind`]: one file, directory, link or node of an image.
//!
//! Paths are relative, `/`-separated, UTF-8, without a leading `/`; the root directory is
//! `""`. File names that are not UTF-8 cannot be represented and are refused at import.

use serde::{Deserialize, Serialize};

use super::digest::Digest;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file whose content is the blob `digest`.
    File {
        /// The content blob.
        digest: Digest,
    },
    /// A symbolic link (the target is stored verbatim, never followed).
    Symlink {
        /// The link's target.
        target: String,
    },
    /// A further name of a regular file: `target` is the path of the [`EntryKind::File`]
    /// entry of that inode that sorts first. Inode attributes are copied from it.
    HardLink {
        /// Path of the file entry this name shares an inode with.
        target: String,
    },
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
}

/// One entry of a [`Manifest`](super::Manifest).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Relative `/`-separated path; `""` is the root.
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Permission bits plus setuid/setgid/sticky (`mode & 0o7777`), not the type bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Content length for files and hard links, target length for symlinks, else 0.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime_s: i64,
    /// Modification time, nanoseconds part (< 1e9).
    pub mtime_ns: u32,
    /// Link count within the image: 2 + subdirectories for a directory, 1 + hard links
    /// for a file (and the same for its hard links), 1 otherwise. Computed by
    /// [`Manifest::from_entries`](super::Manifest::from_entries).
    pub nlink: u32,
}

impl ManifestEntry {
    /// An entry with the given path and kind and zeroed attributes (mode 0, root-owned,
    /// mtime 0); set the rest with struct update syntax or field assignment.
    pub fn new(path: impl Into<String>, kind: EntryKind) -> ManifestEntry {
        ManifestEntry {
            path: path.into(),
            kind,
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            mtime_s: 0,
            mtime_ns: 0,
            nlink: 1,
        }
    }

    /// The last path component (`""` for the root).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }

    /// True for directories.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, EntryKind::Dir)
    }

    /// The content blob of a regular file.
    pub fn file_digest(&self) -> Option<Digest> {
        match self.kind {
            EntryKind::File { digest } => Some(digest),
            _ => None,
        }
    }
}

/// The parent path of a non-root path (`"a/b"` → `"a"`, `"a"` → `""`).
pub fn parent_path(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

/// Whether `path` is a well-formed relative manifest path (the root `""` included).
pub fn is_valid_path(path: &str) -> bool {
    path.is_empty()
        || path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'))
}
