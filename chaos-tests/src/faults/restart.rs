//! Restart of every node at once: all are SIGKILLed (no graceful shutdown, as in a power
//! cut) and started again together from their data dirs.

use super::FaultLog;
use crate::cluster::Cluster;

/// SIGKILL every running node, then start them all.
pub fn restart_all(c: &mut Cluster, log: &FaultLog) -> anyhow::Result<()> {
    let ids = c.running();
    for id in &ids {
        c.kill(*id)?;
    }
    let i = log.inject(
        "restart-all",
        None,
        format!("SIGKILL and restart of {ids:?}"),
    );
    for id in c.nodes.keys().copied().collect::<Vec<_>>() {
        c.start_node(id)?;
    }
    log.healed(i);
    Ok(())
}
