//! chaos-tests: clusters of real `bootd` processes with faults injected, and the checks that
//! prove nothing acknowledged is lost.
//!
//! [`cluster::Cluster`] starts a cluster on loopback (unprivileged ports, a private temp
//! dir), kills, restarts and wipes nodes by PID, and removes everything it made when it is
//! dropped, printing each node's log tail if the test failed. [`netns::Lab`] builds a
//! network of namespaces (a bridge, veths, private 10.x addresses) and
//! [`netns_cluster::NetCluster`] runs `bootd` nodes inside it, with real DHCP clients
//! ([`dhcp_clients`]: dhclient, udhcpc, perfdhcp) in further namespaces. [`wait::until`]
//! is the one bounded way tests wait for a condition. [`lan::Lan`] (with [`arp`]) is the
//! smaller LAN the VIP tests use; both harnesses make only namespaces they remove.
//! [`boot_rig::BootRig`] network-boots real QEMU guests ([`qemu::QemuBoot`]) from a
//! three-node cluster on a LAN, with images built by [`guest::GuestFiles`] and router
//! advertisements from [`ra::RaSender`].
//! [`udp_probe`] sends numbered DHCP/RPC probes from a client namespace and
//! [`keepalived`] runs the peer VRRP daemon in namespaces, for `failover-bench`.
//! [`browser::Browser`] drives a real headless Chromium over WebDriver inside a namespace
//! (the status page test).
//! [`web_tier`] is the web-tier scenario: two QEMU web nodes ([`web_guest`]: site on
//! tmpfs, busybox httpd, NFS reads from the root) polled over HTTP ([`web_poller`]) while
//! boot servers are killed and a web node reboots.
//! The chaos harness: [`faults`] (SIGKILL, SIGSTOP, partitions, netem, full disk,
//! restart-all, clock jumps), [`storm`] (boot storms of simulated PXE clients),
//! [`invariants`] (the design's five checkers) and [`scenario`] (named scenarios, seeded
//! random schedules and their reports; the `chaos` binary runs them).

pub mod arp;
pub mod boot_rig;
pub mod bootsim;
pub mod browser;
pub mod cluster;
pub mod dhcp_clients;
pub mod faults;
pub mod ganesha;
pub mod guest;
pub mod invariants;
pub mod keepalived;
pub mod lan;
pub mod netns;
pub mod netns_cluster;
pub mod pki;
pub mod qemu;
pub mod ra;
pub mod scenario;
pub mod storm;
pub mod udp_probe;
pub mod wait;
pub mod web_guest;
pub mod web_poller;
pub mod web_tier;

/// The seed of a randomized test: `RAFTBOOT_SEED` when set, else a fresh one; printed
/// with the line that replays it.
pub fn test_seed() -> u64 {
    let s = env_number("RAFTBOOT_SEED", rand::random());
    eprintln!("seed: {s} (replay with RAFTBOOT_SEED={s})");
    s
}

/// A count a test may be told to change (`name` in the environment), else `default`.
pub fn env_number<N: std::str::FromStr>(name: &str, default: N) -> N {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The value of the first sample in a Prometheus text `body` whose line starts with
/// `line_prefix` (a metric name, with labels if they matter).
pub fn metric_value(body: &str, line_prefix: &str) -> Option<u64> {
    body.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Where the workspace's binaries are: `RAFTBOOT_BIN_DIR`, else the directory above the
/// running test executable (`target/<profile>/deps/..`).
pub fn bin_dir() -> std::path::PathBuf {
    if let Some(d) = std::env::var_os("RAFTBOOT_BIN_DIR") {
        return d.into();
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// Path of a workspace binary, failing clearly if it was not built.
pub fn bin(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let p = bin_dir().join(name);
    anyhow::ensure!(
        p.exists(),
        "{} not found: build the binaries first (cargo build --workspace --bins), or set RAFTBOOT_BIN_DIR",
        p.display()
    );
    Ok(p)
}
