//! Admin API handlers: thin translations between JSON and the writer / shared state.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use raftboot_raft::peer::MembershipChange;
use raftboot_raft::state::{Group, Host, Lease, Pool};
use raftboot_raft::{Command, Mac, NodeInfo, Response};

use super::error::ApiError;
use super::types::{
    AddMember, ApplyHosts, ApplyReport, FailoverReport, FailoverRequest, LeaseRequest, MemberInfo,
    NodeStatus,
};
use super::{Admin, AppState, Authed};

type St = State<Arc<AppState>>;

/// Commit `cmd` on behalf of token `who`: the state machine records it in the audit trail
/// when it accepts it.
pub(super) async fn commit(st: &AppState, who: &Admin, cmd: Command) -> Result<Response, ApiError> {
    let cmd = Command::Attributed {
        actor: who.name.clone(),
        cmd: Box::new(cmd),
    };
    match st.writer.submit(cmd).await? {
        Response::Rejected(m) => Err(ApiError::Rejected(m)),
        r => Ok(r),
    }
}

/// Record an accepted call that is not a state command (membership, failover, gc). Best
/// effort after the fact: the call itself already succeeded.
pub(super) async fn note(st: &AppState, who: &Admin, action: &str, detail: String) {
    let cmd = Command::AuditNote {
        actor: who.name.clone(),
        action: action.to_string(),
        detail,
    };
    if let Err(e) = st.writer.submit(cmd).await {
        tracing::warn!(action, error = %e, "could not record the audit entry");
    }
}

/// The audit trail, oldest first (the newest `limit` entries, default all kept).
pub async fn audit(
    _: Authed,
    State(st): St,
    axum::extract::Query(q): axum::extract::Query<super::types::AuditQuery>,
) -> Json<Vec<raftboot_raft::state::AuditEntry>> {
    let g = st.shared.read();
    let entries = &g.state.audit.entries;
    let skip = entries.len().saturating_sub(q.limit.unwrap_or(usize::MAX));
    Json(entries.iter().skip(skip).cloned().collect())
}

pub async fn metrics(State(st): St) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(&st),
    )
}

/// This node's view of the cluster.
pub fn node_status(st: &AppState) -> NodeStatus {
    let m = st.raft.metrics().borrow().clone();
    let data = st.shared.read();
    let membership = m.membership_config.membership();
    let voters: std::collections::BTreeSet<_> = membership.voter_ids().collect();
    let members = membership
        .nodes()
        .map(|(id, n)| MemberInfo {
            id: *id,
            name: n.name.clone(),
            peer_addr: n.peer_addr.clone(),
            admin_addr: n.admin_addr.clone(),
            voter: voters.contains(id),
            witness: n.witness,
        })
        .collect();
    let replication = m
        .replication
        .as_ref()
        .map(|r| r.iter().map(|(id, l)| (*id, l.map(|l| l.index))).collect())
        .unwrap_or_default();
    NodeStatus {
        id: m.id,
        name: st.node_name.clone(),
        cluster: st.cluster.clone(),
        server_state: format!("{:?}", m.state),
        term: m.current_term,
        leader: m.current_leader,
        last_log_index: m.last_log_index,
        applied_index: data.last_applied.map(|l| l.index),
        snapshot_index: m.snapshot.map(|l| l.index),
        state_digest: data.state.digest(),
        members,
        replication,
        millis_since_quorum_ack: m.millis_since_quorum_ack,
        vip: st.vip.clone(),
        vip_holder: st.vip_stats.is_held().then_some(m.id),
        vip_events: st.vip_stats.events(),
        lan: st.lan.clone(),
        snapshots_installed: st
            .shared
            .stats
            .snapshots_installed
            .load(std::sync::atomic::Ordering::Relaxed),
        hosts: data.state.hosts.len(),
        leases: data.state.leases.len(),
    }
}

pub async fn status(_: Authed, State(st): St) -> Json<NodeStatus> {
    Json(node_status(&st))
}

pub async fn state(_: Authed, State(st): St) -> Json<raftboot_raft::State> {
    Json(st.shared.read().state.clone())
}

pub async fn list_hosts(_: Authed, State(st): St) -> Json<Vec<Host>> {
    Json(st.shared.read().state.hosts.values().cloned().collect())
}

pub async fn put_host(
    who: Admin,
    State(st): St,
    Json(h): Json<Host>,
) -> Result<Json<Host>, ApiError> {
    commit(&st, &who, Command::PutHost(h.clone())).await?;
    Ok(Json(h))
}

pub async fn remove_host(
    who: Admin,
    State(st): St,
    Path(mac): Path<String>,
) -> Result<Json<()>, ApiError> {
    let mac: Mac = mac
        .parse()
        .map_err(|e: raftboot_raft::mac::ParseMacError| ApiError::Invalid(e.to_string()))?;
    commit(&st, &who, Command::RemoveHost { mac }).await?;
    Ok(Json(()))
}

