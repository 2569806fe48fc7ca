//! dhcp-bench: ISC perfdhcp against raftboot (three bootd nodes in network namespaces,
//! every lease committed through Raft with an fsync on each node) and against Kea
//! (`kea-dhcp4`, memfile backend with persistence, in its own namespace), in one run.
//!
//! perfdhcp runs as a relay (it unicasts to the server with `giaddr` set, so only the
//! server under test processes the traffic) at increasing rates, `STEP_SECS` each, with
//! fresh MACs and a fresh address range for every step. Reported per step: completed
//! DORA/s, drops, median DISCOVER-OFFER and REQUEST-ACK latency. The knee is the highest
//! step that completed at least 90% of the offered rate with at most 1% drops.
//!
//! Needs root and the Debian packages kea-admin (perfdhcp) and kea-dhcp4-server. Build
//! with `cargo build --release --workspace --bins`, run `target/release/dhcp-bench
//! [max-rate]`.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::Context;
use chaos_tests::dhcp_clients::{perfdhcp, PerfReport};
use chaos_tests::netns::{Lab, Member};
use chaos_tests::netns_cluster::{NetCluster, NetSpec};
use raftboot_raft::state::Pool;

const STEP_SECS: u64 = 5;
const RATES: [u64; 10] = [250, 500, 750, 1000, 1500, 2000, 3000, 4000, 6000, 8000];

/// One rate step.
#[derive(Debug, Clone)]
struct Step {
    offered: u64,
    dora_per_sec: f64,
    drops_pct: f64,
    median_do_ms: f64,
    median_ra_ms: f64,
}

impl Step {
    fn from_report(offered: u64, r: &PerfReport) -> Step {
        let sent = r.discover_offer.sent.max(1) as f64;
        let lost = (r.discover_offer.sent - r.discover_offer.received.min(r.discover_offer.sent))
            + (r.request_ack.sent - r.request_ack.received.min(r.request_ack.sent));
        Step {
            offered,
            dora_per_sec: r.request_ack.received as f64 / STEP_SECS as f64,
            drops_pct: lost as f64 * 100.0 / sent,
            median_do_ms: r.discover_offer.median_ms(),
            median_ra_ms: r.request_ack.median_ms(),
        }
    }

    fn good(&self) -> bool {
        self.dora_per_sec >= 0.9 * self.offered as f64 && self.drops_pct <= 1.0
    }
}

/// The second octet of step `i`'s /16 (never the lab's own).
fn step_octet(lab: &Lab, i: usize) -> u8 {
    (1..=255u8)
        .filter(|o| *o != lab.net[0])
        .nth(i)
        .unwrap_or(254)
}

