//! Boot storms: many simulated PXE clients ([`crate::bootsim::BootSim`]) booting at once
//! from one client namespace, each doing the whole chain (DHCP with retransmit backoff,
//! TFTP of loader, config, kernel and initrd with re-sends, MOUNT and NFS reads) and, like
//! firmware that resets after a failed boot, starting over (a new DHCP transaction) after
//! a failed attempt, until it succeeds or its budget is spent. DHCP travels through one
//! shared socket on port 68 ([`DhcpHub`]). Each client records when it started and
//! finished, the stage it is in, every lease it was ACKed and the digest of every byte it
//! read; [`StormImage`] says what those digests must be.

pub mod dhcp_hub;
pub mod image;

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bootsim::dhcp::{Backoff, DhcpClient};
use crate::bootsim::tftp::TftpOptions;
use crate::bootsim::{BootSim, StageLog, Step};
pub use dhcp_hub::DhcpHub;
pub use image::StormImage;
use raftboot_raft::Mac;

/// How a storm runs.
#[derive(Debug, Clone)]
pub struct StormSpec {
    pub clients: usize,
    /// MACs are `52:54:<mac_tag>:00:hi:lo` so storms of one run never share a MAC.
    pub mac_tag: u8,
    /// Clients start spread evenly over this window (0: all at once).
    pub spread: Duration,
    /// A client that has not finished this long after it started has failed (invariant 3).
    pub budget: Duration,
    /// Whole-boot attempts (firmware resets) before a client gives up.
    pub attempts: u32,
    pub nfs_files: Vec<String>,
    /// Where DHCP requests go: the LAN's broadcast address, port 67 (the client namespace
    /// has no default route, so the limited broadcast 255.255.255.255 is unreachable).
    pub dhcp_to: std::net::SocketAddr,
    /// Hold every client at the entry of this stage until the driver releases it
    /// ([`StageLog::release`] via [`Storm::log`]).
    pub hold_at: Option<String>,
}

impl Default for StormSpec {
    fn default() -> Self {
        StormSpec {
            clients: 200,
            mac_tag: 1,
            spread: Duration::from_secs(2),
            budget: Duration::from_secs(180),
            attempts: 10,
            nfs_files: image::NFS_FILES.iter().map(|s| s.to_string()).collect(),
            dhcp_to: ([255, 255, 255, 255], 67).into(),
            hold_at: None,
        }
    }
}

/// A lease a client was ACKed.
#[derive(Debug, Clone, Serialize)]
pub struct AckedLease {
    pub mac: String,
    pub ip: Ipv4Addr,
    /// Milliseconds since the storm's epoch.
    pub at_ms: u64,
}

/// One client's whole story.
#[derive(Debug, Clone, Serialize)]
pub struct ClientRecord {
    pub mac: String,
    pub start_ms: u64,
    /// When its last attempt succeeded (`None`: it never completed).
    pub finish_ms: Option<u64>,
    pub attempts: u32,
    /// The stage it was in when it finished or gave up.
    pub stage: String,
    /// Each stage's first entry (ms since the epoch), in order, over all attempts.
    pub stage_times: Vec<(String, u64)>,
    pub acks: Vec<AckedLease>,
    /// The steps of the successful attempt (with digests).
    pub steps: Vec<Step>,
    /// Errors of failed attempts.
    pub errors: Vec<String>,
}

impl ClientRecord {
    pub fn total_ms(&self) -> Option<u64> {
        self.finish_ms.map(|f| f.saturating_sub(self.start_ms))
    }
}

/// A running storm.
pub struct Storm {
    pub epoch: Instant,
    stages: Vec<(String, StageLog)>,
    acks: Arc<Mutex<Vec<AckedLease>>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<Vec<ClientRecord>>>>,
}

