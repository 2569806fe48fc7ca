//! Benchmark (not a test): committed commands per second and p50/p99 commit latency of a
//! three-node loopback cluster of real bootd processes (sled fsync on every log append),
//! for 1 and 64 concurrent writers through the admin API of the leader.
//!
//! Run: `cargo build --release --workspace --bins && target/release/commit-bench [SECONDS]`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chaos_tests::cluster::{Cluster, Spec};
use raftboot::ctl::client::AdminClient;
use raftboot_raft::state::Host;
use raftboot_raft::Mac;

fn metric(c: &Cluster, id: u64, name: &str) -> u64 {
    ureq::get(&format!("http://{}/metrics", c.nodes[&id].admin))
        .call()
        .ok()
        .and_then(|r| r.into_string().ok())
        .and_then(|b| {
            b.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn run(c: &Cluster, leader: u64, writers: usize, secs: u64, tag: u8) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let flushes_before = metric(c, leader, "raftboot_log_flushes_total");
    let start = Instant::now();
    let mut handles = vec![];
    for w in 0..writers {
        let client = AdminClient::new(vec![c.nodes[&leader].admin.clone()], c.token.clone());
        let stop = stop.clone();
        handles.push(std::thread::spawn(move || {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut i: u32 = 0;
            while !stop.load(Ordering::Relaxed) {
                let h = Host {
                    mac: Mac([tag, w as u8, (i >> 16) as u8, (i >> 8) as u8, i as u8, 0]),
                    name: format!("b{tag}-{w}-{i}"),
                    group: "bench".into(),
                    ip: None,
                    boot_file: None,
                    kernel_args: None,
                };
                let t = Instant::now();
                match client.post::<_, Host>("/v1/hosts", &h) {
                    Ok(_) => lat.push(t.elapsed()),
                    Err(_) => errors += 1,
                }
                i += 1;
            }
            (lat, errors)
        }));
    }
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let mut lat = vec![];
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.join().map_err(|_| anyhow::anyhow!("writer panicked"))?;
        lat.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let flushes = metric(c, leader, "raftboot_log_flushes_total") - flushes_before;
    println!(
        "{writers:>3} writer(s): {:>8.0} commits/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} commits, {errors} errors, {:.2} commits per leader fsync)",
        lat.len() as f64 / elapsed,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat.len(),
        lat.len() as f64 / flushes.max(1) as f64
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let spec = Spec {
        heartbeat_ms: 100,
        election_min_ms: 500,
        election_max_ms: 1000,
        ..Spec::default()
    };
    let c = Cluster::start(&spec)?;
    let leader = c.wait_leader(Duration::from_secs(30))?;
    println!("raftboot commit benchmark: 3 bootd processes on loopback, sled fsync per append, {secs} s per run, writes = PutHost via the leader's admin API");
    run(&c, leader, 1, secs, 0xb1)?;
    run(&c, leader, 64, secs, 0xb6)?;
    Ok(())
}
