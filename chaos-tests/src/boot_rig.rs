//! [`BootRig`]: a three-node raftboot cluster on a LAN set up for real network boots: DHCP
//! on the LAN (next-server = the VIP), the loader image (`bootloaders`) and a boot image
//! from [`GuestFiles`] active in group [`GROUP`] with the marker's kernel arguments, router
//! advertisements from the client namespace, and helpers to register guests, start them
//! ([`QemuBoot`]) and read the boot stages a node recorded (`GET /v1/boots`).

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::Context;
use raftboot::api::types::{BootView, NodeBoots};

use crate::cluster::{Cluster, Spec};
use crate::guest::{GuestFiles, KERNEL_ARGS};
use crate::qemu::QemuBoot;
use crate::ra::RaSender;
use crate::wait;

/// The group the guests boot from.
pub const GROUP: &str = "qemuroot";
/// The boot image's name.
pub const IMAGE: &str = "qemuroot";

const T: Duration = Duration::from_secs(120);

/// A cluster ready to network-boot guests.
pub struct BootRig {
    pub cluster: Cluster,
    pub guest: GuestFiles,
    pub vip: Ipv4Addr,
    ra: RaSender,
}

impl BootRig {
    /// Build the guest files, start the cluster, import both images and wait until they
    /// are ready on every boot server and a VIP holder serves.
    pub fn start() -> anyhow::Result<BootRig> {
        Self::start_with(GuestFiles::build()?)
    }

    /// [`BootRig::start`] with guest files the caller built (and perhaps added to, e.g. a
    /// web site), imported as they are.
    pub fn start_with(guest: GuestFiles) -> anyhow::Result<BootRig> {
        // Relaxed timings: a TCG guest keeps one of two cores busy.
        let spec = Spec {
            on_lan: true,
            heartbeat_ms: 100,
            election_min_ms: 1000,
            election_max_ms: 2000,
            dhcp_toml: Some(String::new()),
            ..Spec::default()
        };
        let cluster = Cluster::start(&spec)?;
        cluster.wait_leader(T)?;
        let (lan, client) = cluster.lan.clone().context("a LAN cluster")?;
        let ra = RaSender::start(&client, "eth0")?;
        let rig = BootRig {
            vip: lan.ip(10),
            cluster,
            guest,
            ra,
        };
        rig.ctl(&["groups", "set", GROUP, "--kernel-args", KERNEL_ARGS])?;
        let loaders = rig.guest.loaders.to_string_lossy().to_string();
        rig.ctl(&[
            "image",
            "import",
            &loaders,
            "--name",
            "bootloaders",
            "--quiet",
        ])?;
        let root = rig.guest.root.to_string_lossy().to_string();
        rig.ctl(&[
            "image", "import", &root, "--name", IMAGE, "--group", GROUP, "--quiet",
        ])?;
        rig.wait_images_ready("both images ready on 3 boot servers")?;
        rig.vip_holder()?;
        Ok(rig)
    }

    /// Wait (bounded) until both images (loaders and root) are ready on all three boot
    /// servers; `what` names the wait in its timeout error.
    pub fn wait_images_ready(&self, what: &str) -> anyhow::Result<()> {
        self.cluster.wait_images_ready(what, 2, 3, T)
    }

    /// Restart a killed boot server and wait until it serves both images again and a VIP
    /// holder answers; returns the holder.
    pub fn restore_node(&mut self, id: u64) -> anyhow::Result<u64> {
        self.cluster.start_node(id)?;
        self.wait_images_ready(&format!("node {id} back with both images"))?;
        self.vip_holder()
    }

    /// Run bootctl against the cluster; its stdout, or an error with its stderr.
    pub fn ctl(&self, args: &[&str]) -> anyhow::Result<String> {
        self.cluster.ctl(args)
    }

    /// Register a guest: `mac` gets the fixed address .`last` in group [`GROUP`], and
    /// `boot_file` (e.g. `pxelinux.ipxe` or an http:// script URL) when given.
    pub fn add_host(
        &self,
        mac: &str,
        name: &str,
        last: u8,
        boot_file: Option<&str>,
    ) -> anyhow::Result<Ipv4Addr> {
        let ip = self
            .cluster
            .lan
            .as_ref()
            .context("a LAN cluster")?
            .0
            .ip(last);
        let ip_s = ip.to_string();
        let mut args = vec!["hosts", "add", mac, name, "--ip", &ip_s, "--group", GROUP];
        if let Some(f) = boot_file {
            args.extend(["--boot-file", f]);
        }
        self.ctl(&args)?;
        Ok(ip)
    }

    /// Wait until the leader holds the VIP; returns it.
    pub fn vip_holder(&self) -> anyhow::Result<u64> {
        self.cluster.wait_vip_holder(T)
    }

    /// Start a guest with NIC `mac` on the LAN.
    pub fn boot(&self, tag: &str, mac: &str) -> anyhow::Result<QemuBoot> {
        let (lan, _) = self.cluster.lan.as_ref().context("a LAN cluster")?;
        QemuBoot::start(lan, tag, mac)
    }

    /// The boot stages node `id` recorded for `mac` (lower-case, colon-separated).
    pub fn boots_of(&self, id: u64, mac: &str) -> anyhow::Result<Option<BootView>> {
        let client = self.cluster.client_unchecked(id);
        let all = self
            .cluster
            .api(move || client.get::<NodeBoots>("/v1/boots"))?
            .map_err(|e| anyhow::anyhow!("node {id}: {e}"))?;
        let mac = mac.to_ascii_lowercase();
        Ok(all.boots.into_iter().find(|b| b.key == mac))
    }

    /// Wait until a running node has recorded `stage` (`loader`, `config`, `kernel`,
    /// `initrd`) for `mac`, polling every 50 ms; returns that node (e.g. to kill the
    /// VIP holder while the kernel is in flight).
    pub fn wait_stage(&self, mac: &str, stage: &str, timeout: Duration) -> anyhow::Result<u64> {
        wait::until(&format!("stage {stage} of {mac}"), timeout, || {
            for id in self.cluster.running() {
                if let Ok(Some(b)) = self.boots_of(id, mac) {
                    if b.stages.iter().any(|s| s.stage == stage) {
                        return Ok(id);
                    }
                }
            }
            Err("not yet".into())
        })
    }

    /// Router advertisements sent so far.
    pub fn ras_sent(&self) -> u64 {
        self.ra.sent()
    }
}
