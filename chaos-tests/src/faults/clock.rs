//! A clock jump on one node. The node is SIGKILLed and restarted under
//! `unshare --time --monotonic S --boottime S`: a Linux time namespace in which its
//! CLOCK_MONOTONIC and CLOCK_BOOTTIME read `S` seconds ahead of every other node's (the
//! offsets can only be set before the first process enters, hence the restart). Every
//! timer raftboot runs (Raft elections and heartbeats, the VIP hold window, offer
//! reservations, TFTP timeouts) reads those clocks. CLOCK_REALTIME cannot be namespaced; a
//! wall-clock jump (the leader stamps lease times) would need changing the host's clock,
//! which a test on a shared machine must not do, so it is not covered here.

use super::FaultLog;
use crate::cluster::Cluster;

/// Restart node `id` with its monotonic clocks `secs` ahead.
pub fn jump(c: &mut Cluster, log: &FaultLog, id: u64, secs: i64) -> anyhow::Result<()> {
    if c.running().contains(&id) {
        c.kill(id)?;
    }
    let wrapper: Vec<String> = [
        "unshare",
        "--time",
        "--monotonic",
        &secs.to_string(),
        "--boottime",
        &secs.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    c.start_node_wrapped(id, &wrapper)?;
    log.inject(
        "clock-jump",
        Some(id),
        format!("restarted with CLOCK_MONOTONIC/BOOTTIME {secs:+} s (time namespace)"),
    );
    Ok(())
}
