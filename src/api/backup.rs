//! Admin API for backup and restore: `GET /v1/backup` (the state at one applied index after
//! a linearizable read on the leader, plus the blob list), `GET /v1/blobs/{digest}` (a blob,
//! streamed and verified chunk by chunk) and `POST /v1/restore` (a backup's state through
//! Raft as one `Command::Restore`, refused on a cluster with state unless forced).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use raftboot_raft::{codec, Command, NodeId, Response};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::{AppState, Authed};
use crate::backup::format::BackupHeader;
use crate::cas::Digest;

type St = State<Arc<AppState>>;

/// Backup and restore counters of this process (one node per process), rendered into
/// `/metrics`.
pub struct BackupCounters {
    pub backups: AtomicU64,
    pub blobs_served: AtomicU64,
    pub restores: AtomicU64,
    pub restores_refused: AtomicU64,
}

/// The counters.
pub static COUNTERS: BackupCounters = BackupCounters {
    backups: AtomicU64::new(0),
    blobs_served: AtomicU64::new(0),
    restores: AtomicU64::new(0),
    restores_refused: AtomicU64::new(0),
};

impl BackupCounters {
    /// Append the counters in Prometheus text format with `metric`.
    pub fn render(&self, o: &mut String, metric: fn(&mut String, &str, &str, &str, u64)) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        metric(
            o,
            "raftboot_backups_served_total",
            "counter",
            "Backups served by this node (GET /v1/backup).",
            get(&self.backups),
        );
        metric(
            o,
            "raftboot_backup_blobs_served_total",
            "counter",
            "Blobs streamed by GET /v1/blobs/{digest}.",
            get(&self.blobs_served),
        );
        metric(
            o,
            "raftboot_restores_total",
            "counter",
            "Restores committed through this node.",
            get(&self.restores),
        );
        metric(
            o,
            "raftboot_restores_refused_total",
            "counter",
            "Restores refused (bad request, or state present without force).",
            get(&self.restores_refused),
        );
    }
}

/// Largest state a restore accepts: it travels as one log entry, which must fit in one peer
/// frame (64 MiB) with room to spare.
pub const MAX_RESTORE_STATE: usize = 48 * 1024 * 1024;

/// `GET /v1/backup`'s body (codec-encoded): the header (with_blobs false) and the state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupSnapshot {
    pub header: BackupHeader,
    /// The codec encoding of the state; its BLAKE3 is `header.state_digest`.
    pub state: Vec<u8>,
}

/// `POST /v1/restore`'s body (codec-encoded).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreRequest {
    pub force: bool,
    /// BLAKE3 of `state`, checked before anything is proposed.
    pub state_digest: String,
    pub state: Vec<u8>,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreReport {
    /// The digest of the state that was committed.
    pub state_digest: String,
    /// Readiness entries of nodes that are not members of this cluster, dropped.
    pub dropped_readiness: usize,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub async fn backup(_: Authed, State(st): St) -> Result<impl IntoResponse, ApiError> {
    // A linearizable read: this node is the leader (confirmed by a quorum) and has applied
    // everything committed before the call.
    if let Err(e) = st.raft.ensure_linearizable().await {
        let leader = st.raft.metrics().borrow().current_leader;
        return Err(match leader {
            Some(l) => ApiError::Unavailable(format!(
                "node {} is not the leader (node {l} is): take the backup from the leader ({e})",
                st.node_name
            )),
            None => ApiError::NoLeader,
        });
    }
    let (state, applied) = {
        let g = st.shared.read();
        (g.state.clone(), g.last_applied)
    };
    let bytes = codec::encode(&state).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let store = st.store.clone().ok_or_else(|| {
        ApiError::Unavailable(format!(
            "node {} is a witness and has no blobs",
            st.node_name
        ))
    })?;
    let listed = state.clone();
    let blobs = tokio::task::spawn_blocking(move || crate::backup::required_blobs(&listed, &store))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .map_err(|e| {
            ApiError::Unavailable(format!(
                "the leader cannot list the blobs yet (an image is not complete here): {e}"
            ))
        })?;
    let header = BackupHeader {
        cluster: st.cluster.clone(),
        node: st.node_name.clone(),
        applied_index: applied.map(|l| l.index).unwrap_or(0),
        applied_term: applied.map(|l| l.leader_id.term).unwrap_or(0),
        state_digest: blake3::hash(&bytes).to_hex().to_string(),
        state_len: bytes.len() as u64,
        created_ms: now_ms(),
        hosts: state.hosts.len(),
        leases: state.leases.len(),
        images: state.images.len(),
        with_blobs: false,
        blobs,
    };
    COUNTERS.backups.fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        applied = header.applied_index,
        digest = %header.state_digest,
        blobs = header.blobs.len(),
        "backup taken"
    );
    let body = codec::encode(&BackupSnapshot {
        header,
        state: bytes,
    })
    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body))
}

