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

pub mod arp;
pub mod boot_rig;
pub mod bootsim;
pub mod cluster;
pub mod dhcp_clients;
pub mod ganesha;
pub mod guest;
pub mod keepalived;
pub mod lan;
pub mod netns;
pub mod netns_cluster;
pub mod pki;
pub mod qemu;
pub mod ra;
pub mod udp_probe;
pub mod wait;

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
