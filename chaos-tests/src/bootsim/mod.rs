//! A simulated network boot: what PXE firmware, pxelinux (or iPXE) and an NFS-root initramfs
//! do, step by step, against a raftboot cluster — DHCP with retransmit backoff, TFTP (or
//! HTTP) of the loader, its config, the kernel and the initrd with re-sends, then MOUNT and
//! NFS reads of root files. Each step is timed and checked (announced sizes, NFS reads equal
//! to what the same file reads over HTTP/TFTP where both exist). Used by the boot-storm
//! tests and by `pxe-sim`, which the README tour runs against `bootd local`.

pub mod dhcp;
pub mod plan;
pub mod tftp;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use raftboot::nfs::client::NfsClient;
use raftboot::nfs::mount::MOUNT_PROG;
use raftboot::nfs::portmap::NFS_PROG;
use raftboot_raft::Mac;
use serde::Serialize;

pub use self::dhcp::Lease;
use self::dhcp::{Backoff, DhcpClient};
use self::plan::BootPlan;
use self::tftp::TftpOptions;

/// Where the services are and how the client behaves.
#[derive(Debug, Clone)]
pub struct BootSim {
    pub mac: Mac,
    /// Where DHCP requests go (LAN: `255.255.255.255:67`; loopback demo: every node's port).
    pub dhcp_servers: Vec<SocketAddr>,
    /// Local address to send DHCP from (LAN: `0.0.0.0:68`; loopback: `127.0.0.1:0`).
    pub dhcp_bind: SocketAddr,
    /// TFTP port of the next-server (69 on a LAN).
    pub tftp_port: u16,
    /// Portmapper port of the NFS server (111 on a LAN).
    pub portmap_port: u16,
    /// Behave as iPXE (user class "iPXE": the boot file is a script) instead of BIOS PXE.
    pub ipxe: bool,
    /// Root files to read over NFS after mounting (paths inside the export).
    pub nfs_files: Vec<String>,
    pub dhcp_backoff: Backoff,
    pub tftp: TftpOptions,
    /// Timeout of each NFS reply.
    pub nfs_timeout: Duration,
    /// NFS reconnects (portmapper, MOUNT, LOOKUP and READ again) after a failed call, as
    /// the kernel's NFS client retransmits and reconnects when its server goes away.
    pub nfs_reconnects: u32,
    /// Where the client publishes each stage it enters (`dhcp`, `loader`, `config`,
    /// `kernel`, `initrd`, `nfs`, `done`) with the time, for drivers that inject a fault at
    /// a given stage; the last entry is the current stage.
    pub stage: Option<StageLog>,
}

/// The stages a client entered, with times; shared between the client and its driver,
/// which may also hold the client at the entry of one stage (to inject a fault exactly
/// there) and release it.
#[derive(Debug, Clone, Default)]
pub struct StageLog(std::sync::Arc<StageInner>);

#[derive(Debug, Default)]
pub struct StageInner {
    log: std::sync::Mutex<Vec<(String, Instant)>>,
    hold: std::sync::Mutex<Option<String>>,
    released: std::sync::Condvar,
}

impl StageLog {
    /// Note that the client entered `stage` now; if the driver holds this stage, wait
    /// (at most 60 s) until it releases it.
    pub fn enter(&self, stage: &str) {
        if let Ok(mut v) = self.0.log.lock() {
            v.push((stage.to_string(), Instant::now()));
        }
        if let Ok(h) = self.0.hold.lock() {
            let _ = self
                .0
                .released
                .wait_timeout_while(h, Duration::from_secs(60), |h| h.as_deref() == Some(stage));
        }
    }

    /// Hold the client when it enters `stage`.
    pub fn hold(&self, stage: &str) {
        if let Ok(mut h) = self.0.hold.lock() {
            *h = Some(stage.to_string());
        }
    }

    /// Let a held client go on.
    pub fn release(&self) {
        if let Ok(mut h) = self.0.hold.lock() {
            *h = None;
        }
        self.0.released.notify_all();
    }

