//! Garbage collection of blobs no registered image references, after a grace period (so an
//! import that has uploaded blobs but not yet registered its image keeps them).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::cas::{BlobStore, CasError, Digest};

/// What a collection did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GcReport {
    pub deleted: usize,
    pub kept_referenced: usize,
    pub kept_young: usize,
    /// Images whose manifest this node lacks: collection is skipped while any is missing.
    pub skipped_reason: Option<String>,
}

/// Delete unreferenced blobs older than `grace`. `manifests` are the digests of every
/// registered image's manifest.
pub fn collect(
    store: &BlobStore,
    manifests: &[Digest],
    grace: Duration,
) -> Result<GcReport, CasError> {
    let mut referenced = BTreeSet::new();
    for d in manifests {
        if !store.contains(d) {
            return Ok(GcReport {
                skipped_reason: Some(format!("manifest {d} is not on this node yet")),
                ..GcReport::default()
            });
        }
        let m = super::load_manifest(store, d)?;
        referenced.extend(super::needed_blobs(d, &m));
    }
    let mut r = GcReport::default();
    let now = SystemTime::now();
    for d in store.list()? {
        if referenced.contains(&d) {
            r.kept_referenced += 1;
            continue;
        }
        let age = std::fs::metadata(store.blob_path(&d))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default();
        if age < grace {
            r.kept_young += 1;
            continue;
        }
        if store.remove(&d)? {
            r.deleted += 1;
        }
    }
    Ok(r)
}
