//! Faults injected into a [`Cluster`] on a LAN, one kind per file: [`kill`] (SIGKILL),
//! [`freeze`] (SIGSTOP/SIGCONT), [`partition`] (a node cut from some peers by blackhole
//! routes in its namespace), [`link`] (packet loss and delay with tc netem on the node's
//! `eth0`), [`disk`] (a full disk: a small filled tmpfs under the node's blob store),
//! [`restart`] (every node at once) and [`clock`] (a node restarted in a time namespace
//! whose monotonic and boot-time clocks jump ahead). Each fault that leaves something
//! behind returns a guard that undoes it on `heal` and on drop (after a failure too); the
//! routes and qdiscs live in namespaces the [`crate::lan::Lan`] removes anyway.
//! [`FaultLog`] records what was injected and healed, with times.

pub mod clock;
pub mod disk;
pub mod freeze;
pub mod kill;
pub mod link;
pub mod partition;
pub mod restart;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use crate::cluster::Cluster;

/// One injected fault.
#[derive(Debug, Clone, Serialize)]
pub struct FaultEvent {
    /// Milliseconds since the run's epoch.
    pub at_ms: u64,
    pub kind: String,
    /// The node it hit (none for cluster-wide faults).
    pub node: Option<u64>,
    pub detail: String,
    /// When it was healed (`None`: permanent, e.g. a SIGKILL before its restart).
    pub healed_ms: Option<u64>,
}

/// What was injected and healed, shared by a scenario and its report.
#[derive(Debug, Clone)]
pub struct FaultLog {
    pub epoch: Instant,
    events: Arc<Mutex<Vec<FaultEvent>>>,
}

impl FaultLog {
    pub fn new(epoch: Instant) -> FaultLog {
        FaultLog {
            epoch,
            events: Arc::default(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Record a fault; returns its index (for [`FaultLog::healed`]).
    pub fn inject(&self, kind: &str, node: Option<u64>, detail: impl Into<String>) -> usize {
        let detail = detail.into();
        let at = self.now_ms();
        eprintln!(
            "chaos: +{at} ms fault {kind}{} {detail}",
            node.map(|n| format!(" node {n}")).unwrap_or_default()
        );
        let mut v = self.events.lock().unwrap_or_else(|e| e.into_inner());
        v.push(FaultEvent {
            at_ms: at,
            kind: kind.into(),
            node,
            detail,
            healed_ms: None,
        });
        v.len() - 1
    }

    /// Note that fault `i` was healed now.
    pub fn healed(&self, i: usize) {
        let at = self.now_ms();
        let mut v = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = v.get_mut(i) {
            e.healed_ms = Some(at);
            eprintln!("chaos: +{at} ms healed {} {:?}", e.kind, e.node);
        }
    }

    pub fn events(&self) -> Vec<FaultEvent> {
        self.events
            .lock()
            .map(|v| v.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }
}

/// A node's namespace and host number (the cluster must be on a LAN).
pub(crate) fn node_ns(c: &Cluster, id: u64) -> anyhow::Result<(String, u8)> {
    c.nodes
        .get(&id)
        .and_then(|n| n.ns.clone())
        .with_context(|| format!("node {id} is not in a namespace (use Spec{{on_lan:true}})"))
}

/// Run a command; fail with its stderr.
pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("{cmd:?}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}