    /// The current stage (`""` before the first).
    pub fn current(&self) -> String {
        self.0
            .log
            .lock()
            .ok()
            .and_then(|v| v.last().map(|s| s.0.clone()))
            .unwrap_or_default()
    }

    /// Every stage entered so far.
    pub fn history(&self) -> Vec<(String, Instant)> {
        self.0.log.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// One finished step.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub stage: String,
    pub what: String,
    pub bytes: u64,
    pub ms: f64,
    /// Re-sends the step needed (DHCP datagrams beyond the two of a clean DORA, TFTP
    /// packets re-sent after a timeout, NFS reconnects).
    pub retries: u32,
    /// BLAKE3 of the bytes the step read (empty for steps that read no file).
    pub digest: String,
}

/// The result of one simulated boot.
#[derive(Debug, Clone, Serialize)]
pub struct BootReport {
    pub mac: String,
    pub ip: Option<Ipv4Addr>,
    pub steps: Vec<Step>,
    pub total_ms: f64,
}

impl BootReport {
    /// A table of the steps.
    pub fn render(&self) -> String {
        let mut o = format!(
            "simulated boot of {} -> {}\n",
            self.mac,
            self.ip.map_or("?".into(), |i| i.to_string())
        );
        for s in &self.steps {
            o += &format!(
                "  {:>9.1} ms  {:<10} {:<44} {:>10} B{}\n",
                s.ms,
                s.stage,
                s.what,
                s.bytes,
                if s.retries > 0 {
                    format!("  ({} re-sends)", s.retries)
                } else {
                    String::new()
                }
            );
        }
        o += &format!("  total {:.1} ms\n", self.total_ms);
        o
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Fetch a boot-file reference: a TFTP path on `server`, or a `tftp://` / `http://` URL.
fn get(
    server: Ipv4Addr,
    tftp_port: u16,
    reference: &str,
    o: &TftpOptions,
) -> anyhow::Result<(Vec<u8>, u32)> {
    if reference.starts_with("http://") {
        let resp = ureq::get(reference)
            .timeout(Duration::from_secs(30))
            .call()
            .with_context(|| format!("HTTP GET {reference}"))?;
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut resp.into_reader(), &mut body)?;
        return Ok((body, 0));
    }
    let (host, path) = match reference.strip_prefix("tftp://") {
        Some(rest) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host: Ipv4Addr = authority
                .split(':')
                .next()
                .unwrap_or_default()
                .parse()
                .with_context(|| format!("TFTP URL host in {reference}"))?;
            let port = authority
                .split_once(':')
                .and_then(|(_, p)| p.parse().ok())
                .unwrap_or(tftp_port);
            (SocketAddr::new(IpAddr::V4(host), port), path.to_string())
        }
        None => (
            SocketAddr::new(IpAddr::V4(server), tftp_port),
            reference.to_string(),
        ),
    };
    let f = tftp::fetch(host, &path, o)?;
    Ok((f.data, f.resent))
}

/// A `chain` target relative to the script that named it: an absolute URL stays, a path
/// starting with `/` keeps the script's scheme and authority.
fn resolve_relative(base: &str, next: &str) -> String {
    if next.contains("://") {
        return next.to_string();
    }
    for scheme in ["http://", "tftp://"] {
        if let Some(rest) = base.strip_prefix(scheme) {
            let authority = rest.split('/').next().unwrap_or_default();
            return format!("{scheme}{authority}/{}", next.trim_start_matches('/'));
        }
    }
    next.to_string()
}

/// Failures the simulator recovers from are printed only when `RAFTBOOT_SIM_VERBOSE` is set.
fn tracing_note(msg: &str) {
    if std::env::var_os("RAFTBOOT_SIM_VERBOSE").is_some() {
        eprintln!("bootsim: {msg}");
    }
}

impl BootSim {
    /// MOUNT the export through the portmapper and read every root file: the mount step
    /// and one step per file.
    fn nfs_root(&self, nfs_server: Ipv4Addr, export: &str) -> anyhow::Result<(Step, Vec<Step>)> {
        let t = Instant::now();
        let pm = SocketAddr::new(IpAddr::V4(nfs_server), self.portmap_port);
        let mut pmc = NfsClient::connect(pm, self.nfs_timeout).context("portmapper")?;
        let mount_port = pmc.getport(MOUNT_PROG, 3).context("GETPORT mount")?;
        let nfs_port = pmc.getport(NFS_PROG, 3).context("GETPORT nfs")?;
        drop(pmc);
        let mut mc = NfsClient::connect(
            SocketAddr::new(IpAddr::V4(nfs_server), mount_port),
            self.nfs_timeout,
        )
        .context("MOUNT")?;
        let root = mc.mnt(export).with_context(|| format!("MNT {export}"))?;
        drop(mc);
        let mount = Step {
            stage: "nfs-mount".into(),
            what: format!("{nfs_server}:{export}"),
            bytes: 0,
            ms: ms(t.elapsed()),
            retries: 0,
            digest: String::new(),
        };
        let mut nc = NfsClient::connect(
            SocketAddr::new(IpAddr::V4(nfs_server), nfs_port),
            self.nfs_timeout,
        )
        .context("NFS")?;
        let mut reads = Vec::new();
        for f in &self.nfs_files {
            let t = Instant::now();
            let fh = nc.walk(&root, f).with_context(|| format!("LOOKUP {f}"))?;
            let data = nc
                .read_all(&fh, 65536)
                .with_context(|| format!("READ {f}"))?;
            reads.push(Step {
                stage: "nfs-read".into(),
                what: format!("/{}", f.trim_start_matches('/')),
                bytes: data.len() as u64,
                ms: ms(t.elapsed()),
                retries: 0,
                digest: blake3::hash(&data).to_hex().to_string(),
            });
        }
        Ok((mount, reads))
    }

