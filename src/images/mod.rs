//! Image replication: serving this node's blobs to peers ([`peer_blobs`]), pulling the blobs
//! an image needs from peers by digest and reporting per-node readiness through Raft
//! ([`replicator`]), and deleting unreferenced blobs ([`gc`]). Only digests travel through
//! Raft; blob bytes travel over the authenticated peer network and are verified on arrival.

pub mod gc;
pub mod peer_blobs;
pub mod replicator;

use std::sync::Arc;

use crate::cas::{BlobStore, CasError, Digest, Manifest};

/// Load and validate an image's manifest from the local store.
pub fn load_manifest(store: &BlobStore, digest: &Digest) -> Result<Arc<Manifest>, CasError> {
    let len = store.len_of(digest)?;
    let bytes = store.read_at(digest, 0, usize::try_from(len).unwrap_or(usize::MAX))?;
    let m = Manifest::from_bytes(&bytes)?;
    if m.digest() != *digest {
        return Err(CasError::InvalidManifest(format!(
            "manifest {digest} hashes to {}",
            m.digest()
        )));
    }
    Ok(Arc::new(m))
}

/// The digests an image needs on this node: its manifest and every file blob.
pub fn needed_blobs(manifest_digest: &Digest, manifest: &Manifest) -> Vec<Digest> {
    let mut v: Vec<Digest> = manifest.blobs().into_iter().collect();
    v.push(*manifest_digest);
    v
}
