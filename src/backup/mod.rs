//! Backup and restore of the replicated state, and what a backup needs from the blob store.
//!
//! `format` owns the backup file (header, state, optional blobs, checksums; pure stream
//! code with typed errors). [`required_blobs`] lists the blobs a state's images need (each
//! manifest and every file content blob it names). The admin API side is `api::backup`,
//! bootctl's side `ctl::backup`.

pub mod format;

use std::collections::BTreeSet;

use raftboot_raft::State;

use crate::cas::{BlobStore, CasError, Digest, Manifest};
use format::BlobRef;

/// Why the blob list of a state could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BlobListError {
    #[error("image {image}: manifest digest {digest:?} is not a digest")]
    BadDigest { image: String, digest: String },
    #[error("image {image}: {source}")]
    Store { image: String, source: CasError },
}

/// Every blob the images of `state` need, sorted by digest, with sizes from `store`.
pub fn required_blobs(state: &State, store: &BlobStore) -> Result<Vec<BlobRef>, BlobListError> {
    let mut all: BTreeSet<Digest> = BTreeSet::new();
    for img in state.images.values() {
        let manifest: Digest = img.manifest.parse().map_err(|_| BlobListError::BadDigest {
            image: img.name.clone(),
            digest: img.manifest.clone(),
        })?;
        let store_err = |source| BlobListError::Store {
            image: img.name.clone(),
            source,
        };
        let len = store.len_of(&manifest).map_err(store_err)?;
        let bytes = store
            .read_at(&manifest, 0, usize::try_from(len).unwrap_or(usize::MAX))
            .map_err(store_err)?;
        let m = Manifest::from_bytes(&bytes).map_err(store_err)?;
        all.insert(manifest);
        all.extend(m.blobs());
    }
    all.into_iter()
        .map(|d| {
            let size = store.len_of(&d).map_err(|source| BlobListError::Store {
                image: "(content blob)".into(),
                source,
            })?;
            Ok(BlobRef {
                digest: d.to_hex(),
                size,
            })
        })
        .collect()
}
