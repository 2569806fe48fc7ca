//! [`BlobStore`]: immutable blobs on local disk, named by their BLAKE3 digest.
//!
//! Layout under the data dir:
//!
//! ```text
//! blobs/ab/abcdef…          the blob (ab = first byte of the digest, in hex)
//! blobs/ab/abcdef….chunks   its chunk table (see `chunk_table`; only for blobs > 64 KiB)
//! tmp/                      temp files; everything here is deleted at open
//! quarantine/               blobs that failed verification, moved aside
//! ```
//!
//! Every write goes to a temp file, is hashed on the way, `fsync`ed and renamed into place
//! (sidecar first, then the blob), then the directory is `fsync`ed: a blob is either wholly
//! present with its sidecar or absent. Writing a blob that exists is a no-op (dedup); a
//! corrupt blob must be [quarantined](BlobStore::quarantine) before a good copy can replace
//! it. Reads, verification and scrubbing live in `blob_read`. One `BlobStore` (one process)
//! owns a data dir: opening it clears `tmp/`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::chunk_cache::ChunkCache;
use super::chunk_table::{ChunkHasher, ChunkTable};
use super::digest::Digest;
use super::error::CasError;
use super::temp_file::{sync_dir, TempFile};

/// Read/write buffer for streaming copies.
pub(super) const COPY_BUF: usize = 256 * 1024;

/// A content-addressed blob store rooted at one data dir. Cheap to share (`&self` methods,
/// `Send + Sync`).
#[derive(Debug)]
pub struct BlobStore {
    root: PathBuf,
    blobs: PathBuf,
    tmp: PathBuf,
    quarantine: PathBuf,
    /// Chunk tables already verified against their digest (content-derived, so never stale).
    pub(super) tables: Mutex<HashMap<Digest, Arc<ChunkTable>>>,
    /// Verified chunks for the serving path ([`read_at_into`](Self::read_at_into));
    /// disabled (0 bytes) unless [`set_chunk_cache`](Self::set_chunk_cache) sized it.
    pub(super) cache: ChunkCache,
}

fn mkdir(p: &Path) -> Result<(), CasError> {
    fs::create_dir_all(p).map_err(|e| CasError::io("create directory", p, e))
}