pub async fn apply_hosts(
    who: Admin,
    State(st): St,
    Json(req): Json<ApplyHosts>,
) -> Result<Json<ApplyReport>, ApiError> {
    let mut report = ApplyReport::default();
    let current = st.shared.read().state.hosts.clone();
    for h in &req.hosts {
        match current.get(&h.mac) {
            Some(old) if old == h => report.unchanged += 1,
            Some(_) => {
                commit(&st, &who, Command::PutHost(h.clone())).await?;
                report.updated += 1;
            }
            None => {
                commit(&st, &who, Command::PutHost(h.clone())).await?;
                report.added += 1;
            }
        }
    }
    if req.prune {
        for mac in current
            .keys()
            .filter(|m| !req.hosts.iter().any(|h| &h.mac == *m))
        {
            commit(&st, &who, Command::RemoveHost { mac: *mac }).await?;
            report.removed += 1;
        }
    }
    Ok(Json(report))
}

pub async fn list_groups(_: Authed, State(st): St) -> Json<Vec<Group>> {
    Json(st.shared.read().state.groups.values().cloned().collect())
}

pub async fn put_group(
    who: Admin,
    State(st): St,
    Json(g): Json<Group>,
) -> Result<Json<Group>, ApiError> {
    commit(&st, &who, Command::PutGroup(g.clone())).await?;
    Ok(Json(g))
}

pub async fn list_pools(_: Authed, State(st): St) -> Json<Vec<Pool>> {
    Json(st.shared.read().state.pools.values().cloned().collect())
}

pub async fn put_pool(
    who: Admin,
    State(st): St,
    Json(p): Json<Pool>,
) -> Result<Json<Pool>, ApiError> {
    commit(&st, &who, Command::PutPool(p.clone())).await?;
    Ok(Json(p))
}

pub async fn list_leases(_: Authed, State(st): St) -> Json<Vec<Lease>> {
    Json(st.shared.read().state.leases.values().cloned().collect())
}

pub async fn allocate_lease(
    who: Admin,
    State(st): St,
    Json(r): Json<LeaseRequest>,
) -> Result<Json<Response>, ApiError> {
    let cmd = Command::AllocateLease {
        mac: r.mac,
        pool: r.pool,
        requested: r.requested,
        lease_secs: r.lease_secs,
    };
    Ok(Json(commit(&st, &who, cmd).await?))
}

pub async fn add_member(
    who: Admin,
    State(st): St,
    Json(m): Json<AddMember>,
) -> Result<Json<()>, ApiError> {
    if m.peer_addr.parse::<std::net::SocketAddr>().is_err()
        || m.admin_addr.parse::<std::net::SocketAddr>().is_err()
    {
        return Err(ApiError::Invalid(
            "peer_addr and admin_addr must be ip:port".into(),
        ));
    }
    let node = NodeInfo {
        name: m.name,
        peer_addr: m.peer_addr,
        admin_addr: m.admin_addr,
        witness: m.witness,
    };
    let detail = format!("node {} {node}", m.id);
    st.writer
        .membership(MembershipChange::Add { id: m.id, node })
        .await?;
    note(&st, &who, "add_member", detail).await;
    Ok(Json(()))
}

pub async fn remove_member(
    who: Admin,
    State(st): St,
    Path(id): Path<u64>,
) -> Result<Json<()>, ApiError> {
    let known = st
        .raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .get_node(&id)
        .is_some();
    if !known {
        return Err(ApiError::NotFound(format!("node {id} is not a member")));
    }
    st.writer
        .membership(MembershipChange::Remove { id })
        .await?;
    note(&st, &who, "remove_member", format!("node {id}")).await;
    Ok(Json(()))
}

/// Planned failover, run by the leader (bootctl finds it first).
pub async fn failover(
    who: Admin,
    State(st): St,
    Json(req): Json<FailoverRequest>,
) -> Result<Json<FailoverReport>, ApiError> {
    use crate::failover::{FailoverError, PlanError};
    let detail = format!("{req:?}");
    let r = st.failover.run(req).await;
    if r.is_ok() {
        // Recorded in the background: the answer (and a drill's timeline) must not wait
        // for the new leader to commit the audit entry.
        let st = st.clone();
        tokio::spawn(async move { note(&st, &who, "failover", detail).await });
    }
    r.map(Json).map_err(|e| match e {
        FailoverError::Plan(PlanError::NotLeader { leader }) => ApiError::Rejected(format!(
            "this node is not the leader (ask node {})",
            leader.map(|l| l.to_string()).unwrap_or_else(|| "?".into())
        )),
        FailoverError::Plan(p @ PlanError::NoCandidate) => ApiError::Rejected(p.to_string()),
        FailoverError::Plan(p) => ApiError::Invalid(p.to_string()),
        other => ApiError::Rejected(other.to_string()),
    })
}
