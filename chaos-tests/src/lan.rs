//! A LAN of network namespaces for multi-host tests: one bridge namespace, and host
//! namespaces joined to it by veth pairs, with private 10.x addresses chosen per run so
//! parallel runs do not collide. Everything is removed on drop (also after a panic).
//! Code that must talk to the LAN from the test process runs in [`Lan::in_ns`] on a
//! thread that entered a host's namespace.

use std::os::fd::AsFd;
use std::process::Command;

use anyhow::Context;

/// A bridge and its hosts.
pub struct Lan {
    /// Unique prefix of every namespace and interface name of this LAN.
    pub prefix: String,
    /// The /24 this LAN uses: 10.a.b.0/24.
    pub net: [u8; 3],
    hosts: Vec<String>,
}

fn run(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("{args:?}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

impl Lan {
    /// True when namespaces can be made here (root).
    pub fn available() -> bool {
        nix::unistd::Uid::effective().is_root()
    }

    /// A new LAN with only the bridge.
    pub fn new() -> anyhow::Result<Lan> {
        let tag: u32 = rand::random::<u32>() & 0xff_ffff;
        let prefix = format!("rb{tag:06x}");
        let net = [10, 100 + (tag % 100) as u8, (tag >> 8) as u8];
        let lan = Lan {
            prefix,
            net,
            hosts: vec![],
        };
        let br = lan.bridge_ns();
        run(&["ip", "netns", "add", &br])?;
        run(&["ip", "-n", &br, "link", "add", "br0", "type", "bridge"])?;
        run(&["ip", "-n", &br, "link", "set", "br0", "up"])?;
        Ok(lan)
    }

    pub fn bridge_ns(&self) -> String {
        format!("{}br", self.prefix)
    }

    /// The address 10.a.b.`last`.
    pub fn ip(&self, last: u8) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::new(self.net[0], self.net[1], self.net[2], last)
    }

    /// Add host `name` with address .`last`/24 on its `eth0`; returns its namespace.
    pub fn add_host(&mut self, name: &str, last: u8) -> anyhow::Result<String> {
        let ns = format!("{}{name}", self.prefix);
        let veth = format!("{}{name}", self.prefix);
        run(&["ip", "netns", "add", &ns])?;
        self.hosts.push(ns.clone());
        run(&[
            "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ])?;
        run(&["ip", "link", "set", &veth, "netns", &self.bridge_ns()])?;
        run(&[
            "ip",
            "-n",
            &self.bridge_ns(),
            "link",
            "set",
            &veth,
            "master",
            "br0",
            "up",
        ])?;
        run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
        run(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
        let cidr = format!("{}/24", self.ip(last));
        run(&["ip", "-n", &ns, "addr", "add", &cidr, "dev", "eth0"])?;
        Ok(ns)
    }

    /// A command that runs inside namespace `ns`.
    pub fn cmd(&self, ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }

    /// Run `f` on a thread inside namespace `ns` and return its result.
    pub fn in_ns<T: Send + 'static>(
        &self,
        ns: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let path = format!("/run/netns/{ns}");
        let file = std::fs::File::open(&path).with_context(|| path.clone())?;
        let h = std::thread::spawn(move || {
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map(|_| f())
        });
        h.join()
            .map_err(|_| anyhow::anyhow!("thread in {ns} panicked"))?
            .map_err(|e| anyhow::anyhow!("setns {ns}: {e}"))
    }

    /// Cut IP traffic between two hosts both ways (ARP and everyone else unaffected).
    pub fn partition(&self, a: (&str, u8), b: (&str, u8)) -> anyhow::Result<()> {
        self.blackholes("add", a, b)
    }

    /// Undo [`Lan::partition`].
    pub fn heal(&self, a: (&str, u8), b: (&str, u8)) -> anyhow::Result<()> {
        self.blackholes("del", a, b)
    }

    /// Add or delete the pair of blackhole routes between two hosts.
    fn blackholes(&self, op: &str, a: (&str, u8), b: (&str, u8)) -> anyhow::Result<()> {
        for (ns, other) in [(a.0, b.1), (b.0, a.1)] {
            let dst = format!("{}/32", self.ip(other));
            run(&["ip", "-n", ns, "route", op, "blackhole", &dst])?;
        }
        Ok(())
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain(std::iter::once(&self.bridge_ns())) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}
