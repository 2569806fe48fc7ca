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
    let mut out = BTreeSet::new();
    let root = c.data_dir(id).join("cas/blobs");
    for fan in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(fan.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = f.path();
            if p.extension().is_none() {
                if let Some(n) = p.file_name() {
                    out.insert(n.to_string_lossy().into_owned());
                }
            }
        }
    }
    out
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