    /// A BIOS PXE client with the default timings.
    pub fn new(mac: Mac, dhcp_servers: Vec<SocketAddr>, dhcp_bind: SocketAddr) -> BootSim {
        BootSim {
            mac,
            dhcp_servers,
            dhcp_bind,
            tftp_port: 69,
            portmap_port: 111,
            ipxe: false,
            nfs_files: vec!["init".into()],
            dhcp_backoff: Backoff::default(),
            tftp: TftpOptions::default(),
            nfs_timeout: Duration::from_secs(5),
            nfs_reconnects: 0,
            stage: None,
        }
    }

    fn enter(&self, stage: &str) {
        if let Some(log) = &self.stage {
            log.enter(stage);
        }
    }

    /// Boot once, up to reading the NFS root files, with DHCP on its own socket.
    pub fn run(&self) -> anyhow::Result<BootReport> {
        self.run_with(|| {
            let sock = UdpSocket::bind(self.dhcp_bind).context("binding the DHCP client socket")?;
            sock.set_broadcast(true)?;
            DhcpClient {
                link: &dhcp::SocketLink {
                    sock: &sock,
                    servers: &self.dhcp_servers,
                },
                mac: self.mac,
                ipxe: self.ipxe,
                backoff: self.dhcp_backoff,
            }
            .dora()
        })
    }

