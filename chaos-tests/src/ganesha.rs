//! [`Ganesha`]: nfs-ganesha (VFS FSAL, NFSv3, read-only exports) with its own rpcbind, in a
//! network namespace and a mount namespace of its own, as the peer the NFS benchmark
//! compares raftboot with.
//!
//! Layout: a fresh network namespace (only `lo`, up) made with `ip netns add`; inside it a
//! holder process (`sleep`) in a private mount namespace with a tmpfs on `/run`, so this
//! rpcbind's socket and lock files do not collide with any other rpcbind on the machine.
//! rpcbind (`-w -f`) and `ganesha.nfsd -F` are started in both namespaces with `nsenter`
//! (which execs in place, so the PIDs we keep are theirs). Clients run the same way
//! ([`Ganesha::cmd`]) and reach the server at `127.0.0.1`. Dropping it stops ganesha,
//! rpcbind and the holder by the PIDs started here and deletes the network namespace.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::wait;

/// Debian packages the peer needs.
pub const PACKAGES: [&str; 3] = ["nfs-ganesha", "nfs-ganesha-vfs", "rpcbind"];

/// A running nfs-ganesha and its rpcbind.
pub struct Ganesha {
    netns: String,
    holder: Option<Child>,
    rpcbind: Option<Child>,
    ganesha: Option<Child>,
    log: PathBuf,
}

/// Install the peer's packages with apt-get when one is missing (root only).
pub fn ensure_installed() -> anyhow::Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg")
                .args(["-s", p])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing {}", missing.join(" "));
    let st = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("apt-get")?;
    anyhow::ensure!(
        st.success(),
        "apt-get install {} failed: install them by hand (apt-get update first?)",
        missing.join(" ")
    );
    // Debian starts the packaged services; the benchmark runs its own instances.
    Ok(())
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("{cmd:?}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

impl Ganesha {
    /// Start rpcbind and ganesha exporting each of `exports` (directories, exported under
    /// their own path) read-only over NFSv3/TCP, both pinned to `cpu` at nice level `nice`;
    /// `dir` holds the config, log and pid files. Returns once every export can be listed.
    pub fn start(dir: &Path, exports: &[&Path], cpu: usize, nice: i32) -> anyhow::Result<Ganesha> {
        let pinned = [
            "-n".to_string(),
            nice.to_string(),
            "taskset".into(),
            "-c".into(),
            cpu.to_string(),
        ];
        let netns = format!("rbg{:06x}", rand::random::<u32>() & 0xff_ffff);
        run(Command::new("ip").args(["netns", "add", &netns]))?;
        let mut g = Ganesha {
            netns,
            holder: None,
            rpcbind: None,
            ganesha: None,
            log: dir.join("ganesha.log"),
        };
        run(Command::new("ip").args(["-n", &g.netns, "link", "set", "lo", "up"]))?;
        // ip netns exec and unshare exec in place: the PID is the final `sleep`'s.
        let holder = Command::new("ip")
            .args(["netns", "exec", &g.netns])
            .args(["unshare", "-m", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs rbg-run /run && exec sleep 86400")
            .stdin(Stdio::null())
            .spawn()
            .context("starting the namespace holder")?;
        let hpid = holder.id();
        g.holder = Some(holder);
        wait::until(
            "the ganesha namespace holder",
            Duration::from_secs(10),
            || match std::fs::read_to_string(format!("/proc/{hpid}/comm")) {
                Ok(c) if c.trim() == "sleep" => Ok(()),
                Ok(c) => Err(format!("still {}", c.trim())),
                Err(e) => Err(e.to_string()),
            },
        )?;

        let mut rpcbind = g.cmd("nice");
        rpcbind.args(&pinned).args(["rpcbind", "-w", "-f"]);
        g.rpcbind = Some(
            rpcbind
                .stdin(Stdio::null())
                .spawn()
                .context("starting rpcbind")?,
        );
        wait::until("rpcbind", Duration::from_secs(10), || {
            let ok = g
                .cmd("rpcinfo")
                .args(["-p", "127.0.0.1"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                Ok(())
            } else {
                Err("rpcinfo -p fails".into())
            }
        })?;

        let conf = dir.join("ganesha.conf");
        std::fs::write(&conf, config(exports))?;
        let mut ganesha = g.cmd("nice");
        ganesha
            .args(&pinned)
            .args(["ganesha.nfsd", "-F", "-f"])
            .arg(&conf)
            .arg("-L")
            .arg(&g.log)
            .arg("-p")
            .arg(dir.join("ganesha.pid"))
            .args(["-N", "NIV_WARN"]);
        g.ganesha = Some(
            ganesha
                .stdin(Stdio::null())
                .spawn()
                .context("starting ganesha.nfsd")?,
        );
        for e in exports {
            let url = format!("nfs://127.0.0.1{}?version=3", e.display());
            let log = g.log.clone();
            let server = g.ganesha.as_mut().context("ganesha not started")?;
            wait::until(
                "ganesha to serve its exports",
                Duration::from_secs(60),
                || {
                    if let Ok(Some(st)) = server.try_wait() {
                        return Err(format!("ganesha.nfsd exited: {st}; log:\n{}", tail(&log)));
                    }
                    let o = in_namespaces(hpid, "nfs-ls")
                        .arg(&url)
                        .output()
                        .map_err(|e| e.to_string())?;
                    if o.status.success() {
                        Ok(())
                    } else {
                        Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
                    }
                },
            )?;
        }
        Ok(g)
    }

    /// The network namespace (`ip netns` name) the server listens in.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// The PID of ganesha.nfsd.
    pub fn pid(&self) -> Option<u32> {
        self.ganesha.as_ref().map(Child::id)
    }

    /// A command that runs in ganesha's network and mount namespaces (reach the server at
    /// 127.0.0.1).
    pub fn cmd(&self, program: &str) -> Command {
        in_namespaces(self.holder.as_ref().map(Child::id).unwrap_or(0), program)
    }

    /// The last lines of ganesha's log.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// `program` in the network and mount namespaces of process `pid`.
fn in_namespaces(pid: u32, program: &str) -> Command {
    let mut c = Command::new("nsenter");
    c.args(["-t", &pid.to_string(), "-m", "-n", program]);
    c
}

/// ganesha.conf: NFSv3 only (no NLM, no RQUOTA), one read-only VFS export per directory.
fn config(exports: &[&Path]) -> String {
    let mut s = String::from(
        "NFS_CORE_PARAM { Protocols = 3; NFS_Port = 2049; MNT_Port = 20048; \
         Enable_NLM = false; Enable_RQUOTA = false; }\nNFSV4 { Graceless = true; }\n",
    );
    for (i, e) in exports.iter().enumerate() {
        s.push_str(&format!(
            "EXPORT {{ Export_Id = {}; Path = \"{}\"; Pseudo = \"/export{}\"; Protocols = 3; \
             Access_Type = RO; Squash = No_Root_Squash; Transports = TCP; SecType = sys; \
             FSAL {{ Name = VFS; }} }}\n",
            i + 1,
            e.display(),
            i + 1
        ));
    }
    s
}

impl Drop for Ganesha {
    fn drop(&mut self) {
        // Stop by the PIDs started here: ganesha first (it unregisters from rpcbind).
        for child in [&mut self.ganesha, &mut self.rpcbind, &mut self.holder]
            .into_iter()
            .flatten()
        {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}
