//! Chaos scenarios. A [`Rig`] is a three-node cluster of real `bootd` processes on a LAN of
//! namespaces, set up to network-boot simulated clients (DHCP pool, the boot loaders and
//! the synthetic [`StormImage`] active in group `default`), with an ARP sampler on the VIP
//! and a [`FaultLog`]. Scenarios ([`named`]) and seeded random schedules ([`random`])
//! inject faults while boot storms run, call [`Rig::checkpoint`] after every fault step and
//! [`Rig::finish`] after healing, and return a [`Report`].

pub mod named;
pub mod random;
pub mod report;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use raftboot_raft::state::Pool;

use crate::arp::ArpSampler;
use crate::cluster::{Cluster, Spec};
use crate::faults::FaultLog;
use crate::invariants::leases::LeaseHistory;
use crate::invariants::{boots, bytes, convergence, leases, vip, Checkpoint, Verdict};
use crate::lan::Lan;
use crate::storm::{AckedLease, ClientRecord, Storm, StormImage, StormSpec};
use crate::wait;
pub use report::Report;

/// Bounded waits of the harness (leader, images, convergence).
pub const T: Duration = Duration::from_secs(90);
/// The boot budget of invariant 3: firmware retries and resets included, a boot started
/// before or during a fault must finish within this.
pub const BOOT_BUDGET: Duration = Duration::from_secs(150);
/// Distinct MAC tags a run uses before it reuses them: 80 storms of at most 40 random-run
/// clients (3200 MACs) fit the storm pool (4064 addresses) with room for the named
/// scenarios' larger storms, which use few tags.
pub const MAC_TAGS: u8 = 80;

/// The export the storm image is served under.
pub const EXPORT: &str = "/images/storm";

/// A cluster ready for chaos.
pub struct Rig {
    pub cluster: Cluster,
    pub lan: Arc<Lan>,
    pub client_ns: String,
    pub image: StormImage,
    pub faults: FaultLog,
    pub epoch: Instant,
    pub sampler: ArpSampler,
    pub history: LeaseHistory,
    pub checkpoints: Vec<Checkpoint>,
    /// Nodes that cannot serve blobs now (a full disk): left out of the handle check.
    pub not_serving: Vec<u64>,
    /// Running nodes cut off or frozen now: left out of leader waits, table reads and the
    /// handle check until they are healed.
    pub sidelined: Vec<u64>,
    /// Every client record of the run so far.
    pub records: Vec<ClientRecord>,
    next_tag: u8,
}

impl Rig {
    /// Start the cluster, create the pool, import both images and wait until they are
    /// ready on every boot server and the leader holds the VIP.
    pub fn start(seed: u64) -> anyhow::Result<Rig> {
        anyhow::ensure!(
            Lan::available(),
            "chaos scenarios need root (network namespaces)"
        );
        let image = StormImage::build(seed)?;
        let spec = Spec {
            on_lan: true,
            heartbeat_ms: 100,
            election_min_ms: 1000,
            election_max_ms: 2000,
            dhcp_toml: Some(
                "unknown_clients = \"pool\"\npool = \"storm\"\nlease_secs = 86400\n".into(),
            ),
            ..Spec::default()
        };
        let cluster = Cluster::start(&spec)?;
        let (lan, client_ns) = cluster.lan.clone().context("a LAN cluster")?;
        let epoch = Instant::now();
        let sampler = ArpSampler::start(&lan, &client_ns, lan.ip(100), lan.ip(10))?;
        let rig = Rig {
            cluster,
            lan,
            client_ns,
            image,
            faults: FaultLog::new(epoch),
            epoch,
            sampler,
            history: LeaseHistory::default(),
            checkpoints: vec![],
            not_serving: vec![],
            sidelined: vec![],
            records: vec![],
            next_tag: 1,
        };
        rig.cluster.wait_leader(T)?;
        // The pool lies outside the LAN's /24 (the simulated clients never configure the
        // addresses; a storm needs more than a /24 holds): 10.x.(y&0xf0)+0..15 of another
        // second octet.
        let n = rig.lan.net;
        let base = [10, n[1].wrapping_add(56), n[2] & 0xf0];
        let pool = Pool {
            name: "storm".into(),
            start: Ipv4Addr::new(base[0], base[1], base[2], 1),
            end: Ipv4Addr::new(base[0], base[1], base[2] | 0x0f, 254),
            prefix: 20,
            router: None,
            dns: vec![],
        };
        let cl = rig.cluster.client_unchecked(rig.cluster.wait_leader(T)?);
        rig.cluster
            .api(move || cl.post::<_, Pool>("/v1/pools", &pool))?
            .map_err(|e| anyhow::anyhow!("creating the pool: {e}"))?;
        let loaders = rig.image.loaders.to_string_lossy().to_string();
        rig.ctl(&[
            "image",
            "import",
            &loaders,
            "--name",
            "bootloaders",
            "--quiet",
        ])?;
        let root = rig.image.root.to_string_lossy().to_string();
        rig.ctl(&[
            "image", "import", &root, "--name", "storm", "--group", "default", "--quiet",
        ])?;
        rig.wait_images_ready(3)?;
        rig.vip_holder()?;
        Ok(rig)
    }

