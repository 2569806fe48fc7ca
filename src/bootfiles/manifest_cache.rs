//! [`ManifestCache`]: image manifests loaded (verified) from the local store, cached by
//! digest. Resolution runs under the replicated state's read lock, so it only ever reads
//! the cache ([`ManifestCache::cached_view`]); loading happens outside the lock.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use raftboot_raft::state::Image;

use crate::bootcfg::ManifestSource;
use crate::cas::{BlobStore, CasError, Digest, Manifest};
use crate::images::load_manifest;

/// At most this many manifests are kept; the cache is cleared when it is full.
const MAX_CACHED: usize = 64;

/// Verified manifests by digest.
#[derive(Debug)]
pub struct ManifestCache {
    store: Arc<BlobStore>,
    cache: Mutex<HashMap<Digest, Arc<Manifest>>>,
}

/// A read-only view used during resolution: hits come from the cache, misses are noted
/// (to be loaded outside the state lock) or answered with the load error seen before.
pub struct CachedView<'a> {
    cache: &'a ManifestCache,
    errors: &'a HashMap<Digest, String>,
    misses: Mutex<HashSet<Digest>>,
}

impl ManifestCache {
    /// An empty cache over `store`.
    pub fn new(store: Arc<BlobStore>) -> ManifestCache {
        ManifestCache {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A view for one resolution pass; `errors` are load failures of an earlier pass.
    pub fn cached_view<'a>(&'a self, errors: &'a HashMap<Digest, String>) -> CachedView<'a> {
        CachedView {
            cache: self,
            errors,
            misses: Mutex::new(HashSet::new()),
        }
    }

    fn get(&self, d: &Digest) -> Option<Arc<Manifest>> {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(d)
            .cloned()
    }

    /// Load `d` from the store into the cache (blocking I/O). A corrupt manifest blob is
    /// quarantined; the error says why the manifest cannot be had.
    pub fn load(&self, d: &Digest) -> Result<Arc<Manifest>, String> {
        if let Some(m) = self.get(d) {
            return Ok(m);
        }
        match load_manifest(&self.store, d) {
            Ok(m) => {
                let mut c = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if c.len() >= MAX_CACHED {
                    c.clear();
                }
                c.insert(*d, Arc::clone(&m));
                Ok(m)
            }
            Err(CasError::Corrupt { .. }) => {
                tracing::error!(manifest = %d, "corrupt manifest blob quarantined");
                let _ = self.store.quarantine(d);
                Err(format!(
                    "manifest {d} is corrupt on this node (quarantined)"
                ))
            }
            Err(CasError::NotFound(_)) => Err(format!("manifest {d} is not on this node yet")),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl CachedView<'_> {
    /// Manifests that were missing from the cache during this pass.
    pub fn take_misses(&self) -> Vec<Digest> {
        let mut m = self.misses.lock().unwrap_or_else(|e| e.into_inner());
        m.drain().collect()
    }
}

impl ManifestSource for CachedView<'_> {
    fn manifest(&self, image: &Image) -> Result<Arc<Manifest>, String> {
        let d: Digest = image
            .manifest
            .parse()
            .map_err(|_| format!("image {} has a malformed manifest digest", image.name))?;
        if let Some(m) = self.cache.get(&d) {
            return Ok(m);
        }
        if let Some(e) = self.errors.get(&d) {
            return Err(e.clone());
        }
        self.misses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(d);
        Err(format!("manifest {d} is being loaded"))
    }
}
