//! The state machine store: the in-memory [`State`] that services read, made durable as
//! sled-stored snapshots. At start-up the last snapshot is loaded and openraft re-applies the
//! committed log after it (the log store keeps the committed id), so nothing acknowledged is
//! lost and `apply` stays a pure in-memory step.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::state::State;
use crate::types::{Entry, NodeId, NodeInfo, Response, StorageError, TypeConfig};

const CURRENT: &[u8] = b"current";

/// What a snapshot holds (and what the in-memory machine is).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SmData {
    pub last_applied: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, NodeInfo>,
    pub state: State,
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, NodeInfo>,
    data: Vec<u8>,
}

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct SmStats {
    pub applied: AtomicU64,
    pub snapshots_built: AtomicU64,
    pub snapshots_installed: AtomicU64,
}

/// A read handle on the applied state, shared with the services and the admin API.
#[derive(Clone, Default)]
pub struct SharedState {
    inner: Arc<RwLock<SmData>>,
    /// Counters for metrics.
    pub stats: Arc<SmStats>,
}

impl SharedState {
    /// A handle on a given state outside any Raft node (tests and tools): services see what
    /// they would see on a replica that applied the log that produced `state`.
    pub fn from_state(mut state: State) -> SharedState {
        state.reindex();
        let data = SmData {
            state,
            ..SmData::default()
        };
        SharedState {
            inner: Arc::new(RwLock::new(data)),
            stats: Arc::default(),
        }
    }

    /// Read the applied state (held briefly; never across an await).
    pub fn read(&self) -> RwLockReadGuard<'_, SmData> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> RwLockWriteGuard<'_, SmData> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sled-backed state machine store handed to openraft.
pub struct SledStateMachine {
    shared: SharedState,
    db: sled::Db,
    snapshots: sled::Tree,
}

fn sm_read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_state_machine(&e).into()
}
fn snap_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_snapshot(None, &e).into()
}

impl SledStateMachine {
    /// Open the store in `db`, loading the last snapshot if there is one.
    pub fn open(db: &sled::Db) -> Result<Self, StorageError> {
        let snapshots = db.open_tree("snapshot").map_err(sm_read_err)?;
        let sm = Self {
            shared: SharedState::default(),
            db: db.clone(),
            snapshots,
        };
        if let Some(stored) = sm.load_current()? {
            let data = decode_data(&stored.data)?;
            *sm.shared.write() = data;
        }
        Ok(sm)
    }

    /// The read handle services use.
    pub fn shared(&self) -> SharedState {
        self.shared.clone()
    }

    fn load_current(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        match self.snapshots.get(CURRENT).map_err(sm_read_err)? {
            None => Ok(None),
            Some(v) => Ok(Some(codec::decode(&v).map_err(sm_read_err)?)),
        }
    }
}

/// The membership recorded in a (stopped) node's last snapshot, if it has one (offline
/// recovery, [`crate::recovery`]).
pub fn snapshot_membership(
    db: &sled::Db,
) -> Result<Option<StoredMembership<NodeId, NodeInfo>>, StorageError> {
    let tree = db.open_tree("snapshot").map_err(sm_read_err)?;
    match tree.get(CURRENT).map_err(sm_read_err)? {
        None => Ok(None),
        Some(v) => {
            let stored: StoredSnapshot = codec::decode(&v).map_err(sm_read_err)?;
            Ok(Some(stored.meta.last_membership))
        }
    }
}

fn decode_data(bytes: &[u8]) -> Result<SmData, StorageError> {
    let mut data: SmData = match codec::decode(bytes) {
        Ok(d) => d,
        Err(first) => decode_before_audit(bytes).ok_or_else(|| sm_read_err(first))?,
    };
    data.state.reindex();
    Ok(data)
}

