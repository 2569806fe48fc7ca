//! openraft's own storage test suite against the sled log store and state machine store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

use openraft::testing::{StoreBuilder, Suite};
use raftboot_raft::types::{StorageError, TypeConfig};
use raftboot_raft::{SledLogStore, SledStateMachine};

struct SledBuilder;

impl StoreBuilder<TypeConfig, SledLogStore, SledStateMachine, tempfile::TempDir> for SledBuilder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, SledLogStore, SledStateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::Config::new()
            .path(dir.path().join("sled"))
            .open()
            .expect("sled");
        let log = SledLogStore::open(&db).expect("log store");
        let sm = SledStateMachine::open(&db)?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() -> Result<(), StorageError> {
    Suite::test_all(SledBuilder)
}

/// A snapshot built by one store and installed into a fresh one gives the same state, and
/// the state survives reopening the sled database (the snapshot is persisted).
#[tokio::test]
async fn snapshot_survives_reopen() {
    use openraft::storage::{RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};
    use raftboot_raft::state::Host;
    use raftboot_raft::{Command, Mac, Request};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sled");
    let digest;
    {
        let db = sled::Config::new().path(&path).open().unwrap();
        let mut sm = SledStateMachine::open(&db).unwrap();
        let _log = SledLogStore::open(&db).unwrap();
        let entries: Vec<Entry<TypeConfig>> = (1..=5u8)
            .map(|i| Entry {
                log_id: LogId::new(CommittedLeaderId::new(1, 1), u64::from(i)),
                payload: EntryPayload::Normal(Request {
                    now_ms: 1000,
                    cmd: Command::PutHost(Host {
                        mac: Mac([2, 0, 0, 0, 0, i]),
                        name: format!("h{i}"),
                        group: "g".into(),
                        ip: None,
                        boot_file: None,
                        kernel_args: None,
                    }),
                }),
            })
            .collect();
        sm.apply(entries).await.unwrap();
        digest = sm.shared().read().state.digest();
        let mut b = sm.get_snapshot_builder().await;
        b.build_snapshot().await.unwrap();
        let _ = RaftLogStorage::get_log_state(&mut SledLogStore::open(&db).unwrap())
            .await
            .unwrap();
    }
    let db = sled::Config::new().path(&path).open().unwrap();
    let mut sm = SledStateMachine::open(&db).unwrap();
    assert_eq!(sm.shared().read().state.digest(), digest);
    assert_eq!(sm.shared().read().state.hosts.len(), 5);
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied.map(|l| l.index), Some(5));
}