    /// Boot once with the lease `dhcp` obtains (e.g. over a socket shared by many
    /// simulated clients), then the files and the NFS root.
    pub fn run_with(
        &self,
        dhcp: impl FnOnce() -> anyhow::Result<dhcp::Lease>,
    ) -> anyhow::Result<BootReport> {
        let start = Instant::now();
        let mut steps = Vec::new();
        let mut step = |stage: &str,
                        what: &str,
                        data: Option<&[u8]>,
                        bytes: usize,
                        t: Instant,
                        retries: u32| {
            steps.push(Step {
                stage: stage.into(),
                what: what.into(),
                bytes: bytes as u64,
                ms: ms(t.elapsed()),
                retries,
                digest: data
                    .map(|d| blake3::hash(d).to_hex().to_string())
                    .unwrap_or_default(),
            });
        };

        let t = Instant::now();
        self.enter("dhcp");
        let lease = dhcp().context("DHCP")?;
        step(
            "dhcp",
            &format!("ack {} boot file {}", lease.ip, lease.boot_file),
            None,
            0,
            t,
            lease.sent.saturating_sub(2),
        );
        let server = lease.next_server;
        if server.is_unspecified() || lease.boot_file.is_empty() {
            bail!("the ACK named no next-server or boot file: {lease:?}");
        }

        let plan: BootPlan = if self.ipxe {
            let mut name = lease.boot_file.clone();
            let mut chains = 0;
            loop {
                let t = Instant::now();
                self.enter("config");
                let (script, r) =
                    get(server, self.tftp_port, &name, &self.tftp).context("iPXE script")?;
                step("config", &name, Some(&script), script.len(), t, r);
                let text = String::from_utf8_lossy(&script);
                let p = plan::from_ipxe(&text);
                match plan::ipxe_chain(&text, &self.mac.to_string()) {
                    Some(next) if p.kernel.is_none() && chains < 3 => {
                        chains += 1;
                        name = resolve_relative(&name, &next);
                    }
                    _ => break p,
                }
            }
        } else {
            let t = Instant::now();
            self.enter("loader");
            let (loader, r) =
                get(server, self.tftp_port, &lease.boot_file, &self.tftp).context("loader")?;
            step(
                "loader",
                &lease.boot_file,
                Some(&loader),
                loader.len(),
                t,
                r,
            );
            let t = Instant::now();
            let (ld, r) =
                get(server, self.tftp_port, "ldlinux.c32", &self.tftp).context("ldlinux.c32")?;
            step("loader", "ldlinux.c32", Some(&ld), ld.len(), t, r);
            let t = Instant::now();
            self.enter("config");
            let mut found = None;
            let mut misses = Vec::new();
            for name in plan::pxelinux_names(&self.mac.to_string(), lease.ip) {
                match get(server, self.tftp_port, &name, &self.tftp) {
                    Ok(got) => {
                        found = Some((name, got));
                        break;
                    }
                    Err(e) => misses.push(format!("{name}: {e:#}")),
                }
            }
            let Some((name, (cfg, r))) = found else {
                bail!("no pxelinux config: {}", misses.join("; "));
            };
            step("config", &name, Some(&cfg), cfg.len(), t, r);
            plan::from_pxelinux(&String::from_utf8_lossy(&cfg))
        };

        for (stage, file) in [("kernel", &plan.kernel), ("initrd", &plan.initrd)] {
            let Some(file) = file else {
                bail!("the boot config names no {stage}");
            };
            let t = Instant::now();
            self.enter(stage);
            let (data, r) = get(server, self.tftp_port, file, &self.tftp)
                .with_context(|| format!("{stage} {file}"))?;
            if data.is_empty() {
                bail!("{stage} {file} is empty");
            }
            step(stage, file, Some(&data), data.len(), t, r);
        }

        let Some((nfs_server, export)) = &plan.nfs_root else {
            bail!("the boot config names no nfsroot");
        };
        self.enter("nfs");
        let mut reconnects = 0;
        let (mount_step, reads) = loop {
            match self.nfs_root(*nfs_server, export) {
                Ok(r) => break r,
                Err(e) if reconnects < self.nfs_reconnects => {
                    reconnects += 1;
                    tracing_note(&format!("NFS: {e:#}; reconnecting ({reconnects})"));
                    // The client's retransmit backoff (0.5 s, doubling), as the kernel's
                    // NFS client waits before it reconnects.
                    std::thread::sleep(Duration::from_millis(500 << reconnects.min(4)));
                }
                Err(e) => return Err(e),
            }
        };
        steps.push(Step {
            retries: reconnects,
            ..mount_step
        });
        steps.extend(reads);
        self.enter("done");
        Ok(BootReport {
            mac: self.mac.to_string(),
            ip: Some(lease.ip),
            steps,
            total_ms: ms(start.elapsed()),
        })
    }
}
