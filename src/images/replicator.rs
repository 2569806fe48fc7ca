//! The replicator: on every boot server, makes sure each registered image is complete in the
//! local store (pulling missing blobs from peers, verified) and reports the result through
//! Raft as this node's readiness for the image, with a reason when it is not ready (a peer
//! lacking the blob, a full disk, a corrupt blob being repaired).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raftboot_raft::peer::PeerAuth;
use raftboot_raft::{Command, NodeId, Raft, SharedState};
use tokio_util::sync::CancellationToken;

use super::peer_blobs::{fetch_blob, PeerPool};
use crate::cas::{BlobStore, Digest};
use crate::writer::Writer;

/// Blobs fetched at once.
pub const PARALLEL: usize = 4;

/// How often images are checked.
pub const TICK: Duration = Duration::from_millis(500);
/// How often an image already complete here is re-checked blob by blob (catches
/// quarantined blobs after a scrub or a corrupt read).
pub const RECHECK: Duration = Duration::from_secs(10);

/// Replication counters, exported as metrics.
#[derive(Debug, Default)]
pub struct ReplicaStats {
    pub blobs_fetched: AtomicU64,
    pub bytes_fetched: AtomicU64,
    pub fetch_errors: AtomicU64,
}

/// Keeps local blobs in step with the registered images.
pub struct Replicator {
    pub me: NodeId,
    pub store: Arc<BlobStore>,
    pub tmp_dir: PathBuf,
    pub shared: SharedState,
    pub raft: Raft,
    pub writer: Arc<Writer>,
    pub auth: PeerAuth,
    pub stats: Arc<ReplicaStats>,
}

impl Replicator {
    fn peers(&self) -> Vec<(NodeId, String)> {
        let m = self.raft.metrics().borrow().membership_config.clone();
        m.membership()
            .nodes()
            .filter(|(id, n)| **id != self.me && !n.witness)
            .map(|(id, n)| (*id, n.peer_addr.clone()))
            .collect()
    }

    /// Make one image complete here; Ok(()) when every blob is present. Missing blobs are
    /// fetched `PARALLEL` at a time over one reused connection per peer.
    async fn complete(&self, manifest: Digest) -> Result<(), String> {
        use futures::StreamExt;
        let pool = PeerPool::new(&self.auth, &self.peers());
        if !self.store.contains(&manifest) {
            self.fetch(&pool, manifest).await?;
        }
        let store = self.store.clone();
        let m = tokio::task::spawn_blocking(move || super::load_manifest(&store, &manifest))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("manifest {manifest}: {e}"))?;
        let missing: Vec<Digest> = m
            .blobs()
            .into_iter()
            .filter(|d| !self.store.contains(d))
            .collect();
        let results: Vec<Result<(), String>> = futures::stream::iter(missing)
            .map(|d| self.fetch(&pool, d))
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        results.into_iter().collect()
    }

    async fn fetch(&self, pool: &PeerPool, d: Digest) -> Result<(), String> {
        match fetch_blob(&self.auth, pool, &self.store, &self.tmp_dir, d).await {
            Ok(n) => {
                self.stats.blobs_fetched.fetch_add(1, Ordering::Relaxed);
                self.stats.bytes_fetched.fetch_add(n, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.stats.fetch_errors.fetch_add(1, Ordering::Relaxed);
                Err(e.to_string())
            }
        }
    }

    /// Run until cancelled.
    pub async fn run(self, cancel: CancellationToken) {
        // image name -> (manifest, when it was last found complete)
        let mut complete: BTreeMap<String, (String, Instant)> = BTreeMap::new();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(TICK) => {}
            }
            let (images, readiness) = {
                let g = self.shared.read();
                (g.state.images.clone(), g.state.readiness.clone())
            };
            complete.retain(|name, _| images.contains_key(name));
            for (name, img) in images {
                let fresh = complete
                    .get(&name)
                    .is_some_and(|(m, t)| *m == img.manifest && t.elapsed() < RECHECK);
                if fresh {
                    continue;
                }
                let result = match img.manifest.parse::<Digest>() {
                    Ok(d) => self.complete(d).await,
                    Err(e) => Err(format!("bad manifest digest: {e}")),
                };
                match &result {
                    Ok(()) => {
                        complete.insert(name.clone(), (img.manifest.clone(), Instant::now()));
                    }
                    Err(reason) => {
                        complete.remove(&name);
                        tracing::warn!(image = %name, %reason, "image not complete on this node");
                    }
                }
                let (ready, reason) = match result {
                    Ok(()) => (true, None),
                    Err(r) => (false, Some(r)),
                };
                let current = readiness.get(&name).and_then(|m| m.get(&self.me));
                let same = current.is_some_and(|c| c.ready == ready && c.reason == reason);
                if !same {
                    let cmd = Command::SetReadiness {
                        node: self.me,
                        image: name.clone(),
                        ready,
                        reason,
                    };
                    if let Err(e) = self.writer.submit(cmd).await {
                        tracing::warn!(image = %name, error = %e, "could not report readiness");
                    }
                }
            }
        }
    }
}
