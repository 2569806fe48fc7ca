//! [`Manifest`]: the canonical, sorted entry list of one image; its digest is the image id.
//!
//! Entries are sorted by path bytes with the root `""` first, and an entry's index is its
//! position — later NFS file handles are derived from (image, index), so the order is part
//! of the format. The bytes are `raftboot_raft::codec` (format-version byte + bincode 1.3)
//! of the entry list; [`Manifest::from_bytes`] accepts only canonical bytes (validated and
//! re-encoded identically), so the digest of stored bytes always equals
//! [`Manifest::digest`].

use std::collections::BTreeSet;

use raftboot_raft::codec;
use serde::{Deserialize, Serialize};

use super::digest::Digest;
use super::entry::{EntryKind, ManifestEntry};
use super::error::CasError;
use super::validate::{normalize, validate};

#[derive(Serialize)]
struct WireRef<'a> {
    entries: &'a [ManifestEntry],
}

#[derive(Deserialize)]
struct WireOwned {
    entries: Vec<ManifestEntry>,
}

/// A validated image manifest with a precomputed directory index.
#[derive(Debug, Clone)]
pub struct Manifest {
    entries: Vec<ManifestEntry>,
    /// Parent index of each entry (the root is its own parent).
    parents: Vec<u32>,
    /// Children of entry `i` are `child_list[child_start[i]..child_start[i + 1]]`.
    child_start: Vec<u32>,
    child_list: Vec<u32>,
    digest: Digest,
}

impl PartialEq for Manifest {
    fn eq(&self, other: &Manifest) -> bool {
        self.entries == other.entries
    }
}

impl Eq for Manifest {}

impl Manifest {
    /// Build from entries in any order: sorts them, derives sizes of non-files, hard-link
    /// attributes and link counts, and validates the result.
    pub fn from_entries(mut entries: Vec<ManifestEntry>) -> Result<Manifest, CasError> {
        normalize(&mut entries)?;
        let bytes = encode(&entries)?;
        Manifest::indexed(entries, Digest::of(&bytes))
    }

    /// Decode and validate bytes from [`to_bytes`](Self::to_bytes). Refuses anything
    /// malformed or non-canonical; never panics on hostile input.
    pub fn from_bytes(bytes: &[u8]) -> Result<Manifest, CasError> {
        let wire: WireOwned = codec::decode(bytes)?;
        if encode(&wire.entries)? != bytes {
            return Err(CasError::InvalidManifest(
                "non-canonical encoding (trailing bytes?)".into(),
            ));
        }
        Manifest::indexed(wire.entries, Digest::of(bytes))
    }

    /// The canonical bytes (hash them to get [`digest`](Self::digest)).
    pub fn to_bytes(&self) -> Result<Vec<u8>, CasError> {
        encode(&self.entries)
    }

    fn indexed(entries: Vec<ManifestEntry>, digest: Digest) -> Result<Manifest, CasError> {
        let parents = validate(&entries)?;
        let n = entries.len();
        let mut child_start = vec![0u32; n + 1];
        for &p in parents.iter().skip(1) {
            child_start[p as usize + 1] += 1;
        }
        for i in 0..n {
            child_start[i + 1] += child_start[i];
        }
        let mut fill = child_start.clone();
        let mut child_list = vec![0u32; n.saturating_sub(1)];
        for (i, &p) in parents.iter().enumerate().skip(1) {
            let slot = &mut fill[p as usize];
            child_list[*slot as usize] = i as u32;
            *slot += 1;
        }
        Ok(Manifest {
            entries,
            parents,
            child_start,
            child_list,
            digest,
        })
    }

    /// The image id: BLAKE3 of [`to_bytes`](Self::to_bytes).
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// All entries in canonical order (index = position).
    pub fn entries(&self) -> &[ManifestEntry] {
        &self.entries
    }

    /// Number of entries (at least 1: the root).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false: a manifest has at least its root.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry at `index`.
    pub fn entry(&self, index: usize) -> Option<&ManifestEntry> {
        self.entries.get(index)
    }

    /// Find an entry by path (binary search). Leading and trailing `/` are ignored, so
    /// `""` and `"/"` both name the root.
    pub fn lookup(&self, path: &str) -> Option<(usize, &ManifestEntry)> {
        let path = path.trim_matches('/');
        let i = self
            .entries
            .binary_search_by(|e| e.path.as_str().cmp(path))
            .ok()?;
        Some((i, &self.entries[i]))
    }

    /// Find `name` in the directory at `dir_index`.
    pub fn lookup_child(&self, dir_index: usize, name: &str) -> Option<(usize, &ManifestEntry)> {
        let dir = self.entries.get(dir_index).filter(|d| d.is_dir())?;
        if name.is_empty() || name.contains('/') {
            return None;
        }
        if dir.path.is_empty() {
            self.lookup(name)
        } else {
            self.lookup(&format!("{}/{name}", dir.path))
        }
    }

    /// The parent directory's index (`None` for the root or an index out of range).
    pub fn parent(&self, index: usize) -> Option<usize> {
        if index == 0 {
            return None;
        }
        self.parents.get(index).map(|&p| p as usize)
    }

    /// The entries directly inside the directory at `dir_index`, in sorted order (empty
    /// for non-directories). O(children).
    pub fn children(&self, dir_index: usize) -> impl Iterator<Item = (usize, &ManifestEntry)> {
        let range = match (
            self.child_start.get(dir_index),
            self.child_start.get(dir_index + 1),
        ) {
            (Some(&a), Some(&b)) => a as usize..b as usize,
            _ => 0..0,
        };
        self.child_list
            .get(range)
            .unwrap_or(&[])
            .iter()
            .map(|&i| (i as usize, &self.entries[i as usize]))
    }

    /// Sum of the sizes of regular files (hard links not counted twice).
    pub fn total_file_bytes(&self) -> u64 {
        self.entries
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::File { .. }))
            .fold(0u64, |acc, e| acc.saturating_add(e.size))
    }

    /// The distinct content blobs this image needs.
    pub fn blobs(&self) -> BTreeSet<Digest> {
        self.entries
            .iter()
            .filter_map(|e| e.file_digest())
            .collect()
    }
}

fn encode(entries: &[ManifestEntry]) -> Result<Vec<u8>, CasError> {
    Ok(codec::encode(&WireRef { entries })?)
}
