//! The VIP namespace: a network namespace only this bootd process holds. A dedicated thread
//! `unshare(CLONE_NEWNET)`s and parks, keeping the namespace alive exactly as long as the
//! process: when bootd dies for any reason the kernel destroys the namespace and the
//! macvlan carrying the VIP with it, so a killed node can never keep answering ARP for it.
//! Services that must answer on the VIP run on a tokio runtime whose worker threads enter
//! this namespace as they start.
//!
//! One thing outlives the process: a TCP socket the kernel keeps after its last descriptor
//! closed (an orphan: FIN or unsent data not yet acknowledged, or FIN_WAIT2) holds a
//! reference to its namespace. When bootd is killed while a client that has since vanished
//! (a guest that powered off with its NFS root mounted) still has a connection to the VIP,
//! the orphan retransmits its FIN to nobody for ~2 minutes (`tcp_orphan_retries` 0 = 8
//! retries), and the namespace, its macvlan and the VIP live on with it: it answers ARP for
//! the VIP and refuses every connection, so clients that pick its ARP reply cannot reach
//! the new holder. [`ORPHAN_SYSCTLS`] bound orphans in this namespace to a few seconds.

use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc;

use nix::sched::{setns, unshare, CloneFlags};

/// Errors creating or entering the namespace.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("creating the VIP network namespace: {0}")]
    Create(String),
    #[error("entering the VIP network namespace: {0}")]
    Enter(String),
}

/// Per-namespace sysctls set when the namespace is created: orphaned TCP connections give
/// up after 3 retransmissions (a few seconds on a LAN) and FIN_WAIT2 orphans after 5 s,
/// instead of the defaults (8 retransmissions, ~2 minutes; 60 s).
pub const ORPHAN_SYSCTLS: &[(&str, &str)] = &[
    ("/proc/sys/net/ipv4/tcp_orphan_retries", "3"),
    ("/proc/sys/net/ipv4/tcp_fin_timeout", "5"),
];

/// Write [`ORPHAN_SYSCTLS`] for the calling thread's network namespace.
fn limit_orphans() -> Result<(), String> {
    for (path, value) in ORPHAN_SYSCTLS {
        std::fs::write(path, value).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

/// Run a command (`args[0]` with the rest as arguments) and wait for it; a failure is one
/// line naming the command and its stderr.
pub fn run_command(args: &[&str]) -> Result<(), String> {
    let (program, rest) = args
        .split_first()
        .ok_or_else(|| "empty command".to_string())?;
    let out = std::process::Command::new(program)
        .args(rest)
        .output()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A private network namespace held by a parked thread of this process.
pub struct VipNamespace {
    /// `/proc/<pid>/task/<tid>/ns/net` of the holding thread.
    pub path: PathBuf,
    /// The holding thread's id (what `ip link set DEV netns TID` takes).
    pub tid: i32,
    file: File,
    _keep: mpsc::Sender<()>,
}

impl VipNamespace {
    /// Create the namespace (needs CAP_SYS_ADMIN) and bring its loopback up.
    pub fn create() -> Result<Self, NetnsError> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(i32, PathBuf), String>>();
        let (keep_tx, keep_rx) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("vip-netns".into())
            .spawn(move || {
                let res = unshare(CloneFlags::CLONE_NEWNET)
                    .map_err(|e| e.to_string())
                    .map(|_| {
                        let tid = nix::unistd::gettid().as_raw();
                        (
                            tid,
                            PathBuf::from(format!(
                                "/proc/{}/task/{tid}/ns/net",
                                std::process::id()
                            )),
                        )
                    });
                let res = res.and_then(|r| limit_orphans().map(|()| r));
                let ok = res.is_ok();
                let _ = ready_tx.send(res);
                if ok {
                    // Park until the owner is dropped (the sender closes).
                    let _ = keep_rx.recv();
                }
            })
            .map_err(|e| NetnsError::Create(e.to_string()))?;
        let (tid, path) = ready_rx
            .recv()
            .map_err(|e| NetnsError::Create(e.to_string()))?
            .map_err(NetnsError::Create)?;
        let file = File::open(&path)
            .map_err(|e| NetnsError::Create(format!("{}: {e}", path.display())))?;
        let ns = Self {
            path,
            tid,
            file,
            _keep: keep_tx,
        };
        ns.run(&["ip", "link", "set", "lo", "up"])
            .map_err(NetnsError::Create)?;
        Ok(ns)
    }

    /// Move the calling thread into the namespace (for runtime worker threads).
    pub fn enter(&self) -> Result<(), NetnsError> {
        setns(&self.file, CloneFlags::CLONE_NEWNET).map_err(|e| NetnsError::Enter(e.to_string()))
    }

    /// A new handle on the namespace (for a thread that must enter it).
    pub fn file(&self) -> std::io::Result<File> {
        self.file.try_clone()
    }

    /// Run a command inside the namespace (via nsenter) and wait for it. Only short,
    /// waited-for commands: anything left running there would keep the namespace alive
    /// after this process dies.
    pub fn run(&self, args: &[&str]) -> Result<(), String> {
        let net = format!("--net={}", self.path.display());
        let mut full = vec!["nsenter", net.as_str()];
        full.extend_from_slice(args);
        run_command(&full)
    }

    /// A tokio runtime whose worker threads live in this namespace.
    pub fn runtime(&self, workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
        let file = self.file.try_clone()?;
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("vip-svc")
            .enable_all()
            .on_thread_start(move || {
                if let Err(e) = setns(&file, CloneFlags::CLONE_NEWNET) {
                    tracing::error!(error = %e, "VIP runtime thread could not enter the VIP namespace");
                }
            })
            .build()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The sysctls as the namespace sees them, read by a thread that entered it.
    fn read_in(ns: &VipNamespace) -> Vec<String> {
        let file = ns.file().unwrap();
        std::thread::spawn(move || {
            setns(&file, CloneFlags::CLONE_NEWNET).unwrap();
            ORPHAN_SYSCTLS
                .iter()
                .map(|(p, _)| std::fs::read_to_string(p).unwrap().trim().to_string())
                .collect()
        })
        .join()
        .unwrap()
    }

    #[test]
    fn the_namespace_bounds_orphaned_tcp_connections_but_the_host_is_untouched() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP: creating a network namespace needs root (CI runs as root)");
            return;
        }
        let host: Vec<String> = ORPHAN_SYSCTLS
            .iter()
            .map(|(p, _)| std::fs::read_to_string(p).unwrap().trim().to_string())
            .collect();
        let ns = VipNamespace::create().unwrap();
        let want: Vec<String> = ORPHAN_SYSCTLS.iter().map(|(_, v)| v.to_string()).collect();
        assert_eq!(read_in(&ns), want);
        let host_after: Vec<String> = ORPHAN_SYSCTLS
            .iter()
            .map(|(p, _)| std::fs::read_to_string(p).unwrap().trim().to_string())
            .collect();
        assert_eq!(host, host_after, "the host namespace's sysctls changed");
    }
}
