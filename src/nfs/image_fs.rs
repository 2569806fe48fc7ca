//! [`ImageFs`]: the read-only tree the NFS server serves — the images and groups of the
//! replicated state, each image's manifest (loaded from the blob store by its digest and
//! cached by digest) and verified blob reads.
//!
//! Exports are `/images/<name>` and `/groups/<group>`; a group export resolves to the
//! group's active image when it is mounted, and the handle then names that image, so a later
//! activation does not change what a mounted client sees. All methods are synchronous (they
//! read files); the server calls them from blocking tasks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use raftboot_raft::SharedState;

use crate::cas::{BlobStore, CasError, Digest, EntryKind, Manifest, ManifestEntry};

use super::handle::{FileHandle, MAX_INDEX, MAX_SEQ};

/// Manifests kept in memory (cleared when exceeded; reloading is a verified blob read).
const MANIFEST_CACHE: usize = 64;
/// Largest manifest blob loaded.
const MAX_MANIFEST_BYTES: u64 = 1 << 30;

/// Why a file-system operation failed; mapped to an NFS status by the protocol layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    /// The handle names an image that is no longer (or not yet) in the replicated state.
    #[error("stale file handle")]
    Stale,
    /// The handle was never issued by a raftboot server.
    #[error("bad file handle")]
    BadHandle,
    /// No such name, image or group.
    #[error("no such file or directory")]
    NoEnt,
    /// A directory operation on a non-directory.
    #[error("not a directory")]
    NotDir,
    /// A file operation on a directory.
    #[error("is a directory")]
    IsDir,
    /// The operation does not apply to this object.
    #[error("invalid argument")]
    Inval,
    /// Stored data failed verification or could not be read.
    #[error("I/O error")]
    Io,
    /// A blob or manifest of a registered image is not on this replica yet.
    #[error("data not present on this replica yet")]
    NotYet,
}

impl From<CasError> for FsError {
    fn from(e: CasError) -> FsError {
        match e {
            CasError::NotFound(_) => FsError::NotYet,
            _ => FsError::Io,
        }
    }
}

/// A resolved entry: its image and its canonical index (a hard link resolves to the file
/// entry it shares an inode with, so both names have one handle and one fileid).
#[derive(Debug, Clone)]
pub struct Node {
    manifest: Arc<Manifest>,
    seq: u64,
    index: usize,
}

impl Node {
    fn new(manifest: Arc<Manifest>, seq: u64, index: usize) -> Result<Node, FsError> {
        let entry = manifest.entry(index).ok_or(FsError::Stale)?;
        let index = match &entry.kind {
            EntryKind::HardLink { target } => manifest.lookup(target).ok_or(FsError::Io)?.0,
            _ => index,
        };
        Ok(Node {
            manifest,
            seq,
            index,
        })
    }

    /// The image's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The image's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The canonical entry index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The entry (canonical: never a hard link).
    pub fn entry(&self) -> &ManifestEntry {
        // `index` was checked in `Node::new`; entries are never removed from a manifest.
        &self.manifest.entries()[self.index]
    }

    /// The wire handle.
    pub fn handle(&self) -> FileHandle {
        FileHandle::new(
            self.seq,
            self.index as u64,
            self.manifest.digest().as_bytes(),
        )
    }

    /// The fileid (inode number).
    pub fn fileid(&self) -> u64 {
        self.handle().fileid()
    }

    /// A child (or hard-link-resolved) entry of the same image.
    pub fn sibling(&self, index: usize) -> Result<Node, FsError> {
        Node::new(Arc::clone(&self.manifest), self.seq, index)
    }

    /// The parent directory (the root is its own parent).
    pub fn parent(&self) -> Node {
        let index = self.manifest.parent(self.index).unwrap_or(0);
        Node {
            manifest: Arc::clone(&self.manifest),
            seq: self.seq,
            index,
        }
    }
}

/// The served tree: replicated state + local blob store + manifest cache.
pub struct ImageFs {
    state: SharedState,
    store: Arc<BlobStore>,
    manifests: Mutex<HashMap<Digest, Arc<Manifest>>>,
}

impl ImageFs {
    /// Serve the images of `state` from `store`.
    pub fn new(state: SharedState, store: Arc<BlobStore>) -> ImageFs {
        ImageFs {
            state,
            store,
            manifests: Mutex::new(HashMap::new()),
        }
    }

    /// The blob store.
    pub fn store(&self) -> &BlobStore {
        &self.store
    }

    /// The manifest with this digest, from the cache or loaded (verified) from the store.
    pub fn manifest(&self, digest: &Digest) -> Result<Arc<Manifest>, FsError> {
        {
            let cache = self.manifests.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(m) = cache.get(digest) {
                return Ok(Arc::clone(m));
            }
        }
        let len = self.store.len_of(digest)?;
        if len > MAX_MANIFEST_BYTES {
            return Err(FsError::Io);
        }
        let bytes =
            self.store
                .read_at(digest, 0, usize::try_from(len).map_err(|_| FsError::Io)?)?;
        let manifest = Manifest::from_bytes(&bytes).map_err(|e| {
            tracing::error!(%digest, error = %e, "stored manifest does not decode");
            FsError::Io
        })?;
        if manifest.digest() != *digest || manifest.len() as u64 > MAX_INDEX {
            return Err(FsError::Io);
        }
        let manifest = Arc::new(manifest);
        let mut cache = self.manifests.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MANIFEST_CACHE {
            cache.clear();
        }
        cache.insert(*digest, Arc::clone(&manifest));
        Ok(manifest)
    }

