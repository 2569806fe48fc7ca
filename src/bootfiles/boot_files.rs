//! [`BootFiles`]: resolution of request paths and verified blob reads for the boot-file
//! services.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use raftboot_raft::SharedState;

use crate::bootcfg::{self, BootContext, Resolution, ResolveError, Target, Transport};
use crate::cas::{BlobStore, CasError, Digest};

use super::manifest_cache::ManifestCache;
use super::tracker::{BootKey, BootTracker};

/// Bytes read (and verified) from the CAS per step when streaming a blob.
pub const READ_STEP: usize = 256 * 1024;

/// What TFTP and HTTP boot share: the namespace, the store and the boot tracker.
pub struct BootFiles {
    ctx: BootContext,
    shared: SharedState,
    store: Arc<BlobStore>,
    manifests: ManifestCache,
    tracker: Arc<BootTracker>,
}

impl BootFiles {
    /// The boot files of a node.
    pub fn new(ctx: BootContext, shared: SharedState, store: Arc<BlobStore>) -> BootFiles {
        BootFiles {
            ctx,
            shared,
            manifests: ManifestCache::new(Arc::clone(&store)),
            store,
            tracker: Arc::new(BootTracker::default()),
        }
    }

    /// The node context configs are generated for.
    pub fn context(&self) -> &BootContext {
        &self.ctx
    }

    /// The per-machine boot stage record.
    pub fn tracker(&self) -> &Arc<BootTracker> {
        &self.tracker
    }

    /// Resolve `raw` for `client` (blocking: may load manifests). The state's read lock is
    /// held only while no I/O runs: manifests missing from the cache are loaded after it
    /// is released and the path is resolved again. A blob that is not on this node is
    /// [`ResolveError::Unavailable`]; a blob's size is its stored length. Successful resolutions are recorded in the tracker.
    pub fn resolve(
        &self,
        raw: &str,
        transport: Transport,
        client: IpAddr,
    ) -> Result<Resolution, ResolveError> {
        let mut errors = HashMap::new();
        let mut loaded_once = false;
        loop {
            let view = self.manifests.cached_view(&errors);
            let (result, key) = {
                let data = self.shared.read();
                let state = &data.state;
                let r = bootcfg::resolve(&self.ctx, state, &view, raw, transport);
                let key = match &r {
                    Ok(res) => res.mac.or_else(|| match client {
                        IpAddr::V4(ip) => bootcfg::host_by_ip(state, ip).map(|h| h.mac),
                        IpAddr::V6(_) => None,
                    }),
                    Err(_) => None,
                };
                (r, key)
            };
            let misses = view.take_misses();
            if !misses.is_empty() && !loaded_once {
                loaded_once = true;
                for d in misses {
                    if let Err(e) = self.manifests.load(&d) {
                        errors.insert(d, e);
                    }
                }
                continue;
            }
            let mut res = result?;
            if let Target::Blob { digest, size } = &mut res.target {
                // The stored length is what will be read (and what tsize / Content-Length
                // must say); a missing blob is still being replicated (or was quarantined).
                match self.store.len_of(digest) {
                    Ok(len) => *size = len,
                    Err(_) => {
                        return Err(ResolveError::Unavailable {
                            image: raw.to_string(),
                            reason: format!("blob {digest} is not on this node yet"),
                        })
                    }
                }
            }
            let key = key.map_or(BootKey::Ip(client), BootKey::Mac);
            self.tracker.record(key, client, res.stage, raw);
            return Ok(res);
        }
    }

    /// [`resolve`](Self::resolve) on the blocking pool.
    pub async fn resolve_async(
        self: &Arc<Self>,
        raw: String,
        transport: Transport,
        client: IpAddr,
    ) -> Result<Resolution, ResolveError> {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || me.resolve(&raw, transport, client))
            .await
            .unwrap_or_else(|e| {
                Err(ResolveError::Unavailable {
                    image: String::new(),
                    reason: format!("resolver task failed: {e}"),
                })
            })
    }

    /// Read up to `len` verified bytes of a blob at `offset` (blocking), through the
    /// store's chunk cache (a boot storm reads the same kernel and initrd many times). A
    /// corrupt blob is quarantined (the replicator then fetches a good copy) and its bytes
    /// never returned.
    pub fn read_blob(&self, digest: &Digest, offset: u64, len: usize) -> Result<Vec<u8>, CasError> {
        let mut out = Vec::new();
        let read = self
            .store
            .read_at_into(digest, offset, len, &mut out)
            .map(|_| out);
        match read {
            Err(e @ CasError::Corrupt { .. }) => {
                tracing::error!(blob = %digest, error = %e, "corrupt blob on a boot-file read; quarantined");
                match self.store.quarantine(digest) {
                    Ok(()) | Err(CasError::NotFound(_)) => {}
                    Err(q) => tracing::warn!(blob = %digest, error = %q, "quarantine failed"),
                }
                Err(e)
            }
            other => other,
        }
    }

    /// [`read_blob`](Self::read_blob) on the blocking pool of `rt`.
    pub fn read_blob_task(
        self: &Arc<Self>,
        rt: &tokio::runtime::Handle,
        digest: Digest,
        offset: u64,
        len: usize,
    ) -> tokio::task::JoinHandle<Result<Vec<u8>, CasError>> {
        let me = Arc::clone(self);
        rt.spawn_blocking(move || me.read_blob(&digest, offset, len))
    }
}

/// NFS mounts are a boot stage too: the machine is the host whose address mounted (else the
/// address itself).
impl crate::nfs::MountObserver for BootFiles {
    fn mounted(&self, client: IpAddr, export: &str) {
        let key = match client {
            IpAddr::V4(ip) => {
                let data = self.shared.read();
                bootcfg::host_by_ip(&data.state, ip).map(|h| h.mac)
            }
            IpAddr::V6(_) => None,
        };
        let key = key.map_or(BootKey::Ip(client), BootKey::Mac);
        self.tracker
            .record(key, client, crate::bootcfg::Stage::NfsMount, export);
    }
}