/// Stream one blob, read and verified 4 MiB at a time (a corrupt blob ends the stream
/// with an error, never with bad bytes).
pub async fn get_blob(
    _: Authed,
    State(st): St,
    Path(digest): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let d: Digest = digest
        .parse()
        .map_err(|e| ApiError::Invalid(format!("{e}")))?;
    let store = st.store.clone().ok_or_else(|| {
        ApiError::Invalid(format!(
            "node {} is a witness and stores no blobs",
            st.node_name
        ))
    })?;
    let len = store
        .len_of(&d)
        .map_err(|e| ApiError::NotFound(e.to_string()))?;
    COUNTERS.blobs_served.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    tokio::task::spawn_blocking(move || {
        const CHUNK: u64 = 4 * 1024 * 1024;
        let mut off = 0u64;
        while off < len {
            let n = usize::try_from(CHUNK.min(len - off)).unwrap_or(0);
            let item = store
                .read_at(&d, off, n)
                .map(Bytes::from)
                .map_err(|e| std::io::Error::other(e.to_string()));
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
            off += n as u64;
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        Body::from_stream(stream),
    ))
}

pub async fn restore(
    _: Authed,
    State(st): St,
    body: Bytes,
) -> Result<Json<RestoreReport>, ApiError> {
    let r = restore_inner(&st, &body).await;
    let c = if r.is_ok() {
        &COUNTERS.restores
    } else {
        &COUNTERS.restores_refused
    };
    c.fetch_add(1, Ordering::Relaxed);
    r.map(Json)
}

async fn restore_inner(st: &AppState, body: &[u8]) -> Result<RestoreReport, ApiError> {
    let req: RestoreRequest =
        codec::decode(body).map_err(|e| ApiError::Invalid(format!("restore request: {e}")))?;
    if req.state.len() > MAX_RESTORE_STATE {
        return Err(ApiError::Invalid(format!(
            "the state is {} bytes; a restore carries at most {MAX_RESTORE_STATE} in one log entry",
            req.state.len()
        )));
    }
    let got = blake3::hash(&req.state).to_hex().to_string();
    if got != req.state_digest {
        return Err(ApiError::Invalid(format!(
            "state digest {got} does not match the request's {}",
            req.state_digest
        )));
    }
    let mut state: raftboot_raft::State = codec::decode(&req.state)
        .map_err(|e| ApiError::Invalid(format!("the backup's state: {e}")))?;
    // Readiness is per node: keep only what the nodes of this cluster reported.
    let members: BTreeSet<NodeId> = st
        .raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .nodes()
        .map(|(id, _)| *id)
        .collect();
    let mut dropped = 0;
    for per_node in state.readiness.values_mut() {
        let before = per_node.len();
        per_node.retain(|id, _| members.contains(id));
        dropped += before - per_node.len();
    }
    if dropped > 0 {
        state.readiness.retain(|_, m| !m.is_empty());
    }
    state.reindex();
    let digest = state.digest();
    match st
        .writer
        .submit(Command::Restore {
            state: Box::new(state),
            force: req.force,
        })
        .await?
    {
        Response::Rejected(m) => Err(ApiError::Rejected(m)),
        _ => {
            tracing::info!(%digest, force = req.force, dropped_readiness = dropped, "state restored from a backup");
            Ok(RestoreReport {
                state_digest: digest,
                dropped_readiness: dropped,
            })
        }
    }
}
