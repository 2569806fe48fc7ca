//! `bootctl backup` and `bootctl restore`: the client side of backup and restore.
//!
//! Backup asks the leader for the state at one applied index (`GET /v1/backup`, a
//! linearizable read) and writes the backup file (`crate::backup::format`) to a temporary
//! name next to the target, renamed into place only when complete; with blobs, each one is
//! streamed from a boot server and verified on the way. Restore reads and verifies the whole
//! file first, refuses early when the cluster already has state (unless forced), uploads
//! the blobs to every boot server (each verifies them), then commits the state through
//! Raft (`POST /v1/restore`, where the state machine makes the final empty-or-forced check).

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::client::{AdminClient, CtlError};
use crate::api::backup::{BackupSnapshot, RestoreReport, RestoreRequest};
use crate::api::types::NodeStatus;
use crate::backup::format::{self, BackupReader, BackupWriter};

/// What `bootctl backup` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct BackupSummary {
    pub file: PathBuf,
    pub cluster: String,
    pub node: String,
    pub applied_index: u64,
    pub state_digest: String,
    pub hosts: usize,
    pub leases: usize,
    pub images: usize,
    pub blobs: usize,
    pub blob_bytes: u64,
    pub with_blobs: bool,
}

/// What `bootctl restore` did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreSummary {
    pub file: PathBuf,
    pub from_cluster: String,
    pub backup_digest: String,
    pub restored_digest: String,
    pub hosts: usize,
    pub leases: usize,
    pub images: usize,
    /// Blobs uploaded (to each boot server) from the file.
    pub uploaded_blobs: usize,
    /// Blobs the images need that no boot server of the cluster holds (backup without
    /// `--with-blobs`): those images stay not-ready until imported again.
    pub missing_blobs: usize,
    pub dropped_readiness: usize,
}

fn bad_file(file: &Path, e: impl std::fmt::Display) -> CtlError {
    CtlError::Invalid(format!("{}: {e}", file.display()))
}

/// Members of the cluster as the node `client` reaches sees them.
fn status(client: &AdminClient) -> Result<NodeStatus, CtlError> {
    client.get::<NodeStatus>("/v1/status")
}

/// Admin clients for every boot server (non-witness member).
fn boot_servers(client: &AdminClient, st: &NodeStatus) -> Vec<(u64, AdminClient)> {
    st.members
        .iter()
        .filter(|m| !m.witness)
        .map(|m| (m.id, client.for_node(&m.admin_addr)))
        .collect()
}

