//! The web-tier scenario (issue 7): the seed's diskless web tier booting from a three-node
//! raftboot cluster, with boot servers killed under it.
//!
//! Two QEMU web nodes (BIOS, the stock iPXE ROM, TCG) network-boot from the cluster of a
//! [`BootRig`]: `web-a` through iPXE -> `pxelinux.ipxe` -> pxelinux (the seed's loader),
//! `web-b` through iPXE's own script (`boot.ipxe` -> its per-MAC script); both get Debian's
//! kernel and an initramfs-tools initrd that mounts the root read-only over NFSv3 from the
//! VIP, and run the web init of [`WebSite`]: the site copied to tmpfs, busybox httpd
//! serving it, and a probe file read from the NFS root every second (`O_DIRECT`) and shown
//! in the page. A [`WebPoller`] in the client namespace polls each node's page every
//! [`WebTierOptions::poll_every`] and records every poll.
//!
//! Steps, once both nodes serve:
//! 1. SIGKILL the leader (it holds the VIP); wait for a new VIP holder and for each web
//!    node's next NFS round;
//! 2. restart it and wait until it serves both images again;
//! 3. SIGKILL another boot server (the VIP holder again, unless the restarted node took
//!    the lead back) and at the same moment cut the power of one web node
//!    ([`WebTierOptions::reboot`]) and start it again (same MAC: a hard reboot); wait for
//!    a VIP holder, the other node's next NFS round, and the rebooted node serving again
//!    (its new boot id in a page) within [`WebTierOptions::boot_budget`];
//! 4. restart the killed server, wait until it caught up, stop the pollers.
//!
//! Violations: any failed poll of a running web node (every poll except those of the
//! rebooted node between its power cut and its first page of the new boot), a page with a
//! wrong site token, probe checksum, or a changed boot id on a node that was not rebooted,
//! a console NFS round with a wrong checksum, a kernel "not responding"/panic message, a
//! root that is not the VIP's NFS export, and a rebooted node not serving within the
//! budget. Waits on the cluster are bounded; timings are reported, never asserted beyond
//! the stated boot budget.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::boot_rig::{BootRig, GROUP};
use crate::guest::GuestFiles;
use crate::qemu::QemuBoot;
use crate::wait;
use crate::web_guest::{nfs_rounds, WebSite};
use crate::web_poller::{fetch, Poll, Target, WebPoller};

/// Knobs of one run.
#[derive(Debug, Clone)]
pub struct WebTierOptions {
    /// How long a web node may take from power-on to serving its page (first boot and the
    /// reboot during the outage).
    pub boot_budget: Duration,
    /// Time between two polls of one node.
    pub poll_every: Duration,
    /// A poll that has no complete answer after this long failed.
    pub poll_timeout: Duration,
    /// Which web node (index into [`NODES`]) is rebooted while a boot server is down.
    pub reboot: usize,
}

impl Default for WebTierOptions {
    fn default() -> Self {
        Self {
            boot_budget: Duration::from_secs(180),
            poll_every: Duration::from_millis(100),
            poll_timeout: Duration::from_secs(3),
            reboot: 0,
        }
    }
}

/// A web node's fixed facts.
#[derive(Debug, Clone, Copy)]
pub struct WebNode {
    pub name: &'static str,
    pub mac: &'static str,
    /// Its QEMU tap's tag.
    pub tag: &'static str,
    /// Its fixed address .`last`.
    pub last: u8,
    /// Host boot-file override (`None`: iPXE's default, `boot.ipxe`).
    pub boot_file: Option<&'static str>,
    /// The boot chain, for the report.
    pub chain: &'static str,
}

/// The two web nodes.
pub const NODES: [WebNode; 2] = [
    WebNode {
        name: "web-a",
        mac: "52:54:00:77:00:01",
        tag: "wa",
        last: 171,
        boot_file: Some("pxelinux.ipxe"),
        chain: "iPXE ROM -> pxelinux.0 (TFTP)",
    },
    WebNode {
        name: "web-b",
        mac: "52:54:00:77:00:02",
        tag: "wb",
        last: 172,
        boot_file: None,
        chain: "iPXE ROM -> iPXE script (TFTP)",
    },
];

