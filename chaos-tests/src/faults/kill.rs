//! SIGKILL: the node dies without any shutdown (no VIP release, no flush beyond what was
//! fsynced); [`revive`] starts it again from its data dir.

use super::FaultLog;
use crate::cluster::Cluster;

/// SIGKILL node `id` (by the PID the harness started) and reap it.
pub fn kill(c: &mut Cluster, log: &FaultLog, id: u64, why: &str) -> anyhow::Result<usize> {
    c.kill(id)?;
    Ok(log.inject("sigkill", Some(id), why))
}

/// Start a killed node again; marks fault `i` healed.
pub fn revive(c: &mut Cluster, log: &FaultLog, i: usize, id: u64) -> anyhow::Result<()> {
    c.start_node(id)?;
    log.healed(i);
    Ok(())
}
