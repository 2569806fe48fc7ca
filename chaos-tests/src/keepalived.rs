//! keepalived as the peer to compare VIP failover against: one VRRP daemon per network
//! namespace of a [`Lan`], with its own config and PID files in a directory of ours
//! (`-n -l -D -P -f CONF -p PID -r VRRP_PID -c CHECKERS_PID`: no fork into the background,
//! log to the console, VRRP subsystem only), so nothing touches the host namespace or the
//! system's keepalived files. Stopped by PID only.
//!
//! keepalived forks a VRRP child; a hard kill (a crashed or powered-off server) must not let
//! the parent shut the child down gracefully (a graceful stop sends a priority-0 advert and the
//! backup takes over at once), so [`Keepalived::crash`] stops the parent, SIGKILLs the child,
//! then SIGKILLs the parent.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::lan::Lan;

/// The Debian package and the binary.
pub const PACKAGE: &str = "keepalived";

/// Is keepalived installed?
pub fn installed() -> bool {
    std::process::Command::new("keepalived")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Install keepalived with apt-get (root), unless it is there.
pub fn ensure_installed() -> anyhow::Result<()> {
    if installed() {
        return Ok(());
    }
    eprintln!("installing keepalived: apt-get install -y --no-install-recommends {PACKAGE}");
    let ok = std::process::Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends", PACKAGE])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("apt-get")?
        .success();
    anyhow::ensure!(
        ok && installed(),
        "keepalived is missing: apt-get install keepalived"
    );
    Ok(())
}

/// A VRRPv3 instance config: both nodes start as BACKUP with `nopreempt` and equal
/// priority, so a restarted node never takes the address back (like a restarted bootd).
pub fn config(name: &str, vip: Ipv4Addr, prefix: u8, advert_int: f64, router_id: u8) -> String {
    format!(
        "global_defs {{\n  router_id {name}\n  vrrp_version 3\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  nopreempt\n  interface eth0\n  \
         virtual_router_id {router_id}\n  priority 100\n  advert_int {advert_int}\n  \
         virtual_ipaddress {{\n    {vip}/{prefix} dev eth0\n  }}\n}}\n"
    )
}

/// One running keepalived in a namespace.
pub struct Keepalived {
    pub ns: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl Keepalived {
    /// Start keepalived in `ns` with `conf` (files go to `dir`).
    pub fn start(lan: &Lan, ns: &str, dir: &std::path::Path, conf: &str) -> anyhow::Result<Self> {
        let conf_path = dir.join(format!("{ns}.conf"));
        std::fs::write(&conf_path, conf)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{ns}.log")))?;
        // Stale PID files of a crashed run would make keepalived think it is running.
        for f in ["pid", "vrrp.pid", "checkers.pid"] {
            let _ = std::fs::remove_file(dir.join(format!("{ns}.{f}")));
        }
        // `ip netns exec` execs keepalived in place: the PID we keep is keepalived's.
        let child = lan
            .cmd(ns, "keepalived")
            .args(["-n", "-l", "-D", "-P", "-f"])
            .arg(&conf_path)
            .arg("-p")
            .arg(dir.join(format!("{ns}.pid")))
            .arg("-r")
            .arg(dir.join(format!("{ns}.vrrp.pid")))
            .arg("-c")
            .arg(dir.join(format!("{ns}.checkers.pid")))
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting keepalived")?;
        Ok(Keepalived {
            ns: ns.to_string(),
            dir: dir.to_path_buf(),
            child: Some(child),
        })
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.ns))).unwrap_or_default()
    }

    /// The VRRP child's PID (from its PID file).
    pub fn vrrp_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join(format!("{}.vrrp.pid", self.ns)))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Crash it: stop the parent, SIGKILL the VRRP child, SIGKILL the parent. Returns when
    /// the child was killed.
    pub fn crash(&mut self) -> anyhow::Result<Instant> {
        let mut child = self.child.take().context("keepalived is not running")?;
        let parent = Pid::from_raw(i32::try_from(child.id())?);
        let vrrp = self.vrrp_pid().context("no VRRP child PID file")?;
        kill(parent, Signal::SIGSTOP)?;
        kill(Pid::from_raw(vrrp), Signal::SIGKILL)?;
        let at = Instant::now();
        kill(parent, Signal::SIGKILL)?;
        child.wait()?;
        Ok(at)
    }

    /// Wait until the VRRP child has written its PID file and the log shows `state` (e.g.
    /// "BACKUP STATE") `times` times.
    pub fn wait_for(&self, state: &str, times: usize, timeout: Duration) -> anyhow::Result<()> {
        crate::wait::until(
            &format!("keepalived in {} to log {state}", self.ns),
            timeout,
            || {
                let n = self.log().matches(state).count();
                if n >= times && self.vrrp_pid().is_some() {
                    Ok(())
                } else {
                    Err(format!("{n} times"))
                }
            },
        )
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM by PID: keepalived stops its child and removes the address.
            if let Ok(pid) = i32::try_from(c.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Some(vrrp) = self.vrrp_pid() {
                let _ = kill(Pid::from_raw(vrrp), Signal::SIGKILL);
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