/// Budget of waits on the cluster (a VIP holder, catching up, the next NFS round).
const T: Duration = Duration::from_secs(90);
/// Polls of every serving node to see between steps (about 2 s at 100 ms).
const POLLS_BETWEEN_STEPS: usize = 20;

/// Something that happened, at a time since the run started.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: Duration,
    pub what: String,
}

/// One web node's figures.
#[derive(Debug, Clone, Default)]
pub struct NodeFigures {
    pub name: String,
    pub addr: String,
    pub chain: String,
    pub polls: usize,
    pub ok: usize,
    /// Failed polls while the node was being rebooted (expected, not violations).
    pub failed_rebooting: usize,
    /// Failed polls of the running node (each one is a violation).
    pub failed: usize,
    /// Slowest successful poll.
    pub max_latency: Duration,
    /// Longest time between two successful polls outside its reboot.
    pub max_ok_gap: Duration,
    /// Longest time between two NFS rounds, as its pages showed them (outside its reboot).
    pub max_nfs_gap: Duration,
    /// NFS rounds its consoles printed (all boots).
    pub nfs_rounds: usize,
    /// Power-on -> `RAFTBOOT-WEB-UP` on the console (httpd started), per boot.
    pub boots: Vec<Duration>,
}

/// The reboot during the outage.
#[derive(Debug, Clone, Default)]
pub struct RebootFigures {
    pub node: String,
    /// The boot server that was down meanwhile.
    pub server_down: u64,
    pub budget: Duration,
    /// Power cut -> the first page of the new boot.
    pub serving_after: Option<Duration>,
    /// Power-on -> `RAFTBOOT-WEB-UP` on the console.
    pub up_after: Option<Duration>,
}

/// What a run did and found.
#[derive(Debug, Clone, Default)]
pub struct WebTierReport {
    /// The LAN's namespace prefix (unique per run).
    pub lan: String,
    pub vip: String,
    pub events: Vec<Event>,
    pub nodes: Vec<NodeFigures>,
    pub reboot: RebootFigures,
    /// (a fault or the healing, web node, that moment -> the node's next NFS round on its
    /// console).
    pub nfs_resumed: Vec<(String, String, Duration)>,
    pub violations: Vec<String>,
    pub polls: Vec<(String, Poll)>,
    pub wall: Duration,
}

impl WebTierReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// Every poll as CSV: `start_ms,node,ok,latency_ms,detail` (times since the run
    /// started; detail: boot id prefix and NFS round, or the error).
    pub fn polls_csv(&self) -> String {
        let mut s = String::from("start_ms,node,ok,latency_ms,detail\n");
        for (name, p) in &self.polls {
            let detail = match &p.outcome {
                Ok(page) => format!(
                    "boot {} nfs {}",
                    page.boot.get(..8).unwrap_or(&page.boot),
                    page.nfs_round
                ),
                Err(e) => e.replace([',', '\n'], " "),
            };
            s.push_str(&format!(
                "{},{name},{},{},{detail}\n",
                p.at.as_millis(),
                p.ok(),
                p.took.as_millis()
            ));
        }
        s
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl fmt::Display for WebTierReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "web tier: LAN {} (VIP {}), wall {}",
            self.lan,
            self.vip,
            secs(self.wall)
        )?;
        writeln!(f, "events:")?;
        for e in &self.events {
            writeln!(f, "  {:>7}  {}", secs(e.at), e.what)?;
        }
        writeln!(f, "web nodes:")?;
        for n in &self.nodes {
            let boots: Vec<String> = n.boots.iter().map(|d| secs(*d)).collect();
            writeln!(
                f,
                "  {} ({}, {}): {} polls, {} ok, {} failed while running, {} failed while rebooting; slowest ok poll {} ms, longest gap between ok polls {} ms; {} NFS rounds, longest gap between NFS rounds in its pages {}; power-on -> httpd up: {}",
                n.name,
                n.addr,
                n.chain,
                n.polls,
                n.ok,
                n.failed,
                n.failed_rebooting,
                n.max_latency.as_millis(),
                n.max_ok_gap.as_millis(),
                n.nfs_rounds,
                secs(n.max_nfs_gap),
                boots.join(", ")
            )?;
        }
        for (what, node, d) in &self.nfs_resumed {
            writeln!(f, "  {node}: next NFS round {} after {what}", secs(*d))?;
        }
        let r = &self.reboot;
        writeln!(
            f,
            "reboot of {} while node {} was down: serving again {} after the power cut (budget {}), console up {} after power-on",
            r.node,
            r.server_down,
            r.serving_after.map(secs).unwrap_or_else(|| "never".into()),
            secs(r.budget),
            r.up_after.map(secs).unwrap_or_else(|| "never".into()),
        )?;
        if self.violations.is_empty() {
            writeln!(f, "violations: none")
        } else {
            writeln!(f, "violations ({}):", self.violations.len())?;
            for v in self.violations.iter().take(30) {
                writeln!(f, "  {v}")?;
            }
            if self.violations.len() > 30 {
                writeln!(f, "  ... {} more", self.violations.len() - 30)?;
            }
            Ok(())
        }
    }
}