fn since(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

/// The MAC of client `i` of a storm tagged `tag`.
pub fn client_mac(tag: u8, i: usize) -> Mac {
    Mac([0x52, 0x54, tag, 0, (i >> 8) as u8, i as u8])
}

impl Storm {
    /// Start `spec.clients` clients inside network namespace `ns` (the client host of a
    /// [`crate::lan::Lan`]). `epoch` is the clock the records and the fault log share.
    pub fn start(ns: &str, spec: StormSpec, epoch: Instant) -> anyhow::Result<Storm> {
        let stages: Vec<(String, StageLog)> = (0..spec.clients)
            .map(|i| {
                let log = StageLog::default();
                log.enter("waiting");
                if let Some(h) = &spec.hold_at {
                    log.hold(h);
                }
                (client_mac(spec.mac_tag, i).to_string(), log)
            })
            .collect();
        let cells = stages.clone();
        let acks: Arc<Mutex<Vec<AckedLease>>> = Arc::default();
        let all_acks = acks.clone();
        let path = format!("/run/netns/{ns}");
        let file = std::fs::File::open(&path)?;
        let thread = std::thread::spawn(move || -> anyhow::Result<Vec<ClientRecord>> {
            use std::os::fd::AsFd;
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
            // Threads spawned from here inherit the client namespace.
            let hub = Arc::new(DhcpHub::bind("0.0.0.0:68".parse()?, spec.dhcp_to)?);
            let n = cells.len().max(1) as u32;
            let mut handles = Vec::new();
            for (i, (mac, cell)) in cells.into_iter().enumerate() {
                let hub = hub.clone();
                let spec = spec.clone();
                let all_acks = all_acks.clone();
                let delay = spec.spread * i as u32 / n;
                handles.push(std::thread::spawn(move || {
                    // A staggered power-on, not a wait for a condition.
                    std::thread::sleep(delay);
                    run_client(&hub, &spec, i, mac, cell, epoch, &all_acks)
                }));
            }
            let mut out = Vec::new();
            for h in handles {
                out.push(
                    h.join()
                        .map_err(|_| anyhow::anyhow!("a storm client panicked"))?,
                );
            }
            Ok(out)
        });
        Ok(Storm {
            epoch,
            stages,
            acks,
            thread: Some(thread),
        })
    }

    /// Each client's current stage.
    pub fn stages(&self) -> Vec<(String, String)> {
        self.stages
            .iter()
            .map(|(m, c)| (m.clone(), c.current()))
            .collect()
    }

    /// The stage log of client `i` (to hold it at a stage).
    pub fn log(&self, i: usize) -> Option<&StageLog> {
        self.stages.get(i).map(|(_, l)| l)
    }

    /// Every client's MAC, current stage and start (ms since the epoch; the entry into
    /// `dhcp`, or now for clients not started yet).
    pub fn progress(&self) -> Vec<(String, String, u64)> {
        let now = since(self.epoch);
        self.stages
            .iter()
            .map(|(m, l)| {
                let h = l.history();
                let start = h
                    .iter()
                    .find(|(s, _)| s == "dhcp")
                    .map(|(_, t)| t.saturating_duration_since(self.epoch).as_millis() as u64)
                    .unwrap_or(now);
                (m.clone(), l.current(), start)
            })
            .collect()
    }

    /// Every lease ACKed so far.
    pub fn acks(&self) -> Vec<AckedLease> {
        self.acks.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// How many clients are in `stage` now.
    pub fn count_in(&self, stage: &str) -> usize {
        self.stages().iter().filter(|(_, s)| s == stage).count()
    }

    /// How many clients have finished (booted or given up).
    pub fn finished(&self) -> usize {
        self.stages()
            .iter()
            .filter(|(_, s)| s == "done" || s == "failed")
            .count()
    }

    /// Wait for every client and return the records.
    pub fn wait(mut self) -> anyhow::Result<Vec<ClientRecord>> {
        match self.thread.take() {
            Some(h) => h
                .join()
                .map_err(|_| anyhow::anyhow!("the storm thread panicked"))?,
            None => anyhow::bail!("storm already collected"),
        }
    }
}

fn run_client(
    hub: &DhcpHub,
    spec: &StormSpec,
    i: usize,
    mac_s: String,
    cell: StageLog,
    epoch: Instant,
    all_acks: &Arc<Mutex<Vec<AckedLease>>>,
) -> ClientRecord {
    let mac = client_mac(spec.mac_tag, i);
    let start = Instant::now();
    let mut rec = ClientRecord {
        mac: mac_s,
        start_ms: since(epoch),
        finish_ms: None,
        attempts: 0,
        stage: "dhcp".into(),
        stage_times: vec![],
        acks: vec![],
        steps: vec![],
        errors: vec![],
    };
    let acks = Arc::new(Mutex::new(Vec::<AckedLease>::new()));
    let mut sim = BootSim::new(
        mac,
        vec!["255.255.255.255:67"
            .parse()
            .unwrap_or(([255; 4], 67).into())],
        "0.0.0.0:68".parse().unwrap_or(([0; 4], 68).into()),
    );
    sim.nfs_files = spec.nfs_files.clone();
    // Firmware-like: the first DHCP wait is 1 s and doubles; TFTP re-sends after 1 s.
    sim.dhcp_backoff = Backoff {
        first: Duration::from_secs(1),
        tries: 5,
    };
    sim.tftp = TftpOptions {
        blksize: Some(1408),
        timeout: Duration::from_secs(1),
        retries: 8,
    };
    sim.nfs_timeout = Duration::from_secs(3);
    sim.nfs_reconnects = 5;
    sim.stage = Some(cell.clone());
    while rec.attempts < spec.attempts && start.elapsed() < spec.budget {
        rec.attempts += 1;
        let acks2 = acks.clone();
        let all2 = all_acks.clone();
        let sim2 = sim.clone();
        let result = sim.run_with(|| {
            let xid: u32 = rand::random();
            let port = hub.port(xid);
            let lease = DhcpClient {
                link: &port,
                mac,
                ipxe: sim2.ipxe,
                backoff: sim2.dhcp_backoff,
            }
            .dora_xid(xid)?;
            let acked = AckedLease {
                mac: mac.to_string(),
                ip: lease.ip,
                at_ms: since(epoch),
            };
            if let Ok(mut a) = all2.lock() {
                a.push(acked.clone());
            }
            if let Ok(mut a) = acks2.lock() {
                a.push(acked);
            }
            Ok(lease)
        });
        match result {
            Ok(report) => {
                rec.finish_ms = Some(since(epoch));
                rec.steps = report.steps;
                rec.stage = "done".into();
                break;
            }
            Err(e) => {
                let stage = cell.current();
                rec.errors
                    .push(format!("attempt {} at {stage}: {e:#}", rec.attempts));
                rec.stage = stage;
                // Firmware that failed to boot resets and starts over; a reset takes a
                // second or more (randomized here so a burst of clients does not retry in
                // lock-step, as RFC 2131 4.1 asks of DHCP clients).
                std::thread::sleep(Duration::from_millis(rand::random::<u64>() % 2000 + 1000));
            }
        }
    }
    if rec.finish_ms.is_none() {
        cell.enter("failed");
    }
    rec.stage_times = cell
        .history()
        .into_iter()
        .map(|(s, t)| (s, t.saturating_duration_since(epoch).as_millis() as u64))
        .collect();
    rec.acks = acks.lock().map(|a| a.clone()).unwrap_or_default();
    rec
}