    /// Run bootctl; its stdout, or an error with its stderr.
    pub fn ctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.cluster.bootctl(args)?;
        anyhow::ensure!(
            out.status.success(),
            "bootctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// Wait until every registered image is ready on `n` boot servers.
    pub fn wait_images_ready(&self, n: u64) -> anyhow::Result<()> {
        wait::until(&format!("every image ready on {n} boot servers"), T, || {
            let out = self
                .ctl(&["image", "list", "--json"])
                .map_err(|e| e.to_string())?;
            let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| e.to_string())?;
            let all = v.as_array().ok_or("not a list")?;
            if !all.is_empty() && all.iter().all(|i| i["ready"].as_u64() >= Some(n)) {
                Ok(())
            } else {
                Err(v.to_string())
            }
        })
    }

    /// The running nodes that are not sidelined.
    pub fn active(&self) -> Vec<u64> {
        self.cluster
            .running()
            .into_iter()
            .filter(|i| !self.sidelined.contains(i))
            .collect()
    }

    /// Wait until the active nodes agree on a leader among them; return it.
    pub fn leader(&self) -> anyhow::Result<u64> {
        let c = &self.cluster;
        let active = self.active();
        wait::until("a leader the active nodes agree on", T, || {
            let mut leaders = Vec::new();
            for id in &active {
                leaders.push(c.status(*id).map_err(|e| e.to_string())?.leader);
            }
            match leaders.first() {
                Some(Some(l)) if leaders.iter().all(|x| *x == Some(*l)) && active.contains(l) => {
                    Ok(*l)
                }
                _ => Err(format!("leaders seen by {active:?}: {leaders:?}")),
            }
        })
    }

    /// Wait until the leader holds the VIP; returns it.
    pub fn vip_holder(&self) -> anyhow::Result<u64> {
        let c = &self.cluster;
        wait::until("a leader holding the VIP", T, || {
            let l = self.leader().map_err(|e| e.to_string())?;
            let s = c.status(l).map_err(|e| e.to_string())?;
            if s.vip_holder == Some(l) {
                Ok(l)
            } else {
                Err(format!("leader {l}, VIP holder {:?}", s.vip_holder))
            }
        })
    }

    /// Wait for a leader other than `old` among the running nodes that can reach each other.
    pub fn wait_new_leader(&self, old: u64, among: &[u64]) -> anyhow::Result<u64> {
        let c = &self.cluster;
        wait::until(&format!("a leader other than node {old}"), T, || {
            for id in among {
                if let Ok(s) = c.status(*id) {
                    if let Some(l) = s.leader {
                        if l != old && among.contains(&l) {
                            return Ok(l);
                        }
                    }
                }
            }
            Err("none yet".into())
        })
    }

    /// A storm spec with fresh MACs (a tag not used before in this run). Tags wrap after
    /// [`MAC_TAGS`] storms, so a long random run reuses MACs and their leases instead of
    /// exhausting the pool: a 30-minute run once ran out of addresses at its 133rd storm
    /// (4064 addresses, day-long leases, a fresh set of 20-40 MACs per storm).
    pub fn storm_spec(&mut self, clients: usize) -> StormSpec {
        let tag = self.next_tag;
        self.next_tag = if self.next_tag >= MAC_TAGS {
            1
        } else {
            self.next_tag + 1
        };
        StormSpec {
            clients,
            mac_tag: tag,
            budget: BOOT_BUDGET,
            dhcp_to: (self.lan.ip(255), 67).into(),
            ..StormSpec::default()
        }
    }

    /// Start a storm from the client namespace.
    pub fn storm(&mut self, spec: StormSpec) -> anyhow::Result<Storm> {
        Storm::start(&self.client_ns, spec, self.epoch)
    }

    /// Wait (bounded) until `pred(progress)` holds for the storm: e.g. a quarter of the
    /// clients are past DHCP.
    pub fn wait_storm(
        &self,
        storm: &Storm,
        what: &str,
        pred: impl Fn(&[(String, String, u64)]) -> bool,
    ) -> anyhow::Result<()> {
        wait::until(what, T, || {
            let p = storm.progress();
            if pred(&p) {
                Ok(())
            } else {
                let mut by: BTreeMap<String, usize> = BTreeMap::new();
                for (_, s, _) in &p {
                    *by.entry(s.clone()).or_default() += 1;
                }
                Err(format!("{by:?}"))
            }
        })
    }

    /// Read every running replica's lease table into the history; the tables.
    fn read_tables(&mut self) -> Vec<(u64, raftboot_raft::State)> {
        let mut out = Vec::new();
        for id in self.active() {
            let cl = self.cluster.client_unchecked(id);
            if let Ok(Ok(st)) = self
                .cluster
                .api(move || cl.get::<raftboot_raft::State>("/v1/state"))
            {
                self.history.add_table(&st);
                out.push((id, st));
            }
        }
        out
    }