impl BlobStore {
    /// Open (creating if needed) the store under `dir` and delete stale temp files.
    pub fn open(dir: &Path) -> Result<BlobStore, CasError> {
        let store = BlobStore {
            root: dir.to_path_buf(),
            blobs: dir.join("blobs"),
            tmp: dir.join("tmp"),
            quarantine: dir.join("quarantine"),
            tables: Mutex::new(HashMap::new()),
            cache: ChunkCache::new(0),
        };
        for d in [&store.root, &store.blobs, &store.tmp, &store.quarantine] {
            mkdir(d)?;
        }
        let stale = fs::read_dir(&store.tmp).map_err(|e| CasError::io("list", &store.tmp, e))?;
        for entry in stale {
            let entry = entry.map_err(|e| CasError::io("list", &store.tmp, e))?;
            let p = entry.path();
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(CasError::io("remove stale temp file", p, e)),
            }
        }
        Ok(store)
    }

    /// Keep up to `max_bytes` of verified chunks in memory for
    /// [`read_at_into`](Self::read_at_into) (0: none). Replaces any earlier cache.
    pub fn set_chunk_cache(&mut self, max_bytes: usize) {
        self.cache = ChunkCache::new(max_bytes);
    }

    /// The serving path's chunk cache (for its hit and miss counters).
    pub fn chunk_cache(&self) -> &ChunkCache {
        &self.cache
    }

    /// The data dir.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn fanout_dir(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(format!("{:02x}", digest.0[0]))
    }

    /// Where the blob lives (whether or not it is present).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.fanout_dir(digest).join(digest.to_string())
    }

    /// Where the blob's chunk table lives.
    pub fn sidecar_path(&self, digest: &Digest) -> PathBuf {
        self.fanout_dir(digest).join(format!("{digest}.chunks"))
    }

    /// Whether the blob is stored (quarantined blobs are not).
    pub fn contains(&self, digest: &Digest) -> bool {
        fs::symlink_metadata(self.blob_path(digest)).is_ok_and(|m| m.is_file())
    }

    /// The blob's length in bytes.
    pub fn len_of(&self, digest: &Digest) -> Result<u64, CasError> {
        let p = self.blob_path(digest);
        match fs::symlink_metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(CasError::NotFound(*digest)),
            Err(e) => Err(CasError::io("stat blob", p, e)),
        }
    }

    /// Open the blob file, mapping "absent" to [`CasError::NotFound`].
    pub(super) fn open_blob(&self, digest: &Digest) -> Result<File, CasError> {
        let p = self.blob_path(digest);
        File::open(&p).map_err(|e| match e.kind() {
            ErrorKind::NotFound => CasError::NotFound(*digest),
            _ => CasError::io("open blob", p, e),
        })
    }

    /// Store `bytes`; returns their digest. A no-op if already stored.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest, CasError> {
        let mut h = ChunkHasher::new();
        h.update(bytes);
        let (digest, table) = h.finish();
        self.put_hashed(&table, bytes)?;
        Ok(digest)
    }

    /// Store `bytes` only if they hash to `expected` (a blob from a peer or an uploader).
    /// Otherwise [`CasError::DigestMismatch`] and nothing is written.
    pub fn put_verified(&self, expected: Digest, bytes: &[u8]) -> Result<(), CasError> {
        let mut h = ChunkHasher::new();
        h.update(bytes);
        let (actual, table) = h.finish();
        if actual != expected {
            return Err(CasError::DigestMismatch { expected, actual });
        }
        self.put_hashed(&table, bytes)
    }

    fn put_hashed(&self, table: &ChunkTable, bytes: &[u8]) -> Result<(), CasError> {
        if self.contains(&table.digest()) {
            return Ok(());
        }
        let mut tmp = TempFile::new_in(&self.tmp)?;
        tmp.write_all(bytes)?;
        self.commit(table, tmp)
    }

    /// Stream a file into the store without reading it whole; returns (digest, length).
    pub fn put_file(&self, path: &Path) -> Result<(Digest, u64), CasError> {
        let f = File::open(path).map_err(|e| CasError::io("open source file", path, e))?;
        self.put_stream(f, path, None)
    }

    /// Like [`put_file`](Self::put_file), but refuses (storing nothing) unless the content
    /// hashes to `expected` — e.g. a file that changed since it was planned.
    pub fn put_file_verified(&self, expected: Digest, path: &Path) -> Result<u64, CasError> {
        let f = File::open(path).map_err(|e| CasError::io("open source file", path, e))?;
        Ok(self.put_stream(f, path, Some(expected))?.1)
    }

    /// Stream any reader into the store; returns (digest, length). `source` names the
    /// reader in error messages.
    pub fn put_reader(&self, r: impl Read, source: &Path) -> Result<(Digest, u64), CasError> {
        self.put_stream(r, source, None)
    }

    /// Like [`put_reader`](Self::put_reader), but refuses (storing nothing) unless the
    /// content hashes to `expected`. Returns the length.
    pub fn put_reader_verified(
        &self,
        expected: Digest,
        r: impl Read,
        source: &Path,
    ) -> Result<u64, CasError> {
        Ok(self.put_stream(r, source, Some(expected))?.1)
    }

    fn put_stream(
        &self,
        mut r: impl Read,
        source: &Path,
        expected: Option<Digest>,
    ) -> Result<(Digest, u64), CasError> {
        let mut tmp = TempFile::new_in(&self.tmp)?;
        let mut h = ChunkHasher::new();
        let mut buf = vec![0u8; COPY_BUF];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(CasError::io("read", source, e)),
            };
            h.update(&buf[..n]);
            tmp.write_all(&buf[..n])?;
        }
        let len = h.len();
        let (digest, table) = h.finish();
        if let Some(expected) = expected {
            if expected != digest {
                return Err(CasError::DigestMismatch {
                    expected,
                    actual: digest,
                });
            }
        }
        if !self.contains(&digest) {
            self.commit(&table, tmp)?;
        }
        Ok((digest, len))
    }

    /// Make a fully written temp blob visible: sidecar, then blob, then the directory.
    fn commit(&self, table: &ChunkTable, blob: TempFile) -> Result<(), CasError> {
        let digest = table.digest();
        let dir = self.fanout_dir(&digest);
        mkdir(&dir)?;
        if table.needs_sidecar() {
            self.write_sidecar(table)?;
        }
        blob.persist(&self.blob_path(&digest))?;
        sync_dir(&dir)
    }

    /// Atomically (re)write a blob's sidecar. Does not sync the directory.
    pub(super) fn write_sidecar(&self, table: &ChunkTable) -> Result<(), CasError> {
        let mut side = TempFile::new_in(&self.tmp)?;
        side.write_all(&table.encode())?;
        side.persist(&self.sidecar_path(&table.digest()))
    }

    /// Delete a blob and its sidecar. Returns whether the blob was present.
    pub fn remove(&self, digest: &Digest) -> Result<bool, CasError> {
        self.forget_table(digest);
        let p = self.blob_path(digest);
        let existed = match fs::remove_file(&p) {
            Ok(()) => true,
            Err(e) if e.kind() == ErrorKind::NotFound => false,
            Err(e) => return Err(CasError::io("remove blob", p, e)),
        };
        let s = self.sidecar_path(digest);
        match fs::remove_file(&s) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(CasError::io("remove sidecar", s, e)),
        }
        sync_dir(&self.fanout_dir(digest))?;
        Ok(existed)
    }

    /// Move a (corrupt) blob and its sidecar into `quarantine/`, so that
    /// [`contains`](Self::contains) is false and a good copy can be stored again.
    /// [`CasError::NotFound`] if the blob is not stored.
    pub fn quarantine(&self, digest: &Digest) -> Result<(), CasError> {
        self.forget_table(digest);
        let p = self.blob_path(digest);
        let q = self.quarantine.join(digest.to_string());
        fs::rename(&p, &q).map_err(|e| match e.kind() {
            ErrorKind::NotFound => CasError::NotFound(*digest),
            _ => CasError::io("move blob to quarantine", &p, e),
        })?;
        let s = self.sidecar_path(digest);
        let qs = self.quarantine.join(format!("{digest}.chunks"));
        match fs::rename(&s, &qs) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(CasError::io("move sidecar to quarantine", s, e)),
        }
        sync_dir(&self.fanout_dir(digest))?;
        sync_dir(&self.quarantine)
    }

    /// Every stored blob, sorted.
    pub fn list(&self) -> Result<Vec<Digest>, CasError> {
        let mut out = Vec::new();
        let top = fs::read_dir(&self.blobs).map_err(|e| CasError::io("list", &self.blobs, e))?;
        for sub in top {
            let sub = sub.map_err(|e| CasError::io("list", &self.blobs, e))?;
            let name = sub.file_name();
            let is_fanout = name.len() == 2 && name.to_str().is_some_and(is_lower_hex);
            if !is_fanout {
                continue;
            }
            let dir = sub.path();
            let files = fs::read_dir(&dir).map_err(|e| CasError::io("list", &dir, e))?;
            for f in files {
                let f = f.map_err(|e| CasError::io("list", &dir, e))?;
                let name = f.file_name();
                let Some(name) = name.to_str() else { continue };
                if name.len() == 64 && is_lower_hex(name) {
                    if let Ok(d) = name.parse::<Digest>() {
                        out.push(d);
                    }
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Digests currently in `quarantine/`, sorted.
    pub fn quarantined(&self) -> Result<Vec<Digest>, CasError> {
        let dir = &self.quarantine;
        let mut out = Vec::new();
        for f in fs::read_dir(dir).map_err(|e| CasError::io("list", dir, e))? {
            let f = f.map_err(|e| CasError::io("list", dir, e))?;
            if let Some(d) = f.file_name().to_str().and_then(|n| n.parse().ok()) {
                out.push(d);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    pub(super) fn forget_table(&self, digest: &Digest) {
        let mut t = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        t.remove(digest);
        drop(t);
        self.cache.forget(digest);
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
