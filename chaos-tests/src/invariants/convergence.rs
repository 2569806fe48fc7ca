//! Invariant 5: after the faults heal, all replicas converge to the same state and the
//! same blob set. Waits (bounded) until every running node reports the same applied index
//! and state digest (what `bootctl status --json` shows), then until the blob files in
//! every boot server's store are the same set.

use std::collections::BTreeSet;
use std::time::Duration;

use super::Verdict;
use crate::cluster::Cluster;
use crate::wait;

pub const NAME: &str = "5-convergence";

/// The blob names in node `id`'s content store.
pub fn blob_set(c: &Cluster, id: u64) -> BTreeSet<String> {
    c.blob_files(id)
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect()
}

/// Check the running boot servers (`witnesses` hold no blobs).
pub fn check(c: &Cluster, witnesses: &[u64], timeout: Duration) -> Verdict {
    let ids = c.running();
    let digest = match c.wait_converged(&ids, timeout) {
        Ok(d) => d,
        Err(e) => return Verdict::fail(NAME, format!("state digests differ: {e:#}")),
    };
    let servers: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|i| !witnesses.contains(i))
        .collect();
    let blobs = wait::until("the same blob set on every boot server", timeout, || {
        let sets: Vec<(u64, BTreeSet<String>)> =
            servers.iter().map(|id| (*id, blob_set(c, *id))).collect();
        match sets.first() {
            Some((_, first)) if sets.iter().all(|(_, s)| s == first) => Ok(first.len()),
            _ => Err(sets
                .iter()
                .map(|(id, s)| format!("node {id}: {} blobs", s.len()))
                .collect::<Vec<_>>()
                .join(", ")),
        }
    });
    match blobs {
        Ok(n) => Verdict::pass(
            NAME,
            format!(
                "nodes {ids:?} at state digest {}, {n} blobs on each boot server",
                &digest[..digest.len().min(16)]
            ),
        ),
        Err(e) => Verdict::fail(NAME, format!("{e:#}")),
    }
}
