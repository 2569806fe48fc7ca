//! A lab network of Linux network namespaces for multi-host tests: one namespace holds a
//! bridge, every member namespace (a boot server, a client, a control host) gets a veth
//! pair whose far end is enslaved to that bridge, and the lab picks a private
//! `10.a.b.0/24` for the run. Commands run inside a member with `ip netns exec`, code runs
//! inside one on a thread that `setns`es into it ([`Lab::in_ns`]), and processes started
//! through the lab are tracked by PID.
//!
//! Dropping the lab (also while a test panics) SIGKILLs the processes it started, by
//! PID, and deletes every namespace it created (their veths and the bridge go with them).
//! Everything needs root: [`Lab::available`] says whether it can run here.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use anyhow::Context;

/// One member of the lab.
#[derive(Debug, Clone)]
pub struct Member {
    /// The namespace's name (`ip netns exec NAME`).
    pub ns: String,
    /// Its interface inside the namespace (always `eth0`).
    pub iface: String,
    /// Its address, if numbered.
    pub ip: Option<Ipv4Addr>,
    /// Its interface's MAC address.
    pub mac: String,
}

/// A lab network. See the module docs.
pub struct Lab {
    /// Unique per run: part of every name the lab creates.
    pub id: String,
    /// The lab's `/24`: `10.net[0].net[1].0`.
    pub net: [u8; 2],
    bridge_ns: String,
    members: BTreeMap<String, Member>,
    namespaces: Vec<String>,
    procs: BTreeMap<u32, Child>,
}

/// Run a command, failing with its output when it does not succeed.
fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out)
}

fn ip(args: &[&str]) -> anyhow::Result<Output> {
    run(Command::new("ip").args(args))
}

