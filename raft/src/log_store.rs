//! The Raft log on sled: entries keyed by big-endian index in tree `log`; the vote, the
//! committed id and the last purged id in tree `meta`. An append is acknowledged to openraft
//! only after sled has flushed it to disk: appends are handed to a flusher thread that
//! drains every pending append, fsyncs once, and completes them in order (group commit).

use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogId, LogState, RaftLogReader, StorageIOError, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec;
use crate::types::{Entry, NodeId, StorageError, TypeConfig};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const PURGED: &[u8] = b"last_purged";

/// The sled-backed Raft log. Cheap to clone (sled trees are shared handles).
#[derive(Clone)]
pub struct SledLogStore {
    db: sled::Db,
    log: sled::Tree,
    meta: sled::Tree,
    /// Counts fsyncs, for metrics.
    pub flushes: Arc<std::sync::atomic::AtomicU64>,
    flusher: Arc<Flusher>,
}

/// The group-commit thread; dropping the last handle stops and joins it, so the sled
/// database is released when the store is.
struct Flusher {
    tx: Option<std::sync::mpsc::Sender<LogFlushed<TypeConfig>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Flusher {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Group commit: wait for one pending append, take all others that queued meanwhile, fsync
/// once, then complete them in arrival order. Ends when every store handle is dropped.
fn flusher_loop(
    db: sled::Db,
    flushes: Arc<std::sync::atomic::AtomicU64>,
    rx: std::sync::mpsc::Receiver<LogFlushed<TypeConfig>>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let res = db.flush().map(|_| ());
        flushes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for cb in batch {
            let r = match &res {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            cb.log_io_completed(r);
        }
    }
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_logs(&e).into()
}
fn write_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_logs(&e).into()
}

impl SledLogStore {
    /// Open the log trees in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        let flushes: Arc<std::sync::atomic::AtomicU64> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let (fdb, fcount) = (db.clone(), flushes.clone());
        let thread = std::thread::Builder::new()
            .name("raft-log-flush".into())
            .spawn(move || flusher_loop(fdb, fcount, rx))
            .map_err(sled::Error::Io)?;
        Ok(Self {
            db: db.clone(),
            log: db.open_tree("log")?,
            meta: db.open_tree("meta")?,
            flushes,
            flusher: Arc::new(Flusher {
                tx: Some(tx),
                thread: Some(thread),
            }),
        })
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        match self.meta.get(key).map_err(read_err)? {
            None => Ok(None),
            Some(v) => Ok(Some(codec::decode(&v).map_err(read_err)?)),
        }
    }

    fn put_meta<T: Serialize>(&self, key: &[u8], v: &T) -> Result<(), StorageError> {
        let bytes = codec::encode(v).map_err(write_err)?;
        self.meta.insert(key, bytes).map_err(write_err)?;
        Ok(())
    }

    async fn flush(&self) -> Result<(), StorageError> {
        self.db.flush_async().await.map_err(write_err)?;
        self.flushes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn decode_entry(v: &[u8]) -> Result<Entry, StorageError> {
        codec::decode(v).map_err(read_err)
    }

    /// Whether the log or vote holds anything (a node that was ever part of a cluster).
    pub fn is_empty(&self) -> Result<bool, StorageError> {
        Ok(self.log.is_empty() && self.meta.get(VOTE).map_err(read_err)?.is_none())
    }
}

impl RaftLogReader<TypeConfig> for SledLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let mut out = Vec::new();
        for kv in self.log.range(start.to_be_bytes()..) {
            let (k, v) = kv.map_err(read_err)?;
            let idx = k
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| read_err(std::io::Error::other("bad log key")))?;
            if !range.contains(&idx) {
                break;
            }
            out.push(Self::decode_entry(&v)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for SledLogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId<NodeId>> = self.get_meta(PURGED)?;
        let last = match self.log.last().map_err(read_err)? {
            Some((_, v)) => Some(Self::decode_entry(&v)?.log_id),
            None => last_purged,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.put_meta(VOTE, vote)?;
        self.flush().await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.get_meta(VOTE)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError> {
        // Not flushed on its own: it is a hint for re-applying at start-up; the next append
        // or vote flush persists it.
        self.put_meta(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError> {
        Ok(self.get_meta::<Option<LogId<NodeId>>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut batch = sled::Batch::default();
        for e in entries {
            let bytes = codec::encode(&e).map_err(write_err)?;
            batch.insert(&e.log_id.index.to_be_bytes(), bytes);
        }
        self.log.apply_batch(batch).map_err(write_err)?;
        // The flusher thread fsyncs and then acknowledges; it only stops when every handle
        // (including this one) is gone, so a send failure means the store is shutting down.
        let sent = match &self.flusher.tx {
            Some(tx) => tx.send(callback).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(write_err(std::io::Error::other("log flusher stopped")))
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for kv in self.log.range(log_id.index.to_be_bytes()..) {
            let (k, _) = kv.map_err(write_err)?;
            batch.remove(k);
        }
        self.log.apply_batch(batch).map_err(write_err)?;
        self.flush().await
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError> {
        self.put_meta(PURGED, &log_id)?;
        let mut batch = sled::Batch::default();
        for kv in self.log.range(..=log_id.index.to_be_bytes()) {
            let (k, _) = kv.map_err(write_err)?;
            batch.remove(k);
        }
        self.log.apply_batch(batch).map_err(write_err)?;
        self.flush().await
    }
}