/// Run the rate steps against `server`; `prepare(i)` readies step `i`'s address range.
fn steps(
    lab: &Lab,
    perf: &Member,
    server: Ipv4Addr,
    max_rate: u64,
    mut prepare: impl FnMut(usize) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Step>> {
    let mut out = Vec::new();
    for (i, rate) in RATES.iter().copied().filter(|r| *r <= max_rate).enumerate() {
        prepare(i)?;
        let clients = (rate * STEP_SECS).to_string();
        let base = format!("mac=02:{:02x}:00:00:00:00", i + 1);
        let r = perfdhcp(
            lab,
            perf,
            &[
                "-r",
                &rate.to_string(),
                "-R",
                &clients,
                "-b",
                &base,
                "-p",
                &STEP_SECS.to_string(),
                "-d",
                "2",
                "-W",
                "1500000",
                "-x",
                "t",
                &server.to_string(),
            ],
            Duration::from_secs(STEP_SECS + 30),
        )?;
        let s = Step::from_report(rate, &r);
        eprintln!(
            "  offered {:>6}/s: {:>8.1} DORA/s, drops {:>5.1}%, median DO {:.2} ms, RA {:.2} ms",
            s.offered, s.dora_per_sec, s.drops_pct, s.median_do_ms, s.median_ra_ms
        );
        let stop = s.dora_per_sec < 0.5 * rate as f64 || s.drops_pct > 20.0;
        out.push(s);
        if stop {
            break;
        }
    }
    Ok(out)
}

fn knee(steps: &[Step]) -> Option<&Step> {
    steps.iter().rfind(|s| s.good())
}

fn raftboot(max_rate: u64) -> anyhow::Result<Vec<Step>> {
    let lab = Lab::new()?;
    let spec = NetSpec {
        heartbeat_ms: 100,
        election_min_ms: 500,
        election_max_ms: 1000,
        dhcp_toml: "pool = \"bench\"\nlease_secs = 3600\n".into(),
        log: "warn".into(),
        ..NetSpec::default()
    };
    let mut c = NetCluster::start(lab, &spec)?;
    let leader = c.wait_leader(Duration::from_secs(30))?;
    let server = c.nodes[&leader].1;
    let perf = c.lab.add_member("perf", Some(3))?;
    eprintln!("raftboot: leader node {leader} at {server}");
    let octets: Vec<u8> = (0..RATES.len()).map(|i| step_octet(&c.lab, i)).collect();
    let cluster = &c;
    let out = steps(&c.lab, &perf, server, max_rate, |i| {
        let o = octets.get(i).copied().unwrap_or(254);
        cluster.post(
            "/v1/pools",
            &Pool {
                name: "bench".into(),
                start: Ipv4Addr::new(10, o, 0, 1),
                end: Ipv4Addr::new(10, o, 255, 254),
                prefix: 16,
                router: None,
                dns: vec![],
            },
        )
    })?;
    let m = c.metrics(leader)?;
    for l in m
        .lines()
        .filter(|l| l.starts_with("raftboot_dhcp_raft") || l.starts_with("raftboot_log_flushes"))
    {
        eprintln!("  {l}");
    }
    let _ = &mut c;
    Ok(out)
}

fn kea(max_rate: u64) -> anyhow::Result<Vec<Step>> {
    let mut lab = Lab::new()?;
    let dir = tempfile::Builder::new().prefix("raftboot-kea-").tempdir()?;
    let server = lab.add_member("kea", Some(20))?;
    let perf = lab.add_member("perf", Some(3))?;
    let relay = lab.addr(3);
    // One /12 (a million addresses) away from the lab's own 10.a.0.0/16, selected by
    // the relay address perfdhcp puts in giaddr.
    let o = if (128..144).contains(&lab.net[0]) {
        16
    } else {
        128
    };
    let subnets = format!(
        "{{\"id\": 1, \"subnet\": \"10.{o}.0.0/12\", \
         \"pools\": [{{\"pool\": \"10.{o}.0.1 - 10.{}.255.254\"}}], \
         \"relay\": {{\"ip-addresses\": [\"{relay}\"]}}}}",
        o + 15
    );
    let leases = dir.path().join("kea-leases4.csv");
    let conf = format!(
        "{{\"Dhcp4\": {{\n\"interfaces-config\": {{\"interfaces\": [\"eth0\"], \
         \"dhcp-socket-type\": \"udp\"}},\n\"lease-database\": {{\"type\": \"memfile\", \
         \"persist\": true, \"name\": \"{}\", \"lfc-interval\": 0}},\n\
         \"valid-lifetime\": 3600,\n\"subnet4\": [{subnets}],\n\
         \"loggers\": [{{\"name\": \"kea-dhcp4\", \"output_options\": [{{\"output\": \"stdout\"}}], \
         \"severity\": \"WARN\"}}]\n}}}}\n",
        leases.display()
    );
    let conf_path = dir.path().join("kea-dhcp4.conf");
    std::fs::write(&conf_path, conf)?;
    let lockdir = format!("KEA_LOCKFILE_DIR={}", dir.path().display());
    let piddir = format!("KEA_PIDFILE_DIR={}", dir.path().display());
    let log = dir.path().join("kea.log");
    let pid = lab.spawn(
        &server.ns,
        &[
            "env",
            &lockdir,
            &piddir,
            "kea-dhcp4",
            "-c",
            &conf_path.display().to_string(),
        ],
        &log,
    )?;
    std::thread::sleep(Duration::from_secs(2));
    anyhow::ensure!(
        lab.is_running(pid),
        "kea-dhcp4 exited: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    eprintln!("kea: {} (memfile, persist)", lab.addr(20));
    let out = steps(&lab, &perf, lab.addr(20), max_rate, |_| Ok(()))?;
    let lines = std::fs::read_to_string(&leases)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    eprintln!("  kea lease file: {lines} lines");
    Ok(out)
}

fn table(name: &str, steps: &[Step]) -> String {
    let mut o = format!("{name}\n| offered/s | DORA/s | drops | median DO | median RA |\n| --- | --- | --- | --- | --- |\n");
    for s in steps {
        let _ = writeln!(
            o,
            "| {} | {:.0} | {:.1}% | {:.2} ms | {:.2} ms |",
            s.offered, s.dora_per_sec, s.drops_pct, s.median_do_ms, s.median_ra_ms
        );
    }
    o
}

fn main() -> anyhow::Result<()> {
    let max_rate: u64 = match std::env::args().nth(1) {
        Some(a) => a.parse().context("max-rate must be a number")?,
        None => 8000,
    };
    Lab::available().map_err(|e| anyhow::anyhow!(e))?;
    eprintln!("raftboot (3 nodes, leases through Raft):");
    let rb = raftboot(max_rate)?;
    eprintln!("kea-dhcp4 (memfile, persist):");
    let kea = kea(max_rate)?;
    println!("{}", table("raftboot", &rb));
    println!("{}", table("kea-dhcp4", &kea));
    match (knee(&rb), knee(&kea)) {
        (Some(r), Some(k)) => println!(
            "knee: raftboot {:.0} DORA/s (median DO {:.2} ms, RA {:.2} ms), kea {:.0} DORA/s \
             (median DO {:.2} ms, RA {:.2} ms); raftboot/kea throughput ratio {:.2}",
            r.dora_per_sec,
            r.median_do_ms,
            r.median_ra_ms,
            k.dora_per_sec,
            k.median_do_ms,
            k.median_ra_ms,
            r.dora_per_sec / k.dora_per_sec
        ),
        _ => println!("no knee found (no step completed 90% of its rate with <= 1% drops)"),
    }
    Ok(())
}
