//! Blob transfer between replicas over the peer network: this node's store as a
//! [`BlobSource`] for peers, and a fetcher that pulls a blob from whichever peer has it,
//! writes it to a temp file, and stores it only if it hashes to the digest asked for.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use raftboot_raft::peer::{
    BlobSource, PeerAuth, PeerClient, PeerRequest, PeerResponse, MAX_BLOB_READ,
};
use raftboot_raft::NodeId;

use crate::cas::{BlobStore, Digest};

/// The node's store, served to peers.
pub struct StoreSource(pub Arc<BlobStore>);

impl BlobSource for StoreSource {
    fn read_blob(&self, digest: &[u8; 32], offset: u64, len: u32) -> Result<Vec<u8>, String> {
        let d = Digest(*digest);
        if !self.0.contains(&d) {
            return Err(format!("blob {d} not here"));
        }
        match self.0.read_at(&d, offset, len as usize) {
            Ok(b) => Ok(b),
            Err(e @ crate::cas::CasError::Corrupt { .. }) => {
                // Never serve bad bytes; move the blob aside so the replicator fetches a
                // good copy from a peer.
                tracing::error!(blob = %d, error = %e, "corrupt blob detected on read; quarantined");
                let _ = self.0.quarantine(&d);
                Err(e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Why a blob could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("no peer has blob {0} ({1})")]
    NoPeer(Digest, String),
    #[error("storing blob {0}: {1}")]
    Store(Digest, String),
}

/// One authenticated connection per peer, reused for every blob of a replication pass.
pub struct PeerPool {
    clients: Vec<(NodeId, String, tokio::sync::Mutex<PeerClient>)>,
}

impl PeerPool {
    pub fn new(auth: &PeerAuth, peers: &[(NodeId, String)]) -> Self {
        Self {
            clients: peers
                .iter()
                .map(|(id, addr)| {
                    (
                        *id,
                        addr.clone(),
                        tokio::sync::Mutex::new(PeerClient::new(auth.clone(), *id, addr.clone())),
                    )
                })
                .collect(),
        }
    }
}

/// Pull `digest` from the first peer that serves it completely and store it verified.
/// Returns the number of bytes fetched. Peers whose connection is busy with another blob
/// get their own connection for this one.
pub async fn fetch_blob(
    auth: &PeerAuth,
    pool: &PeerPool,
    store: &Arc<BlobStore>,
    tmp_dir: &std::path::Path,
    digest: Digest,
) -> Result<u64, FetchError> {
    let mut reasons = Vec::new();
    for (id, addr, client) in &pool.clients {
        let res = match client.try_lock() {
            Ok(mut c) => fetch_from(&mut c, store, tmp_dir, digest).await,
            Err(_) => {
                let mut own = PeerClient::new(auth.clone(), *id, addr.clone());
                fetch_from(&mut own, store, tmp_dir, digest).await
            }
        };
        match res {
            Ok(n) => return Ok(n),
            Err(FetchError::Store(d, m)) => return Err(FetchError::Store(d, m)),
            Err(e) => reasons.push(format!("node {id}: {e}")),
        }
    }
    Err(FetchError::NoPeer(digest, reasons.join("; ")))
}

async fn fetch_from(
    client: &mut PeerClient,
    store: &Arc<BlobStore>,
    tmp_dir: &std::path::Path,
    digest: Digest,
) -> Result<u64, FetchError> {
    let store_err = |e: std::io::Error| FetchError::Store(digest, e.to_string());
    std::fs::create_dir_all(tmp_dir).map_err(store_err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(tmp_dir).map_err(store_err)?;
    let mut offset = 0u64;
    loop {
        let req = PeerRequest::FetchBlob {
            digest: digest.0,
            offset,
            len: MAX_BLOB_READ,
        };
        let bytes = match client.call(&req, Duration::from_secs(30)).await {
            Ok(PeerResponse::Blob(Ok(b))) => b,
            Ok(PeerResponse::Blob(Err(m))) => return Err(FetchError::NoPeer(digest, m)),
            Ok(other) => return Err(FetchError::NoPeer(digest, format!("unexpected {other:?}"))),
            Err(e) => return Err(FetchError::NoPeer(digest, e.to_string())),
        };
        tmp.write_all(&bytes).map_err(store_err)?;
        offset += bytes.len() as u64;
        if bytes.len() < MAX_BLOB_READ as usize {
            break;
        }
    }
    tmp.flush().map_err(store_err)?;
    let path = tmp.path().to_path_buf();
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.put_file_verified(digest, &path).map(|_| ()))
        .await
        .map_err(|e| FetchError::Store(digest, e.to_string()))?
        .map_err(|e| FetchError::Store(digest, e.to_string()))?;
    Ok(offset)
}
