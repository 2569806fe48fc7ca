//! Frozen nodes. [`freeze`] models a paused machine (a VM stopped by its hypervisor): the
//! node's `bootd` gets SIGSTOP and the node's `eth0` goes down, so neither the process nor
//! its kernel answers anything (the VIP's macvlan sits on that link and goes silent with
//! it). Thawing sends SIGCONT first; the link comes back once the resumed process has
//! dropped the VIP from its VIP namespace (found through `/proc/<pid>/task/*/ns/net`; at
//! most 5 s), so the scenario tests that a resumed stale leader lets go (the VIP hold rule)
//! and acts on nothing stale. The instant between a real VM's resume and that release, in
//! which its kernel would still answer ARP, is not modelled: it is the hung-process case
//! below in small. [`freeze_process`] stops only the process (a hung `bootd` on a live kernel): the
//! kernel keeps answering ARP for an address the process can no longer release. The
//! guard thaws on drop.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

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
    vip: Option<Ipv4Addr>,
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
        vip: c.lan.as_ref().map(|(l, _)| l.ip(10)),
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
    /// SIGCONT, then (a whole-machine freeze) the link up once the process dropped the VIP.
    pub fn thaw(mut self) -> anyhow::Result<()> {
        kill(self.pid, Signal::SIGCONT)?;
        if let Some(ns) = &self.link_ns {
            if let Some(vip) = self.vip {
                let pid = self.pid.as_raw();
                let t = std::time::Instant::now();
                let held = holds_vip(pid, vip);
                let released = crate::wait::until(
                    "the resumed node to drop the VIP",
                    Duration::from_secs(5),
                    || match holds_vip(pid, vip) {
                        Some(true) => Err("still holds it".into()),
                        _ => Ok(()),
                    },
                );
                match (held, released) {
                    (_, Err(e)) => {
                        eprintln!(
                            "chaos: node {}: {e:#}; bringing the link up anyway",
                            self.node
                        )
                    }
                    (Some(true), Ok(())) => eprintln!(
                        "chaos: node {} held the VIP when resumed and dropped it after {} ms",
                        self.node,
                        t.elapsed().as_millis()
                    ),
                    (Some(false), Ok(())) => {
                        eprintln!("chaos: node {} held no VIP when resumed", self.node)
                    }
                    (None, Ok(())) => eprintln!(
                        "chaos: node {}: no VIP namespace found; link up at once",
                        self.node
                    ),
                }
            }
            run(&mut link(ns, "up"))?;
        }
        self.thawed = true;
        self.log.healed(self.index);
        Ok(())
    }
}

/// The network namespace of `pid`'s task that is not the process's own (bootd's VIP
/// namespace, held by a parked thread).
fn vip_netns(pid: i32) -> Option<PathBuf> {
    let main = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
        .map(|t| t.path().join("ns/net"))
        .find(|p| std::fs::read_link(p).is_ok_and(|l| l != main))
}

/// Whether `pid`'s VIP namespace has address `vip` (`None`: no such namespace found).
fn holds_vip(pid: i32, vip: Ipv4Addr) -> Option<bool> {
    let ns = vip_netns(pid)?;
    let out = Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .args(["ip", "-4", "-o", "addr", "show"])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).contains(&format!(" {vip}/")))
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