    /// The root of image `seq` whose manifest digest is `hex`.
    fn image_root(&self, seq: u64, hex: &str) -> Result<Node, FsError> {
        if seq > MAX_SEQ {
            return Err(FsError::Io);
        }
        let digest: Digest = hex.parse().map_err(|_| FsError::Io)?;
        Node::new(self.manifest(&digest)?, seq, 0)
    }

    /// Resolve wire handle bytes.
    pub fn resolve(&self, fh: &[u8]) -> Result<Node, FsError> {
        let h = FileHandle::decode(fh).map_err(|_| FsError::BadHandle)?;
        let hex = {
            let g = self.state.read();
            let image = g.state.images.values().find(|i| i.seq == h.seq);
            match image {
                Some(i) => i.manifest.clone(),
                None => return Err(FsError::Stale),
            }
        };
        let digest: Digest = hex.parse().map_err(|_| FsError::Io)?;
        if digest.as_bytes()[..8] != h.digest_prefix {
            return Err(FsError::Stale);
        }
        let manifest = self.manifest(&digest)?;
        let index = usize::try_from(h.index).map_err(|_| FsError::Stale)?;
        if index >= manifest.len() {
            return Err(FsError::Stale);
        }
        Node::new(manifest, h.seq, index)
    }

    /// Resolve a MOUNT path: `/images/<name>` or `/groups/<group>` (the group's active
    /// image now), optionally followed by a path inside the image.
    pub fn mount(&self, path: &str) -> Result<Node, FsError> {
        let trimmed = path.trim_matches('/');
        let mut parts = trimmed.splitn(3, '/');
        let (kind, name) = match (parts.next(), parts.next()) {
            (Some(k), Some(n)) if !n.is_empty() => (k, n),
            _ => return Err(FsError::NoEnt),
        };
        let sub = parts.next().unwrap_or("");
        let (seq, hex) = {
            let g = self.state.read();
            let st = &g.state;
            let image_name = match kind {
                "images" => name.to_string(),
                "groups" => st
                    .groups
                    .get(name)
                    .and_then(|gr| gr.active_image.clone())
                    .ok_or(FsError::NoEnt)?,
                _ => return Err(FsError::NoEnt),
            };
            let image = st.images.get(&image_name).ok_or(FsError::NoEnt)?;
            (image.seq, image.manifest.clone())
        };
        let root = self.image_root(seq, &hex)?;
        if sub.is_empty() {
            return Ok(root);
        }
        let (index, entry) = root.manifest.lookup(sub).ok_or(FsError::NoEnt)?;
        if !entry.is_dir() {
            return Err(FsError::NotDir);
        }
        root.sibling(index)
    }

    /// Every export path, sorted: images first, then groups with an active image.
    pub fn exports(&self) -> Vec<String> {
        let g = self.state.read();
        let st = &g.state;
        let mut out: Vec<String> = st.images.keys().map(|n| format!("/images/{n}")).collect();
        out.extend(
            st.groups
                .values()
                .filter(|gr| gr.active_image.is_some())
                .map(|gr| format!("/groups/{}", gr.name)),
        );
        out
    }

    /// Find `name` in directory `dir` (`.` and `..` included).
    pub fn lookup(&self, dir: &Node, name: &[u8]) -> Result<Node, FsError> {
        if !dir.entry().is_dir() {
            return Err(FsError::NotDir);
        }
        match name {
            b"." => return Ok(dir.clone()),
            b".." => return Ok(dir.parent()),
            _ => {}
        }
        let name = std::str::from_utf8(name).map_err(|_| FsError::NoEnt)?;
        let (index, _) = dir
            .manifest
            .lookup_child(dir.index, name)
            .ok_or(FsError::NoEnt)?;
        dir.sibling(index)
    }

    /// Read up to `count` bytes at `offset` of a regular file; returns the bytes and EOF.
    /// Every 64 KiB chunk touched is verified: corrupt data is an error, never returned.
    pub fn read(&self, node: &Node, offset: u64, count: u32) -> Result<(Vec<u8>, bool), FsError> {
        let mut data = Vec::new();
        let eof = self.read_into(node, offset, count, &mut data)?;
        Ok((data, eof))
    }

    /// [`read`](Self::read), appending the verified bytes to `out` (the reply being built);
    /// returns EOF. On error `out` is unchanged.
    pub fn read_into(
        &self,
        node: &Node,
        offset: u64,
        count: u32,
        out: &mut Vec<u8>,
    ) -> Result<bool, FsError> {
        let entry = node.entry();
        let digest = match entry.kind {
            EntryKind::File { digest } => digest,
            EntryKind::Dir => return Err(FsError::IsDir),
            _ => return Err(FsError::Inval),
        };
        if offset >= entry.size || count == 0 {
            return Ok(offset >= entry.size);
        }
        let base = out.len();
        let n = self
            .store
            .read_at_into(&digest, offset, count as usize, out)?;
        let end = offset.saturating_add(n as u64);
        if n == 0 || end > entry.size {
            // The blob is shorter or longer than the manifest says: not the right content.
            out.truncate(base);
            return Err(FsError::Io);
        }
        Ok(end >= entry.size)
    }
}