    /// Invariant 2 mid-run: every lease ACKed so far shows up in the leader's table within
    /// a bounded wait (the new leader may still be applying), and the history has no
    /// double holder.
    fn check_leases_live(&mut self, acks: &[AckedLease]) -> Verdict {
        let r = (|| -> anyhow::Result<Verdict> {
            let leader = self.leader()?;
            let lan = self.lan.clone();
            let ns = self.client_ns.clone();
            let want: Vec<AckedLease> = acks.to_vec();
            let got = wait::until("every ACKed lease in the leader's table", T, || {
                let cl = self.cluster.client_unchecked(leader);
                let st = lan
                    .in_ns(&ns, move || cl.get::<raftboot_raft::State>("/v1/state"))
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                let missing = want
                    .iter()
                    .filter(|a| {
                        st.leases.get(&a.ip).map(|l| l.mac.to_string()) != Some(a.mac.clone())
                    })
                    .count();
                if missing == 0 {
                    Ok(st)
                } else {
                    Err(format!(
                        "{missing} ACKed leases not in node {leader}'s table"
                    ))
                }
            });
            let tables = self.read_tables();
            Ok(match got {
                Ok(st) => self.history.check(acks, &[(leader, st)]),
                Err(e) => {
                    let v = self.history.check(acks, &tables);
                    Verdict::fail(leases::NAME, format!("{e:#}; {}", v.detail))
                }
            })
        })();
        Verdict::from_result(leases::NAME, r)
    }

    fn handle_check(&self) -> Verdict {
        let want = self
            .image
            .digests
            .get("/usr/share/chaos/data0")
            .cloned()
            .unwrap_or_default();
        let serving: Vec<u64> = self
            .active()
            .into_iter()
            .filter(|i| !self.not_serving.contains(i))
            .collect();
        if serving.is_empty() {
            return Verdict::fail(bytes::NAME, "no node serves");
        }
        bytes::check_handles(
            &self.cluster,
            &serving,
            EXPORT,
            "usr/share/chaos/data0",
            &want,
        )
    }

    /// Invariants 1-4 after a fault step (while a storm may run).
    pub fn checkpoint(&mut self, after: &str, storm: Option<&Storm>) {
        let now = self.faults.now_ms();
        let mut verdicts = vec![vip::check(&self.sampler)];
        let acks = storm.map(|s| s.acks()).unwrap_or_default();
        let mut all_acks: Vec<AckedLease> =
            self.records.iter().flat_map(|r| r.acks.clone()).collect();
        all_acks.extend(acks);
        verdicts.push(self.check_leases_live(&all_acks));
        if let Some(s) = storm {
            verdicts.push(boots::check_running(&s.progress(), now, BOOT_BUDGET));
        }
        verdicts.push(self.handle_check());
        self.push_checkpoint(after, now, verdicts);
    }

    fn push_checkpoint(&mut self, after: &str, at_ms: u64, verdicts: Vec<Verdict>) {
        let cp = Checkpoint {
            after: after.to_string(),
            at_ms,
            verdicts,
        };
        for v in &cp.verdicts {
            if !v.ok {
                eprintln!(
                    "chaos: VIOLATION {} after {after}: {}",
                    v.invariant, v.detail
                );
            }
        }
        self.checkpoints.push(cp);
    }

    /// Collect a finished storm: invariants 3 and 4 on its records.
    pub fn collect(&mut self, storm: Storm, after: &str) -> anyhow::Result<()> {
        let records = storm.wait()?;
        let now = self.faults.now_ms();
        let verdicts = vec![
            boots::check_final(&records, BOOT_BUDGET),
            bytes::check_steps(&records, &self.image),
        ];
        self.records.extend(records);
        self.push_checkpoint(after, now, verdicts);
        Ok(())
    }

    /// After healing: all five invariants over the whole run; the report.
    pub fn finish(mut self, scenario: &str, seed: Option<u64>) -> Report {
        let now = self.faults.now_ms();
        let mut verdicts = vec![convergence::check(&self.cluster, &[], T)];
        verdicts.push(vip::check(&self.sampler));
        let acks: Vec<AckedLease> = self.records.iter().flat_map(|r| r.acks.clone()).collect();
        let tables = self.read_tables();
        verdicts.push(self.history.check(&acks, &tables));
        verdicts.push(boots::check_final(&self.records, BOOT_BUDGET));
        verdicts.push(bytes::check_steps(&self.records, &self.image));
        verdicts.push(self.handle_check());
        self.push_checkpoint("healing (final)", now, verdicts);
        let _ = self.sampler.stop();
        let faults = self.faults.events();
        let ok = self.checkpoints.iter().all(|c| c.ok());
        Report {
            scenario: scenario.to_string(),
            seed,
            wall_ms: self.epoch.elapsed().as_millis() as u64,
            boots: report::summarize(&self.records),
            fault_costs: report::fault_costs(&self.records, &faults),
            faults,
            checkpoints: self.checkpoints,
            clients: self.records,
            ok,
        }
    }
}