/// Take a backup from the leader into `file`.
pub fn backup(
    client: &AdminClient,
    file: &Path,
    with_blobs: bool,
) -> Result<BackupSummary, CtlError> {
    // Find the leader and read from it; retried (bounded) across an election.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (snap, st) = loop {
        let attempt = (|| {
            let st = status(client)?;
            let leader = st
                .leader
                .and_then(|l| st.members.iter().find(|m| m.id == l))
                .ok_or_else(|| CtlError::NoLeader("no leader known".into()))?;
            let bytes = client
                .for_node(&leader.admin_addr)
                .get_bytes("/v1/backup", raftboot_raft::codec::MAX_DECODED)?;
            let snap: BackupSnapshot = raftboot_raft::codec::decode(&bytes)
                .map_err(|e| CtlError::Other(format!("bad backup answer: {e}")))?;
            Ok::<_, CtlError>((snap, st))
        })();
        match attempt {
            Ok(v) => break v,
            Err(e @ (CtlError::Unauthorized | CtlError::Invalid(_))) => return Err(e),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    };
    let mut header = snap.header;
    header.with_blobs = with_blobs;
    let tmp = file.with_extension("partial");
    let out = File::create(&tmp).map_err(|e| bad_file(&tmp, e))?;
    let result = (|| {
        let mut w = BackupWriter::new(BufWriter::new(out), &header, &snap.state)
            .map_err(|e| CtlError::Other(e.to_string()))?;
        let sources = boot_servers(client, &st);
        while let Some(b) = w.next_expected().cloned() {
            let path = format!("/v1/blobs/{}", b.digest);
            let mut last = None;
            let mut done = false;
            // The leader first (it listed the blobs), then any other boot server.
            let leader_first = sources
                .iter()
                .filter(|(id, _)| Some(*id) == st.leader)
                .chain(sources.iter().filter(|(id, _)| Some(*id) != st.leader));
            for (_, c) in leader_first {
                match c.get_reader(&path) {
                    Ok(mut r) => {
                        w.write_blob(&mut r)
                            .map_err(|e| CtlError::Other(format!("blob {}: {e}", b.digest)))?;
                        done = true;
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            if !done {
                return Err(last.unwrap_or_else(|| {
                    CtlError::Other(format!("no boot server to read blob {} from", b.digest))
                }));
            }
        }
        let out = w.finish().map_err(|e| CtlError::Other(e.to_string()))?;
        let f = out
            .into_inner()
            .map_err(|e| CtlError::Other(format!("writing {}: {e}", tmp.display())))?;
        f.sync_all().map_err(|e| bad_file(&tmp, e))?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, file).map_err(|e| bad_file(file, e))?;
    Ok(BackupSummary {
        file: file.to_path_buf(),
        cluster: header.cluster,
        node: header.node,
        applied_index: header.applied_index,
        state_digest: header.state_digest,
        hosts: header.hosts,
        leases: header.leases,
        images: header.images,
        blobs: header.blobs.len(),
        blob_bytes: header.blobs.iter().map(|b| b.size).sum(),
        with_blobs,
    })
}

fn open(file: &Path) -> Result<BackupReader<BufReader<File>>, CtlError> {
    let f = File::open(file).map_err(|e| bad_file(file, e))?;
    BackupReader::open(BufReader::new(f)).map_err(|e| bad_file(file, e))
}

/// Check a backup file completely (header, state, blobs, checksums).
pub fn verify(file: &Path) -> Result<format::BackupHeader, CtlError> {
    let f = File::open(file).map_err(|e| bad_file(file, e))?;
    format::verify(BufReader::new(f)).map_err(|e| bad_file(file, e))
}

/// Seed the cluster `client` reaches from `file`.
pub fn restore(client: &AdminClient, file: &Path, force: bool) -> Result<RestoreSummary, CtlError> {
    // Nothing touches the cluster before the whole file checked out.
    verify(file)?;
    let mut r = open(file)?;
    let header = r.header().clone();
    let (state_bytes, state) = r.read_state().map_err(|e| bad_file(file, e))?;

    let st = status(client)?;
    let current: raftboot_raft::State = client.get("/v1/state")?;
    if !current.is_empty() && !force {
        return Err(CtlError::Rejected(format!(
            "the cluster already has state ({} hosts, {} leases, {} images); restore with --force to replace it",
            current.hosts.len(),
            current.leases.len(),
            current.images.len()
        )));
    }
    let servers = boot_servers(client, &st);
    if servers.is_empty() {
        return Err(CtlError::Other("the cluster has no boot server".into()));
    }
    let mut uploaded = 0;
    while let Some((b, bytes)) = r.next_blob().map_err(|e| bad_file(file, e))? {
        let path = format!("/v1/blobs/{}", b.digest);
        let mut ok = 0;
        let mut last = None;
        for (_, c) in &servers {
            match c.put_bytes(&path, &bytes) {
                Ok(()) => ok += 1,
                Err(e) => last = Some(e),
            }
        }
        if ok == 0 {
            return Err(last.unwrap_or_else(|| CtlError::Other("upload failed".into())));
        }
        uploaded += 1;
    }
    r.finish().map_err(|e| bad_file(file, e))?;
    // Which needed blobs no boot server holds (a backup without blobs).
    let wanted = crate::api::images::DigestList {
        digests: header
            .blobs
            .iter()
            .filter_map(|b| b.digest.parse().ok())
            .collect(),
    };
    let mut missing: Option<std::collections::BTreeSet<String>> = None;
    for (_, c) in &servers {
        if let Ok(m) = c.post::<_, crate::api::images::DigestList>("/v1/blobs/missing", &wanted) {
            let here: std::collections::BTreeSet<String> =
                m.digests.iter().map(|d| d.to_hex()).collect();
            missing = Some(match missing {
                None => here,
                Some(prev) => prev.intersection(&here).cloned().collect(),
            });
        }
    }
    let req = RestoreRequest {
        force,
        state_digest: header.state_digest.clone(),
        state: state_bytes,
    };
    let body = raftboot_raft::codec::encode(&req).map_err(|e| CtlError::Other(e.to_string()))?;
    let report: RestoreReport = client.post_bytes("/v1/restore", &body)?;
    Ok(RestoreSummary {
        file: file.to_path_buf(),
        from_cluster: header.cluster,
        backup_digest: header.state_digest,
        restored_digest: report.state_digest,
        hosts: state.hosts.len(),
        leases: state.leases.len(),
        images: state.images.len(),
        uploaded_blobs: uploaded,
        missing_blobs: missing.map(|m| m.len()).unwrap_or(header.blobs.len()),
        dropped_readiness: report.dropped_readiness,
    })
}
