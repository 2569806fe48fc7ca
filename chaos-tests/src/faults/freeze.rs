//! Frozen nodes. [`freeze`] models a paused machine (a VM stopped by its hypervisor): the
//! node's `bootd` gets SIGSTOP and the node's `eth0` goes down, so neither the process nor
//! its kernel answers anything (the VIP's macvlan sits on that link and goes silent with
//! it). Thawing sends SIGCONT first and then brings the link up, as a resumed VM runs on
//! with stale timers: the VIP hold rule must make it let go before it acts on its stale
//! view. [`freeze_process`] stops only the process (a hung `bootd` on a live kernel): the
//! kernel keeps answering ARP for an address the process can no longer release. The
//! guard thaws on drop.

use std::process::Command;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{node_ns, run, FaultLog};
use crate::cluster::Cluster;

/// A frozen node.
pub struct Frozen {
    pid: Pid,
    pub node: u64,
    /// The namespace whose link is down (a whole-machine freeze).
    link_ns: Option<String>,
    index: usize,
    log: FaultLog,
    thawed: bool,
}

fn link(ns: &str, state: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["-n", ns, "link", "set", "eth0", state]);
    c
}

fn stop(c: &Cluster, log: &FaultLog, id: u64, machine: bool) -> anyhow::Result<Frozen> {
    let pid = c
        .pid(id)
        .ok_or_else(|| anyhow::anyhow!("node {id} is not running"))?;
    let pid = Pid::from_raw(i32::try_from(pid)?);
    let link_ns = if machine {
        Some(node_ns(c, id)?.0)
    } else {
        None
    };
    kill(pid, Signal::SIGSTOP)?;
    if let Some(ns) = &link_ns {
        run(&mut link(ns, "down"))?;
    }
    let index = log.inject(
        "sigstop",
        Some(id),
        if machine {
            "frozen machine (SIGSTOP, eth0 down)"
        } else {
            "hung process (SIGSTOP only)"
        },
    );
    Ok(Frozen {
        pid,
        node: id,
        link_ns,
        index,
        log: log.clone(),
        thawed: false,
    })
}

/// Freeze node `id` like a paused machine.
pub fn freeze(c: &Cluster, log: &FaultLog, id: u64) -> anyhow::Result<Frozen> {
    stop(c, log, id, true)
}

/// SIGSTOP only node `id`'s process.
pub fn freeze_process(c: &Cluster, log: &FaultLog, id: u64) -> anyhow::Result<Frozen> {
    stop(c, log, id, false)
}

impl Frozen {
    /// SIGCONT, then the link up.
    pub fn thaw(mut self) -> anyhow::Result<()> {
        kill(self.pid, Signal::SIGCONT)?;
        if let Some(ns) = &self.link_ns {
            run(&mut link(ns, "up"))?;
        }
        self.thawed = true;
        self.log.healed(self.index);
        Ok(())
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if !self.thawed {
            let _ = kill(self.pid, Signal::SIGCONT);
            if let Some(ns) = &self.link_ns {
                let _ = link(ns, "up").output();
            }
        }
    }
}
