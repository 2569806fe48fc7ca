//! First start of a fresh cluster: exactly one node (the lowest-id voter that is not a
//! witness) initializes the membership, and only when every configured node answers and
//! none of them has ever been initialized. A restarted node, or one whose data dir was
//! wiped and that meets an existing cluster, never initializes again.

use std::collections::BTreeMap;
use std::time::Duration;

use cluster_config::{NodeConfig, Role};
use raftboot_raft::peer::{PeerAuth, PeerClient, PeerRequest, PeerResponse};
use raftboot_raft::Raft;
use tokio_util::sync::CancellationToken;

use super::node_info;

/// The node that initializes a fresh cluster from this config.
pub fn bootstrapper(cfg: &NodeConfig) -> Option<u64> {
    cfg.nodes
        .iter()
        .filter(|n| n.role == Role::Voter)
        .map(|n| n.id)
        .min()
}

/// What probing the configured peers found.
#[derive(Debug, PartialEq, Eq)]
enum Probe {
    AllFresh,
    SomeoneInitialized(u64),
    Waiting(String),
}

async fn probe(cfg: &NodeConfig, auth: &PeerAuth) -> Probe {
    for n in cfg.nodes.iter().filter(|n| n.id != cfg.node_id) {
        let mut c = PeerClient::new(auth.clone(), n.id, n.peer_addr.to_string());
        match c.call(&PeerRequest::Ping, Duration::from_secs(2)).await {
            Ok(PeerResponse::Pong {
                initialized: true, ..
            }) => return Probe::SomeoneInitialized(n.id),
            Ok(PeerResponse::Pong {
                initialized: false, ..
            }) => {}
            Ok(other) => return Probe::Waiting(format!("node {}: unexpected {other:?}", n.id)),
            Err(e) => return Probe::Waiting(format!("node {} ({}): {e}", n.id, n.peer_addr)),
        }
    }
    Probe::AllFresh
}

/// Initialize the cluster if this node is the bootstrapper, its log is empty, and every
/// configured node is reachable and fresh. Returns when done, not needed, or cancelled.
pub async fn initialize_once(
    cfg: NodeConfig,
    raft: Raft,
    auth: PeerAuth,
    fresh: bool,
    stop: CancellationToken,
) {
    if !fresh || bootstrapper(&cfg) != Some(cfg.node_id) {
        return;
    }
    let members: BTreeMap<u64, raftboot_raft::NodeInfo> =
        cfg.nodes.iter().map(|n| (n.id, node_info(n))).collect();
    let mut last_reason = String::new();
    loop {
        if matches!(raft.is_initialized().await, Ok(true)) {
            return;
        }
        match probe(&cfg, &auth).await {
            Probe::AllFresh => match raft.initialize(members.clone()).await {
                Ok(()) => {
                    tracing::info!(members = members.len(), "initialized a fresh cluster");
                    return;
                }
                Err(e) => tracing::info!(error = %e, "initialize not needed"),
            },
            Probe::SomeoneInitialized(id) => {
                tracing::info!(
                    peer = id,
                    "cluster already initialized elsewhere; waiting to be contacted"
                );
                return;
            }
            Probe::Waiting(reason) => {
                if reason != last_reason {
                    tracing::info!(%reason, "waiting for every configured node before first start");
                    last_reason = reason;
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    }
}
