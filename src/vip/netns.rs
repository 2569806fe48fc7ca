//! The VIP namespace: a network namespace only this bootd process holds. A dedicated thread
//! `unshare(CLONE_NEWNET)`s and parks, keeping the namespace alive exactly as long as the
//! process: when bootd dies for any reason the kernel destroys the namespace and the
//! macvlan carrying the VIP with it, so a killed node can never keep answering ARP for it.
//! Services that must answer on the VIP run on a tokio runtime whose worker threads enter
//! this namespace as they start.

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