/// Snapshots written before the audit trail existed end where the trail would start (it is
/// the last encoded field of [`State`], which is the last field of [`SmData`]): decode them
/// as if an empty trail followed.
fn decode_before_audit(bytes: &[u8]) -> Option<SmData> {
    let empty = codec::encode(&crate::state::AuditLog::default()).ok()?;
    let mut padded = bytes.to_vec();
    padded.extend_from_slice(empty.get(1..)?);
    codec::decode(&padded).ok()
}

async fn store_snapshot(
    db: &sled::Db,
    tree: &sled::Tree,
    meta: &SnapshotMeta<NodeId, NodeInfo>,
    data: &[u8],
) -> Result<(), StorageError> {
    let stored = StoredSnapshot {
        meta: meta.clone(),
        data: data.to_vec(),
    };
    tree.insert(CURRENT, codec::encode(&stored).map_err(snap_err)?)
        .map_err(snap_err)?;
    db.flush_async().await.map_err(snap_err)?;
    Ok(())
}

/// Builds snapshots from the shared state.
pub struct SmSnapshotBuilder {
    shared: SharedState,
    db: sled::Db,
    snapshots: sled::Tree,
}

impl RaftSnapshotBuilder<TypeConfig> for SmSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (data, last, membership) = {
            let g = self.shared.read();
            let bytes = codec::encode(&*g).map_err(snap_err)?;
            (bytes, g.last_applied, g.membership.clone())
        };
        let n = self
            .shared
            .stats
            .snapshots_built
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        let snapshot_id = match last {
            Some(l) => format!("{}-{}-{n}", l.leader_id.term, l.index),
            None => format!("0-0-{n}"),
        };
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: membership,
            snapshot_id,
        };
        store_snapshot(&self.db, &self.snapshots, &meta, &data).await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for SledStateMachine {
    type SnapshotBuilder = SmSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, NodeInfo>), StorageError> {
        let g = self.shared.read();
        Ok((g.last_applied, g.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        let mut g = self.shared.write();
        for e in entries {
            g.last_applied = Some(e.log_id);
            let resp = match e.payload {
                EntryPayload::Blank => Response::Ok,
                EntryPayload::Normal(req) => g.state.apply(&req),
                EntryPayload::Membership(m) => {
                    g.membership = StoredMembership::new(Some(e.log_id), m);
                    Response::Ok
                }
            };
            out.push(resp);
        }
        self.shared
            .stats
            .applied
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SmSnapshotBuilder {
            shared: self.shared.clone(),
            db: self.db.clone(),
            snapshots: self.snapshots.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, NodeInfo>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let mut data = decode_data(&bytes)?;
        // The meta is authoritative for what the snapshot covers.
        data.last_applied = meta.last_log_id;
        data.membership = meta.last_membership.clone();
        store_snapshot(&self.db, &self.snapshots, meta, &bytes).await?;
        *self.shared.write() = data;
        self.shared
            .stats
            .snapshots_installed
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self.load_current()?.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

#[cfg(test)]
mod compat_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn snapshot_without_audit_trail_decodes_with_an_empty_one() {
        let mut data = SmData::default();
        data.state.next_image_seq = 7;
        data.state.audit.record(1, "ops", "put_host", "x".into());
        let new = codec::encode(&data).unwrap();
        let mut empty_audit = data.clone();
        empty_audit.state.audit = Default::default();
        let without = codec::encode(&empty_audit).unwrap();
        let trail_len = codec::encode(&crate::state::AuditLog::default())
            .unwrap()
            .len()
            - 1;
        // An old snapshot: the same bytes minus the trailing (empty) trail.
        let old = &without[..without.len() - trail_len];
        let back = decode_data(old).unwrap();
        assert_eq!(back.state.next_image_seq, 7);
        assert!(back.state.audit.entries.is_empty());
        assert_eq!(decode_data(&new).unwrap().state.audit.entries.len(), 1);
        assert!(decode_data(&old[..old.len() - 1]).is_err());
    }
}
