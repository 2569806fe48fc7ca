//! [`ChunkCache`]: verified 64 KiB chunks of blobs kept in memory for the serving paths, so
//! a chunk that many clients read (a boot storm reads the same libc a thousand times) is
//! hashed once instead of on every read.
//!
//! What may be cached is only what [`BlobStore::read_at_into`](super::BlobStore) has just
//! read from disk *and* verified against the blob's chunk table; a hit serves those bytes
//! from this process's memory, never from disk, so nothing unverified is ever served. Each
//! entry remembers the blob file's identity when it was read ([`FileStamp`]: device, inode,
//! length, mtime and ctime): if the file was rewritten, replaced or truncated since, the
//! entry is dropped and the chunk is read and verified again, so damage written to a
//! blob file is still detected on the next read. (Two limits: a rewrite within one
//! timestamp tick of the file's previous change keeps the stamp; bit rot under the page
//! cache of a chunk that stays cached is not seen on read. Both are left to the scrub, and
//! in both cases the cached copy is the good content.)
//!
//! Bounded by bytes; when full, a *random* entry is evicted. Random replacement keeps a
//! useful hit rate when clients scan a file larger than the cache, where LRU or FIFO would
//! miss every time.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::digest::Digest;

/// The default chunk cache of a boot server's store (`chunk_cache_mib` in the node
/// configuration): enough for a boot's hot set (kernel, initrd, the libraries and binaries
/// every client runs) many times over.
pub const SERVE_CACHE_BYTES: usize = (cluster_config::DEFAULT_CHUNK_CACHE_MIB as usize) << 20;

/// What identifies the blob file a chunk was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    /// The stamp of an open file's metadata.
    pub fn of(m: &Metadata) -> FileStamp {
        FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

type Key = (Digest, u64);

struct Slot {
    /// Position of the key in `Inner::keys`.
    pos: usize,
    stamp: FileStamp,
    data: Arc<[u8]>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, Slot>,
    /// Every key once, for picking a random victim in O(1).
    keys: Vec<Key>,
    bytes: usize,
    rng: u64,
}

impl Inner {
    fn remove(&mut self, key: &Key) {
        let Some(slot) = self.map.remove(key) else {
            return;
        };
        self.bytes -= slot.data.len();
        self.keys.swap_remove(slot.pos);
        if let Some(moved) = self.keys.get(slot.pos).copied() {
            if let Some(s) = self.map.get_mut(&moved) {
                s.pos = slot.pos;
            }
        }
    }

    /// xorshift64: a victim index, no need for a good generator.
    fn random_below(&mut self, n: usize) -> usize {
        let mut x = self.rng | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x % n as u64) as usize
    }
}

/// Verified chunks in memory, at most `max_bytes` of them.
pub struct ChunkCache {
    inner: Mutex<Inner>,
    max_bytes: usize,
    /// Chunks served from memory.
    pub hits: AtomicU64,
    /// Chunks that had to be read (and verified) from disk.
    pub misses: AtomicU64,
}

impl std::fmt::Debug for ChunkCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkCache")
            .field("max_bytes", &self.max_bytes)
            .field("hits", &self.hits)
            .field("misses", &self.misses)
            .finish()
    }
}

impl ChunkCache {
    /// A cache holding at most `max_bytes` of chunk data (0 disables it).
    pub fn new(max_bytes: usize) -> ChunkCache {
        ChunkCache {
            inner: Mutex::new(Inner {
                rng: 0x9e37_79b9_7f4a_7c15,
                ..Inner::default()
            }),
            max_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether anything can be cached.
    pub fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    /// Bytes of chunk data held.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Chunk `index` of blob `digest`, if cached from a file with this `stamp` (an entry
    /// from another version of the file is dropped).
    pub fn get(&self, digest: &Digest, index: u64, stamp: &FileStamp) -> Option<Arc<[u8]>> {
        let key = (*digest, index);
        let mut g = self.lock();
        let hit = match g.map.get(&key) {
            Some(slot) if slot.stamp == *stamp => Some(Arc::clone(&slot.data)),
            Some(_) => {
                g.remove(&key);
                None
            }
            None => None,
        };
        drop(g);
        let counter = if hit.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// Keep chunk `index` of `digest`, just read from a file with `stamp` and verified.
    /// The caller must have verified `data`.
    pub fn insert_verified(&self, digest: &Digest, index: u64, stamp: FileStamp, data: &[u8]) {
        if data.len() > self.max_bytes {
            return;
        }
        let key = (*digest, index);
        let mut g = self.lock();
        g.remove(&key);
        while g.bytes + data.len() > self.max_bytes && !g.keys.is_empty() {
            let n = g.keys.len();
            let at = g.random_below(n);
            let victim = g.keys[at];
            g.remove(&victim);
        }
        let pos = g.keys.len();
        g.keys.push(key);
        g.bytes += data.len();
        g.map.insert(
            key,
            Slot {
                pos,
                stamp,
                data: Arc::from(data),
            },
        );
    }

    /// Drop every chunk of `digest` (its file was found corrupt or quarantined).
    pub fn forget(&self, digest: &Digest) {
        let mut g = self.lock();
        if g.keys.is_empty() {
            return;
        }
        let keys: Vec<Key> = g.keys.iter().filter(|k| k.0 == *digest).copied().collect();
        for k in keys {
            g.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn stamp(n: u64) -> FileStamp {
        FileStamp {
            dev: 1,
            ino: n,
            len: 10,
            mtime: (0, 0),
            ctime: (0, 0),
        }
    }

    #[test]
    fn hits_need_the_same_file_and_the_budget_holds() {
        let c = ChunkCache::new(3 * 1000);
        let d = Digest::of(b"x");
        c.insert_verified(&d, 0, stamp(1), &[7u8; 1000]);
        assert_eq!(&*c.get(&d, 0, &stamp(1)).unwrap(), &[7u8; 1000][..]);
        // Another version of the file: a miss, and the stale entry is gone.
        assert!(c.get(&d, 0, &stamp(2)).is_none());
        assert!(c.get(&d, 0, &stamp(1)).is_none());
        for i in 0..100 {
            c.insert_verified(&d, i, stamp(1), &[i as u8; 1000]);
            assert!(c.bytes() <= 3000);
        }
        // The last one is always present; whatever is present is right.
        assert_eq!(c.get(&d, 99, &stamp(1)).unwrap()[0], 99);
        for i in 0..100 {
            if let Some(v) = c.get(&d, i, &stamp(1)) {
                assert_eq!(v[0], i as u8);
            }
        }
        c.forget(&d);
        assert_eq!(c.bytes(), 0);
        assert!(c.get(&d, 99, &stamp(1)).is_none());
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let c = ChunkCache::new(0);
        let d = Digest::of(b"x");
        c.insert_verified(&d, 0, stamp(1), &[1u8; 10]);
        assert!(c.get(&d, 0, &stamp(1)).is_none());
        assert_eq!(c.bytes(), 0);
    }
}