/// A run in progress. Fields drop in this order: the pollers and the guests before the
/// cluster and its LAN.
struct Run {
    poller: Option<WebPoller>,
    guests: Vec<Option<QemuBoot>>,
    rig: BootRig,
    opts: WebTierOptions,
    t0: Instant,
    site: WebSite,
    client_ns: String,
    /// Consoles of guests already powered off (node index, console).
    old_consoles: Vec<(usize, String)>,
    report: WebTierReport,
    /// The rebooted node's window without service: (power cut, first page of the new boot),
    /// in run time.
    down: Option<(Duration, Option<Duration>)>,
}

/// Run the scenario. `Err` when it could not be carried out (the environment, or a step
/// that never completed: its error carries the consoles' tails); violations of what must
/// hold are in [`WebTierReport::violations`].
pub fn run(opts: &WebTierOptions) -> anyhow::Result<WebTierReport> {
    anyhow::ensure!(
        opts.reboot < NODES.len(),
        "reboot: no web node {}",
        opts.reboot
    );
    let t0 = Instant::now();
    let guest = GuestFiles::build()?;
    let site = WebSite::install(&guest.root)?;
    let rig = BootRig::start_with(guest)?;
    let (lan, client_ns) = rig.cluster.lan.clone().context("a LAN cluster")?;
    let mut r = Run {
        opts: opts.clone(),
        t0,
        site,
        client_ns,
        guests: NODES.iter().map(|_| None).collect(),
        old_consoles: Vec::new(),
        poller: None,
        report: WebTierReport {
            lan: lan.prefix.clone(),
            vip: rig.vip.to_string(),
            ..WebTierReport::default()
        },
        rig,
        down: None,
    };
    r.event("cluster of 3 boot servers up, images ready on all".to_string());
    let result = r.scenario();
    if let Err(e) = result {
        let mut tails = String::new();
        for (i, g) in r.guests.iter().enumerate() {
            if let Some(g) = g {
                tails.push_str(&format!(
                    "\n---- {} console (tail) ----\n{}",
                    NODES[i].name,
                    g.console_tail(2500)
                ));
            }
        }
        let events: Vec<String> = r
            .report
            .events
            .iter()
            .map(|e| format!("{} {}", secs(e.at), e.what))
            .collect();
        return Err(e.context(format!("events: {}{tails}", events.join("; "))));
    }
    r.finish()
}

impl Run {
    fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    fn event(&mut self, what: String) {
        let at = self.now();
        self.report.events.push(Event { at, what });
    }

    fn addr(&self, i: usize) -> anyhow::Result<Ipv4Addr> {
        Ok(self
            .rig
            .cluster
            .lan
            .as_ref()
            .context("a LAN cluster")?
            .0
            .ip(NODES[i].last))
    }

    /// The run time of a poll's start.
    fn poll_time(&self, p: &Poll) -> Duration {
        match &self.poller {
            Some(w) => w.started.duration_since(self.t0) + p.at,
            None => p.at,
        }
    }

    fn power_on(&mut self, i: usize) -> anyhow::Result<()> {
        let g = self.rig.boot(NODES[i].tag, NODES[i].mac)?;
        self.guests[i] = Some(g);
        Ok(())
    }

