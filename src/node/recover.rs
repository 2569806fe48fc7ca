//! `bootd recover --i-have-lost-quorum`: turn a stopped node into a one-node cluster with
//! everything its log and snapshot hold, after the other voters are gone for good.
//!
//! The I/O around [`raftboot_raft::recovery`]: open the node's sled store (which fails while
//! bootd runs on it), read what it knows, ping every other voter over the peer network with
//! the cluster secret, and refuse while a majority (this node included) answers. Only then
//! is the membership entry written. docs/adr/0004-quorum-loss-recovery.md records why it
//! works this way.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use cluster_config::NodeConfig;
use raftboot_raft::peer::{PeerAuth, PeerClient, PeerRequest, PeerResponse};
use raftboot_raft::recovery::{self, OfflineView};

/// What one peer probe found.
#[derive(Debug, Clone)]
pub struct PeerProbe {
    pub id: u64,
    pub addr: String,
    /// `Ok(initialized)` when it answered the authenticated ping, else why not.
    pub answer: Result<bool, String>,
}

/// What recovery did.
#[derive(Debug, Clone)]
pub struct RecoverReport {
    pub node: u64,
    pub old_voters: Vec<u64>,
    pub probes: Vec<PeerProbe>,
    pub new_entry_index: u64,
    pub new_term: u64,
}

/// Ping every other voter of `view` (address from the membership, else the config).
pub async fn probe_voters(cfg: &NodeConfig, view: &OfflineView) -> Vec<PeerProbe> {
    let auth = PeerAuth::new(&cfg.cluster_name, cfg.node_id, &cfg.secret);
    let nodes = view.nodes();
    let mut out = Vec::new();
    for id in view.voters().into_iter().filter(|id| *id != cfg.node_id) {
        let addr = nodes
            .get(&id)
            .map(|n| n.peer_addr.clone())
            .filter(|a| !a.is_empty())
            .or_else(|| {
                cfg.nodes
                    .iter()
                    .find(|n| n.id == id)
                    .map(|n| n.peer_addr.to_string())
            });
        let Some(addr) = addr else {
            out.push(PeerProbe {
                id,
                addr: String::new(),
                answer: Err("no known address".into()),
            });
            continue;
        };
        let mut c = PeerClient::new(auth.clone(), id, addr.clone());
        // Two tries: a single lost SYN must not make a live peer look dead.
        let mut answer = Err(String::new());
        for _ in 0..2 {
            answer = match c.call(&PeerRequest::Ping, Duration::from_secs(2)).await {
                Ok(PeerResponse::Pong { initialized, .. }) => Ok(initialized),
                Ok(other) => Err(format!("unexpected answer {other:?}")),
                Err(e) => Err(e.to_string()),
            };
            if answer.is_ok() {
                break;
            }
        }
        out.push(PeerProbe { id, addr, answer });
    }
    out
}

/// Run the recovery on the stopped node of `cfg`.
pub async fn recover(cfg: &NodeConfig) -> anyhow::Result<RecoverReport> {
    let path = cfg.data_dir.join("sled");
    anyhow::ensure!(
        path.exists(),
        "{} holds no store: this node has no state to recover from",
        path.display()
    );
    let db = sled::Config::new().path(&path).open().with_context(|| {
        format!(
            "opening {} (stop bootd on this node first: recovery runs on a stopped node)",
            path.display()
        )
    })?;
    let view = OfflineView::read(&db)?;
    let probes = probe_voters(cfg, &view).await;
    for p in &probes {
        match &p.answer {
            Ok(init) => {
                tracing::info!(peer = p.id, addr = %p.addr, initialized = init, "peer answers")
            }
            Err(e) => tracing::info!(peer = p.id, addr = %p.addr, error = %e, "peer unreachable"),
        }
    }
    let reachable: BTreeSet<u64> = probes
        .iter()
        .filter(|p| p.answer.is_ok())
        .map(|p| p.id)
        .collect();
    let plan = recovery::plan(&view, cfg.node_id, &reachable)?;
    recovery::apply(&db, &plan)?;
    drop(db);
    Ok(RecoverReport {
        node: cfg.node_id,
        old_voters: plan.old_voters,
        probes,
        new_entry_index: plan.entry.log_id.index,
        new_term: plan.entry.log_id.leader_id.term,
    })
}