impl Lab {
    /// `Ok` when namespaces can be made here (root and `ip` present); else why not.
    pub fn available() -> Result<(), String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("network-namespace tests need root".into());
        }
        match Command::new("ip").arg("-V").output() {
            Ok(o) if o.status.success() => Ok(()),
            _ => Err("`ip` (iproute2) is not installed".into()),
        }
    }

    /// A lab if possible; otherwise prints why the test is skipped and returns `None`.
    /// Under CI (`CI` set) a lab that cannot be made fails the test instead.
    pub fn or_skip(tag: &str) -> Option<Lab> {
        if let Err(why) = Self::available() {
            if std::env::var_os("CI").is_some() {
                panic!("{tag}: {why}, and CI must run this test");
            }
            eprintln!("skipping {tag}: {why}");
            return None;
        }
        match Lab::new() {
            Ok(l) => Some(l),
            Err(e) => panic!("{tag}: creating the lab network: {e:#}"),
        }
    }

    /// Create the bridge namespace and pick the lab's subnet.
    pub fn new() -> anyhow::Result<Lab> {
        let id = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
        let net = [rand::random::<u8>().clamp(1, 254), rand::random::<u8>()];
        let bridge_ns = format!("rbt-{id}-br");
        let mut lab = Lab {
            id,
            net,
            bridge_ns: bridge_ns.clone(),
            members: BTreeMap::new(),
            namespaces: Vec::new(),
            procs: BTreeMap::new(),
        };
        lab.add_ns(&bridge_ns)?;
        lab.exec_ok(&bridge_ns, &["ip", "link", "add", "br0", "type", "bridge"])?;
        lab.exec_ok(&bridge_ns, &["ip", "link", "set", "br0", "up"])?;
        Ok(lab)
    }

    fn add_ns(&mut self, ns: &str) -> anyhow::Result<()> {
        ip(&["netns", "add", ns])?;
        self.namespaces.push(ns.to_string());
        self.exec_ok(ns, &["ip", "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// The lab address `10.a.b.octet`.
    pub fn addr(&self, octet: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.net[0], self.net[1], octet)
    }

    /// Add a member namespace `name` with `eth0` on the bridge, numbered `10.a.b.octet/24`
    /// when `octet` is given (DHCP clients start unnumbered).
    pub fn add_member(&mut self, name: &str, octet: Option<u8>) -> anyhow::Result<Member> {
        anyhow::ensure!(!self.members.contains_key(name), "member {name} exists");
        let ns = format!("rbt-{}-{name}", self.id);
        self.add_ns(&ns)?;
        let outer = format!("rb{}{:02}", self.id, self.members.len());
        ip(&[
            "link",
            "add",
            &outer,
            "netns",
            &self.bridge_ns,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &ns,
        ])?;
        self.exec_ok(
            &self.bridge_ns,
            &["ip", "link", "set", &outer, "master", "br0"],
        )?;
        self.exec_ok(&self.bridge_ns, &["ip", "link", "set", &outer, "up"])?;
        let ip = octet.map(|o| self.addr(o));
        if let Some(a) = ip {
            self.exec_ok(
                &ns,
                &["ip", "addr", "add", &format!("{a}/24"), "dev", "eth0"],
            )?;
        }
        self.exec_ok(&ns, &["ip", "link", "set", "eth0", "up"])?;
        let mac = self.mac_of(&ns)?;
        let m = Member {
            ns,
            iface: "eth0".into(),
            ip,
            mac,
        };
        self.members.insert(name.to_string(), m.clone());
        Ok(m)
    }

    fn mac_of(&self, ns: &str) -> anyhow::Result<String> {
        let out = self.exec_ok(ns, &["cat", "/sys/class/net/eth0/address"])?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A member by name.
    pub fn member(&self, name: &str) -> anyhow::Result<&Member> {
        self.members
            .get(name)
            .with_context(|| format!("no lab member {name}"))
    }

    /// A command that runs `argv` inside namespace `ns`.
    pub fn command(&self, ns: &str, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(argv);
        c
    }

    /// Run `argv` inside `ns` and return its output (whatever its exit status).
    pub fn exec(&self, ns: &str, argv: &[&str]) -> anyhow::Result<Output> {
        self.command(ns, argv)
            .output()
            .with_context(|| format!("running {argv:?} in {ns}"))
    }

    /// Run `argv` inside `ns`; fail unless it succeeds.
    pub fn exec_ok(&self, ns: &str, argv: &[&str]) -> anyhow::Result<Output> {
        run(&mut self.command(ns, argv))
    }

    /// Start `argv` inside `ns` in the background, output appended to `log`; returns its
    /// PID (`ip netns exec` execs the command, so it is the command's own PID).
    pub fn spawn(&mut self, ns: &str, argv: &[&str], log: &Path) -> anyhow::Result<u32> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let child = self
            .command(ns, argv)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .spawn()
            .with_context(|| format!("starting {argv:?} in {ns}"))?;
        let pid = child.id();
        self.procs.insert(pid, child);
        Ok(pid)
    }

    /// Send `sig` to a process this lab started, and reap it.
    pub fn signal(&mut self, pid: u32, sig: nix::sys::signal::Signal) -> anyhow::Result<()> {
        let mut child = self
            .procs
            .remove(&pid)
            .with_context(|| format!("pid {pid} was not started by this lab"))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(i32::try_from(pid)?), sig)?;
        child.wait()?;
        Ok(())
    }

    /// SIGKILL a process this lab started.
    pub fn kill(&mut self, pid: u32) -> anyhow::Result<()> {
        self.signal(pid, nix::sys::signal::Signal::SIGKILL)
    }

    /// True while a process this lab started has not exited.
    pub fn is_running(&mut self, pid: u32) -> bool {
        self.procs
            .get_mut(&pid)
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Run `f` on a thread inside namespace `ns` (sockets it opens live there).
    pub fn in_ns<T: Send>(&self, ns: &str, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
        let path = format!("/run/netns/{ns}");
        std::thread::scope(|s| {
            s.spawn(move || -> anyhow::Result<T> {
                let fd = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
                nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET)
                    .with_context(|| format!("entering {path}"))?;
                Ok(f())
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the thread in {ns} panicked"))?
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let pids: Vec<u32> = self.procs.keys().copied().collect();
        for pid in pids {
            let _ = self.kill(pid);
        }
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
