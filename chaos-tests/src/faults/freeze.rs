//! SIGSTOP/SIGCONT: a frozen node keeps its sockets, its VIP address and its Raft state but
//! answers nothing until it is thawed — then it runs on with stale timers and must not act
//! on its stale view (the VIP hold rule). The guard sends SIGCONT on drop.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::FaultLog;
use crate::cluster::Cluster;

/// A frozen node.
pub struct Frozen {
    pid: Pid,
    pub node: u64,
    index: usize,
    log: FaultLog,
    thawed: bool,
}

/// SIGSTOP node `id`.
pub fn freeze(c: &Cluster, log: &FaultLog, id: u64) -> anyhow::Result<Frozen> {
    let pid = c
        .pid(id)
        .ok_or_else(|| anyhow::anyhow!("node {id} is not running"))?;
    let pid = Pid::from_raw(i32::try_from(pid)?);
    kill(pid, Signal::SIGSTOP)?;
    let index = log.inject("sigstop", Some(id), "frozen");
    Ok(Frozen {
        pid,
        node: id,
        index,
        log: log.clone(),
        thawed: false,
    })
}

impl Frozen {
    /// SIGCONT.
    pub fn thaw(mut self) -> anyhow::Result<()> {
        kill(self.pid, Signal::SIGCONT)?;
        self.thawed = true;
        self.log.healed(self.index);
        Ok(())
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if !self.thawed {
            let _ = kill(self.pid, Signal::SIGCONT);
        }
    }
}
