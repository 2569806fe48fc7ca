//! bootctl's commands: each fetches or submits through [`AdminClient`] and prints a table,
//! or JSON with `--json`.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::client::{AdminClient, CtlError};
use crate::api::types::NodeStatus;
use crate::failover::timeline::utc;
use crate::vip::moves::{VipEvent, VipEventKind};

/// One node's entry in `bootctl status`: its own report, or why it could not be read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeReport {
    pub id: u64,
    pub name: String,
    pub admin_addr: String,
    pub voter: bool,
    pub witness: bool,
    pub status: Option<NodeStatus>,
    pub error: Option<String>,
    /// Entries behind the leader's last log index.
    pub lag: Option<u64>,
}

/// What `bootctl status --json` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub cluster: String,
    pub leader: Option<u64>,
    pub term: u64,
    pub vip: Option<String>,
    pub vip_holder: Option<u64>,
    pub nodes: Vec<NodeReport>,
}

/// Ask one node for the membership, then every member for its own status.
pub fn cluster_status(c: &AdminClient) -> Result<ClusterStatus, CtlError> {
    let first: NodeStatus = c.get("/v1/status")?;
    let answers = first
        .members
        .iter()
        .map(|m| {
            if m.id == first.id {
                Ok(first.clone())
            } else {
                c.for_node(&m.admin_addr)
                    .get::<NodeStatus>("/v1/status")
                    .map_err(|e| e.to_string())
            }
        })
        .collect();
    Ok(assemble(&first, answers))
}

/// The cluster's status from one node's view (`first`, which names the members) and each
/// member's own answer, in `first.members` order (pure: bootctl and the status page share
/// it). The leader and term are the highest-term self-declared leader's; lag is counted
/// against its last log index.
pub fn assemble(first: &NodeStatus, answers: Vec<Result<NodeStatus, String>>) -> ClusterStatus {
    let mut nodes = Vec::new();
    for (m, one) in first.members.iter().zip(answers) {
        let (status, error) = match one {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        };
        nodes.push(NodeReport {
            id: m.id,
            name: m.name.clone(),
            admin_addr: m.admin_addr.clone(),
            voter: m.voter,
            witness: m.witness,
            status,
            error,
            lag: None,
        });
    }
    let leader_status = nodes
        .iter()
        .filter_map(|n| n.status.as_ref())
        .filter(|s| s.leader == Some(s.id))
        .max_by_key(|s| s.term)
        .cloned();
    let leader = leader_status.as_ref().map(|s| s.id).or(first.leader);
    let term = leader_status.as_ref().map(|s| s.term).unwrap_or(first.term);
    if let Some(ls) = &leader_status {
        let last = ls.last_log_index.unwrap_or(0);
        for n in &mut nodes {
            n.lag = n
                .status
                .as_ref()
                .map(|s| last.saturating_sub(s.applied_index.unwrap_or(0)));
        }
    }
    let vip_holder = nodes
        .iter()
        .filter_map(|n| n.status.as_ref())
        .find_map(|s| s.vip_holder);
    ClusterStatus {
        cluster: first.cluster.clone(),
        leader,
        term,
        vip: first.vip.clone(),
        vip_holder,
        nodes,
    }
}

/// The newest `n` VIP events across all nodes (elections seen, claims, releases, failed
/// claims, yields), oldest first.
pub fn last_moves(s: &ClusterStatus, n: usize) -> Vec<(u64, VipEvent)> {
    let mut all: Vec<(u64, VipEvent)> = s
        .nodes
        .iter()
        .filter_map(|node| node.status.as_ref().map(|st| (node.id, st)))
        .flat_map(|(id, st)| st.vip_events.iter().map(move |e| (id, e.clone())))
        .collect();
    all.sort_by_key(|(id, e)| (e.at_ms, *id));
    let skip = all.len().saturating_sub(n);
    all.split_off(skip)
}

/// The table `bootctl status` prints.
pub fn render_status(s: &ClusterStatus) -> String {
    let mut o = String::new();
    let leader = match s.leader {
        Some(id) => {
            let name = s
                .nodes
                .iter()
                .find(|n| n.id == id)
                .map(|n| n.name.as_str())
                .unwrap_or("?");
            format!("{id} ({name})")
        }
        None => "none".to_string(),
    };
    let _ = writeln!(
        o,
        "cluster {}  leader {}  term {}",
        s.cluster, leader, s.term
    );
    let vip = match (&s.vip, s.vip_holder) {
        (None, _) => "none configured (loopback cluster: services follow the leader)".to_string(),
        (Some(v), Some(h)) => format!("{v} held by node {h}"),
        (Some(v), None) => format!("{v} not held"),
    };
    let _ = writeln!(o, "vip     {vip}");
    let moves = last_moves(s, 8);
    if !moves.is_empty() {
        let _ = writeln!(o, "last VIP moves (newest last):");
        for (id, e) in moves {
            let why = match &e.kind {
                VipEventKind::Released { reason } => reason.clone(),
                VipEventKind::ClaimFailed { error } => error.clone(),
                _ => String::new(),
            };
            let _ = writeln!(
                o,
                "  {}  node {:<3} {:<13} term {:<5} {}",
                utc(e.at_ms),
                id,
                e.name(),
                e.term,
                why
            );
        }
    }
    let _ = writeln!(
        o,
        "{:<4} {:<10} {:<8} {:<10} {:>8} {:>6}  {:<16} ADMIN",
        "ID", "NAME", "ROLE", "STATE", "APPLIED", "LAG", "STATE-DIGEST"
    );
    for n in &s.nodes {
        let role = if n.witness {
            "witness"
        } else if n.voter {
            "voter"
        } else {
            "learner"
        };
        match &n.status {
            Some(st) => {
                let _ = writeln!(
                    o,
                    "{:<4} {:<10} {:<8} {:<10} {:>8} {:>6}  {:<16} {}",
                    n.id,
                    n.name,
                    role,
                    st.server_state,
                    st.applied_index
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "-".into()),
                    n.lag.map(|l| l.to_string()).unwrap_or_else(|| "-".into()),
                    &st.state_digest.get(..16).unwrap_or(&st.state_digest),
                    n.admin_addr
                );
            }
            None => {
                let err = n.error.clone().unwrap_or_default();
                let _ = writeln!(
                    o,
                    "{:<4} {:<10} {:<8} {:<10} {:>8} {:>6}  {:<16} {} ({err})",
                    n.id, n.name, role, "DOWN", "-", "-", "-", n.admin_addr
                );
            }
        }
    }
    o
}