    /// Wait until guests `idx` printed `RAFTBOOT-WEB-UP` (each within the boot budget);
    /// returns power-on -> then, per guest, as seen by one watch of all their consoles
    /// every 100 ms. Fails at once when a guest's QEMU exits.
    fn wait_up(&mut self, idx: &[usize]) -> anyhow::Result<Vec<Duration>> {
        const UP: &str = "RAFTBOOT-WEB-UP ";
        let budget = self.opts.boot_budget;
        let mut got: Vec<Option<Duration>> = vec![None; idx.len()];
        loop {
            for (k, &i) in idx.iter().enumerate() {
                if got[k].is_some() {
                    continue;
                }
                let g = self.guests[i].as_mut().context("guest not running")?;
                if g.console().contains(UP) {
                    got[k] = Some(g.started.elapsed());
                } else if let Some(st) = g.exited() {
                    anyhow::bail!(
                        "{}: QEMU exited ({st}) before {UP:?}; console tail:\n{}",
                        NODES[i].name,
                        g.console_tail(3000)
                    );
                } else if g.started.elapsed() > budget {
                    anyhow::bail!(
                        "{}: no {UP:?} within the boot budget {budget:?}; console tail:\n{}",
                        NODES[i].name,
                        g.console_tail(3000)
                    );
                }
            }
            if got.iter().all(Option::is_some) {
                return Ok(got.into_iter().flatten().collect());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn scenario(&mut self) -> anyhow::Result<()> {
        for (i, n) in NODES.iter().enumerate() {
            let ip = self.addr(i)?.to_string();
            let args = WebSite::kernel_args(n.name);
            let mut cmd = vec![
                "hosts",
                "add",
                n.mac,
                n.name,
                "--ip",
                &ip,
                "--group",
                GROUP,
                "--kernel-args",
                &args,
            ];
            if let Some(f) = n.boot_file {
                cmd.extend(["--boot-file", f]);
            }
            self.rig.ctl(&cmd)?;
        }
        for i in 0..NODES.len() {
            self.power_on(i)?;
        }
        self.event(format!(
            "{} powered on",
            NODES.map(|n| n.name).join(" and ")
        ));
        let all: Vec<usize> = (0..NODES.len()).collect();
        let ups = self.wait_up(&all)?;
        for i in 0..NODES.len() {
            self.serving(i)?;
            self.report.nodes.push(NodeFigures {
                name: NODES[i].name.to_string(),
                addr: self.addr(i)?.to_string(),
                chain: NODES[i].chain.to_string(),
                boots: vec![ups[i]],
                ..NodeFigures::default()
            });
        }
        self.event("both web nodes serve their pages".into());
        let targets = (0..NODES.len())
            .map(|i| {
                Ok(Target {
                    name: NODES[i].name.to_string(),
                    addr: self.addr(i)?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.poller = Some(WebPoller::start(
            &self.client_ns,
            targets,
            self.opts.poll_every,
            self.opts.poll_timeout,
        )?);
        self.event(format!(
            "polling both pages every {} ms (timeout {} ms)",
            self.opts.poll_every.as_millis(),
            self.opts.poll_timeout.as_millis()
        ));
        self.more_polls(&[0, 1])?;

        // 1. Kill the leader (the VIP holder).
        let first = self.rig.vip_holder()?;
        let rounds = self.rounds_now();
        self.rig.cluster.kill(first)?;
        let killed = Instant::now();
        self.event(format!("SIGKILL node {first} (leader, VIP holder)"));
        let holder = self.rig.vip_holder()?;
        self.event(format!(
            "node {holder} holds the VIP ({} after the kill)",
            secs(killed.elapsed())
        ));
        self.nfs_resumed(
            &format!("the kill of node {first}"),
            killed,
            &rounds,
            &[0, 1],
        )?;
        self.more_polls(&[0, 1])?;

        // 2. Let it return.
        self.restore(first)?;
        self.more_polls(&[0, 1])?;

        // 3. Kill another boot server and hard-reboot one web node meanwhile.
        let holder = self.rig.vip_holder()?;
        let second = if holder != first {
            holder
        } else {
            self.rig
                .cluster
                .running()
                .into_iter()
                .find(|id| *id != first)
                .context("no other boot server running")?
        };
        let rb = self.opts.reboot;
        let other: Vec<usize> = (0..NODES.len()).filter(|i| *i != rb).collect();
        let rounds = self.rounds_now();
        self.rig.cluster.kill(second)?;
        let killed = Instant::now();
        let role = if second == holder {
            "leader, VIP holder"
        } else {
            "follower"
        };
        self.event(format!("SIGKILL node {second} ({role})"));
        let cut = self.now();
        if let Some(mut g) = self.guests[rb].take() {
            g.kill();
            self.old_consoles.push((rb, g.console()));
        }
        self.down = Some((cut, None));
        self.event(format!("{}: power cut (hard reboot)", NODES[rb].name));
        self.power_on(rb)?;
        self.event(format!("{}: powered on again", NODES[rb].name));
        let now_holder = self.rig.vip_holder()?;
        self.event(format!(
            "node {now_holder} holds the VIP ({} after the kill)",
            secs(killed.elapsed())
        ));
        self.nfs_resumed(
            &format!("the kill of node {second}"),
            killed,
            &rounds,
            &other,
        )?;
        self.report.reboot = RebootFigures {
            node: NODES[rb].name.to_string(),
            server_down: second,
            budget: self.opts.boot_budget,
            ..RebootFigures::default()
        };
        let up = self.wait_up(&[rb])?.first().copied().unwrap_or_default();
        self.report.reboot.up_after = Some(up);
        let served = self.wait_new_boot(rb, cut)?;
        self.down = Some((cut, Some(served)));
        let after = served.saturating_sub(cut);
        self.report.reboot.serving_after = Some(after);
        if let Some(n) = self.report.nodes.get_mut(rb) {
            n.boots.push(up);
        }
        self.event(format!(
            "{}: serving again, {} after the power cut (budget {}), node {second} still down",
            NODES[rb].name,
            secs(after),
            secs(self.opts.boot_budget)
        ));
        anyhow::ensure!(
            !self.rig.cluster.running().contains(&second),
            "node {second} is running again: the reboot did not happen during the outage"
        );
        self.more_polls(&[0, 1])?;

        // 4. Heal: the cluster whole again, both nodes still reading their roots.
        self.restore(second)?;
        let healed = Instant::now();
        let rounds = self.rounds_now();
        self.nfs_resumed("healing", healed, &rounds, &[0, 1])?;
        self.more_polls(&[0, 1])?;
        Ok(())
    }

    /// Wait until web node `i` answers its page from the client namespace.
    fn serving(&self, i: usize) -> anyhow::Result<()> {
        let (lan, ns) = self.rig.cluster.lan.clone().context("a LAN cluster")?;
        let addr = self.addr(i)?;
        let name = NODES[i].name;
        let timeout = self.opts.poll_timeout;
        wait::until(&format!("{name} serving its page"), T, || {
            lan.in_ns(&ns, move || fetch(addr, name, timeout))
                .map_err(|e| e.to_string())?
                .map(|_| ())
        })
    }

    /// Wait until each of `nodes` has [`POLLS_BETWEEN_STEPS`] more polls recorded.
    fn more_polls(&self, nodes: &[usize]) -> anyhow::Result<()> {
        let w = self.poller.as_ref().context("pollers not running")?;
        let count = |polls: &[Poll], i: usize| polls.iter().filter(|p| p.node == i).count();
        let before: Vec<usize> = {
            let polls = w.polls();
            nodes.iter().map(|i| count(&polls, *i)).collect()
        };
        wait::until("more polls of every web node", T, || {
            let polls = w.polls();
            let now: Vec<usize> = nodes.iter().map(|i| count(&polls, *i)).collect();
            if now
                .iter()
                .zip(&before)
                .all(|(n, b)| *n >= b + POLLS_BETWEEN_STEPS)
            {
                Ok(())
            } else {
                Err(format!("polls {now:?}, before {before:?}"))
            }
        })
    }

    /// The last NFS round on each running guest's console.
    fn rounds_now(&self) -> Vec<u64> {
        self.guests
            .iter()
            .map(|g| {
                g.as_ref()
                    .and_then(|g| nfs_rounds(&g.console()).last().map(|r| r.0))
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Wait until each of `nodes` printed the NFS round after `rounds[i]`; records the time
    /// since `since` (the moment of `what`).
    fn nfs_resumed(
        &mut self,
        what: &str,
        since: Instant,
        rounds: &[u64],
        nodes: &[usize],
    ) -> anyhow::Result<()> {
        for &i in nodes {
            let g = self.guests[i].as_ref().context("guest not running")?;
            let want = rounds[i] + 1;
            wait::until(&format!("{}'s NFS round {want}", NODES[i].name), T, || {
                let last = nfs_rounds(&g.console()).last().map(|r| r.0).unwrap_or(0);
                if last >= want {
                    Ok(())
                } else {
                    Err(format!("last round {last}"))
                }
            })?;
            let d = since.elapsed();
            self.report
                .nfs_resumed
                .push((what.to_string(), NODES[i].name.to_string(), d));
            self.event(format!(
                "{}: NFS round {want} read ({} after {what})",
                NODES[i].name,
                secs(d)
            ));
        }
        Ok(())
    }

    /// Wait until a poll of node `i` that started after `cut` returned a page; returns the
    /// run time that poll ended.
    fn wait_new_boot(&self, i: usize, cut: Duration) -> anyhow::Result<Duration> {
        let w = self.poller.as_ref().context("pollers not running")?;
        let budget = self.opts.boot_budget;
        wait::until(
            &format!("{}'s page from its new boot", NODES[i].name),
            budget,
            || {
                let polls = w.polls();
                polls
                    .iter()
                    .filter(|p| p.node == i && p.ok() && self.poll_time(p) > cut)
                    .map(|p| self.poll_time(p) + p.took)
                    .min()
                    .ok_or_else(|| "no page yet".to_string())
            },
        )
    }

    /// Restart a killed boot server and wait until it serves both images and a VIP holder
    /// serves.
    fn restore(&mut self, id: u64) -> anyhow::Result<()> {
        let holder = self.rig.restore_node(id)?;
        self.event(format!(
            "node {id} restarted and serves both images again; node {holder} holds the VIP"
        ));
        Ok(())
    }

    /// Stop the pollers, check everything, and build the report.
    fn finish(mut self) -> anyhow::Result<WebTierReport> {
        let polls = self
            .poller
            .as_ref()
            .map(WebPoller::polls)
            .unwrap_or_default();
        let polls: Vec<Poll> = polls
            .into_iter()
            .map(|mut p| {
                p.at = self.poll_time(&p);
                p
            })
            .collect();
        if let Some(w) = self.poller.take() {
            drop(w.stop());
        }
        self.event("pollers stopped".into());
        let rb = self.opts.reboot;
        let (cut, served) = self.down.unwrap_or((Duration::MAX, None));
        let served = served.unwrap_or(Duration::MAX);
        let rebooting = |i: usize, p: &Poll| i == rb && p.end() >= cut && p.at <= served;
        let mut violations = Vec::new();
        let events = self.report.events.clone();
        let last_event = |at: Duration| {
            events
                .iter()
                .rev()
                .find(|e| e.at <= at)
                .map(|e| format!("{} at {}", e.what, secs(e.at)))
                .unwrap_or_default()
        };
        for (i, n) in self.report.nodes.iter_mut().enumerate() {
            let mine: Vec<&Poll> = polls.iter().filter(|p| p.node == i).collect();
            n.polls = mine.len();
            let mut boots: Vec<String> = Vec::new();
            let mut last_ok: Option<Duration> = None;
            let mut round_seen: Option<(u64, Duration)> = None;
            let (mut bad_pages, mut first_bad_page) = (0usize, None::<String>);
            for p in &mine {
                match &p.outcome {
                    Ok(page) => {
                        n.ok += 1;
                        n.max_latency = n.max_latency.max(p.took);
                        if let Some(prev) = last_ok {
                            if !(i == rb && prev <= cut && p.end() >= cut) {
                                n.max_ok_gap = n.max_ok_gap.max(p.end().saturating_sub(prev));
                            }
                        }
                        last_ok = Some(p.end());
                        if page.token != self.site.token {
                            violations.push(format!(
                                "{} at {}: site token {:?}, want {:?}",
                                n.name,
                                secs(p.at),
                                page.token,
                                self.site.token
                            ));
                        }
                        if page.nfs_round > 0 && page.nfs_md5 != self.site.probe_md5 {
                            bad_pages += 1;
                            if first_bad_page.is_none() {
                                first_bad_page = Some(format!(
                                    "round {} md5 {} at {}",
                                    page.nfs_round,
                                    page.nfs_md5,
                                    secs(p.at)
                                ));
                            }
                        }
                        if boots.last() != Some(&page.boot) {
                            boots.push(page.boot.clone());
                            round_seen = None;
                        }
                        match round_seen {
                            Some((r, at)) if page.nfs_round > r => {
                                n.max_nfs_gap = n.max_nfs_gap.max(p.end().saturating_sub(at));
                                round_seen = Some((page.nfs_round, p.end()));
                            }
                            None => round_seen = Some((page.nfs_round, p.end())),
                            _ => {}
                        }
                    }
                    Err(_) if rebooting(i, p) => {
                        n.failed_rebooting += 1;
                    }
                    Err(e) => {
                        n.failed += 1;
                        violations.push(format!(
                            "{} poll at {} failed after {} ms: {e} (last event: {})",
                            n.name,
                            secs(p.at),
                            p.took.as_millis(),
                            last_event(p.at)
                        ));
                    }
                }
            }
            if let Some(first) = first_bad_page {
                violations.push(format!(
                    "{}: {bad_pages} pages show a wrong NFS read (first: {first}), want md5 {}",
                    n.name, self.site.probe_md5
                ));
            }
            let want_boots = if i == rb { 2 } else { 1 };
            if boots.len() != want_boots {
                violations.push(format!(
                    "{}: pages from {} boots ({}), want {want_boots}",
                    n.name,
                    boots.len(),
                    boots.join(", ")
                ));
            }
        }
        // Consoles: every boot's root, NFS rounds and kernel complaints.
        let mut consoles: Vec<(usize, String)> = self.old_consoles.clone();
        for (i, g) in self.guests.iter_mut().enumerate() {
            if let Some(mut g) = g.take() {
                g.kill();
                consoles.push((i, g.console()));
            }
        }
        let want_root = format!("RAFTBOOT-ROOT {}:/groups/{GROUP} nfs ", self.rig.vip);
        for (i, console) in &consoles {
            let name = NODES[*i].name;
            let root_ok = console
                .lines()
                .any(|l| l.trim().starts_with(&want_root) && l.contains("ro,"));
            if !root_ok {
                violations.push(format!(
                    "{name}: no read-only root line {want_root:?} on a console"
                ));
            }
            let rounds = nfs_rounds(console);
            if let Some(n) = self.report.nodes.get_mut(*i) {
                n.nfs_rounds += rounds.len();
            }
            let bad: Vec<&(u64, String)> = rounds
                .iter()
                .filter(|(_, sum)| *sum != self.site.probe_md5)
                .collect();
            if let (Some((r0, s0)), Some((r1, _))) = (bad.first(), bad.last()) {
                violations.push(format!(
                    "{name}: {} of {} console NFS rounds read wrong (rounds {r0}..{r1}, first md5 {s0}), want md5 {}",
                    bad.len(),
                    rounds.len(),
                    self.site.probe_md5
                ));
            }
            for bad in [
                "not responding",
                "Kernel panic",
                "Boot failed",
                "Connection refused",
            ] {
                if console.contains(bad) {
                    violations.push(format!("{name}: console shows {bad:?}"));
                }
            }
        }
        if self.report.reboot.serving_after.is_none() {
            violations.push(format!(
                "{} did not serve again within {}",
                NODES[rb].name,
                secs(self.opts.boot_budget)
            ));
        }
        self.report.violations = violations;
        self.report.polls = polls
            .into_iter()
            .map(|p| (NODES[p.node].name.to_string(), p))
            .collect();
        self.report.wall = self.now();
        Ok(self.report)
    }
}
