//! The shipped alert rules (docs/alerts/raftboot.rules.yml) and Grafana dashboard
//! (docs/grafana/raftboot.json) against a real cluster:
//!
//! - every metric the rules and the dashboard use is one a real bootd node exports;
//! - a real Prometheus (Debian's `prometheus` package) scrapes three real bootd processes on
//!   loopback with the shipped rules loaded; on a healthy cluster neither "no leader" nor
//!   "node lagging" fires; after a follower is killed and writes go on,
//!   RaftbootNodeLagging fires for that node; after the leader is killed too,
//!   RaftbootNoLeader fires. The test also reads the metrics those alerts are built on from
//!   the nodes themselves.
//!
//! The rules are loaded unchanged except their `for:` durations, cut to 1s so the test need
//! not wait minutes: the expressions and thresholds are the shipped ones.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use chaos_tests::cluster::{Cluster, Spec};
use chaos_tests::wait;
use raftboot_raft::state::Host;
use raftboot_raft::Mac;
use serde_json::Value;

const T: Duration = Duration::from_secs(60);

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A Prometheus server this test started; killed (by PID) and reaped on drop.
struct Prometheus {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The shipped rules with every `for: <duration>` replaced by `for: 1s`.
fn rules_for_test(text: &str) -> String {
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("for:") {
                format!("{}for: 1s", &l[..l.len() - t.len()])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Prometheus {
    fn start(targets: &[String], rules: &str) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("raftboot-prom-")
            .tempdir()?;
        std::fs::write(dir.path().join("rules.yml"), rules)?;
        let list = targets
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", ");
        std::fs::write(
            dir.path().join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - rules.yml\nscrape_configs:\n  - job_name: raftboot\n    static_configs:\n      - targets: [{list}]\n"
            ),
        )?;
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("prometheus.log"))?;
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("prometheus (apt-get install prometheus)")?;
        let p = Self {
            child,
            addr,
            _dir: dir,
        };
        wait::until("prometheus to answer", T, || p.get("/-/ready").map(|_| ()))?;
        Ok(p)
    }

    fn get(&self, path: &str) -> Result<String, String> {
        ureq::get(&format!("http://{}{path}", self.addr))
            .timeout(Duration::from_secs(5))
            .call()
            .map_err(|e| e.to_string())?
            .into_string()
            .map_err(|e| e.to_string())
    }

    /// An instant query; the result vector.
    fn query(&self, q: &str) -> Result<Vec<Value>, String> {
        let body = ureq::get(&format!("http://{}/api/v1/query", self.addr))
            .query("query", q)
            .timeout(Duration::from_secs(5))
            .call()
            .map_err(|e| e.to_string())?
            .into_string()
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        v["data"]["result"]
            .as_array()
            .cloned()
            .ok_or_else(|| format!("no result in {body}"))
    }

    fn scalar(&self, q: &str) -> Result<f64, String> {
        let r = self.query(q)?;
        r.first()
            .and_then(|s| s["value"][1].as_str())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{q}: {r:?}"))
    }

    /// Firing alerts: (name, labels).
    fn firing(&self) -> Result<Vec<(String, Value)>, String> {
        let body = self.get("/api/v1/alerts")?;
        let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        Ok(v["data"]["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["state"] == "firing")
            .map(|a| {
                (
                    a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                    a["labels"].clone(),
                )
            })
            .collect())
    }

    /// Rule-group evaluations so far (from Prometheus's own /metrics).
    fn evaluations(&self) -> Result<f64, String> {
        let text = self.get("/metrics")?;
        let n: f64 = text
            .lines()
            .filter(|l| l.starts_with("prometheus_rule_group_iterations_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        Ok(n)
    }

    /// Wait for `n` more rule-group evaluations from now.
    fn await_evaluations(&self, n: f64) -> anyhow::Result<()> {
        let start = self.evaluations().map_err(anyhow::Error::msg)?;
        wait::until("rule evaluations", T, || {
            let now = self.evaluations()?;
            if now >= start + n {
                Ok(())
            } else {
                Err(format!("{now} evaluations, waiting for {}", start + n))
            }
        })
    }
}

/// The metrics text of one node.
fn scrape(admin: &str) -> Result<String, String> {
    ureq::get(&format!("http://{admin}/metrics"))
        .timeout(Duration::from_secs(5))
        .call()
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|e| e.to_string())
}

/// The value of one sample line `name{labels} value` (exact series text before the value).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Metric names (`raftboot_...`) an expression text uses.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(off) = text[i..].find("raftboot_") {
        let s = i + off;
        let before_ok = s == 0 || !(b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'_');
        let mut e = s;
        while e < b.len() && (b[e].is_ascii_alphanumeric() || b[e] == b'_') {
            e += 1;
        }
        if before_ok {
            out.insert(text[s..e].to_string());
        }
        i = e;
    }
    out
}

#[test]
fn rules_and_dashboard_use_only_exported_metrics() -> anyhow::Result<()> {
    let root = project_root();
    let rules = std::fs::read_to_string(root.join("docs/alerts/raftboot.rules.yml"))?;
    let dash = std::fs::read_to_string(root.join("docs/grafana/raftboot.json"))?;
    let dash_json: Value = serde_json::from_str(&dash).context("dashboard JSON")?;
    let mut exprs = String::new();
    for p in dash_json["panels"].as_array().into_iter().flatten() {
        for t in p["targets"].as_array().into_iter().flatten() {
            exprs.push_str(t["expr"].as_str().unwrap_or(""));
            exprs.push('\n');
        }
    }
    anyhow::ensure!(!exprs.is_empty(), "the dashboard has no queries");
    let used: BTreeSet<String> = metric_names(&rules)
        .into_iter()
        .chain(metric_names(&exprs))
        .collect();
    anyhow::ensure!(used.len() > 10, "suspiciously few metrics used: {used:?}");

    let cluster = Cluster::start(&Spec::default())?;
    cluster.wait_leader(T)?;
    let mut exported = BTreeSet::new();
    for n in cluster.nodes.values() {
        let text = scrape(&n.admin).map_err(anyhow::Error::msg)?;
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                if let Some(name) = rest.split_whitespace().next() {
                    exported.insert(name.to_string());
                }
            }
        }
    }
    // TFTP/HTTP boot counters appear only on nodes that run those services; the loopback
    // test cluster does (see the check below), so nothing is exempt.
    let missing: Vec<&String> = used.difference(&exported).collect();
    anyhow::ensure!(
        missing.is_empty(),
        "rules/dashboard use metrics no node exports: {missing:?}\nexported: {exported:?}"
    );
    println!(
        "{} metrics used by rules and dashboard, all exported",
        used.len()
    );
    Ok(())
}

#[test]
fn no_leader_and_node_lagging_fire_on_a_real_cluster() -> anyhow::Result<()> {
    let rules = std::fs::read_to_string(project_root().join("docs/alerts/raftboot.rules.yml"))?;
    let mut cluster = Cluster::start(&Spec::default())?;
    let leader = cluster.wait_leader(T)?;
    let targets: Vec<String> = cluster.nodes.values().map(|n| n.admin.clone()).collect();
    let prom = Prometheus::start(&targets, &rules_for_test(&rules))?;

    // Healthy: all three scraped, rules evaluated a few times, neither alert fires.
    wait::until("three targets up", T, || {
        let up = prom.scalar("sum(up{job=\"raftboot\"})")?;
        if up == 3.0 {
            Ok(())
        } else {
            Err(format!("{up} up"))
        }
    })?;
    prom.await_evaluations(3.0)?;
    let firing = prom.firing().map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        !firing
            .iter()
            .any(|(n, _)| n == "RaftbootNoLeader" || n == "RaftbootNodeLagging"),
        "alerts firing on a healthy cluster: {firing:?}"
    );

    // A follower dies and writes go on: the leader reports it behind by more than the
    // rule's 100 entries, and RaftbootNodeLagging fires for it.
    let follower = *cluster
        .nodes
        .keys()
        .find(|id| **id != leader)
        .context("no follower")?;
    cluster.kill(follower)?;
    let client = cluster.client(leader);
    let writes = 130u32;
    for i in 0..writes {
        let mac: Mac = format!("52:54:00:7a:{:02x}:{:02x}", i / 256, i % 256)
            .parse()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let host = Host {
            mac,
            name: format!("lag-{i}"),
            group: "default".into(),
            ip: None,
            boot_file: None,
            kernel_args: None,
        };
        let _: Host = client.post("/v1/hosts", &host)?;
    }
    let leader_admin = cluster.nodes[&leader].admin.clone();
    let series = format!("raftboot_raft_replication_lag{{target=\"{follower}\"}}");
    let lag = sample(&scrape(&leader_admin).map_err(anyhow::Error::msg)?, &series)
        .with_context(|| format!("{series} not on the leader"))?;
    println!("leader {leader} reports {series} = {lag}");
    anyhow::ensure!(lag > 100.0, "lag {lag} after {writes} writes");
    let want = follower.to_string();
    let lagging = wait::until("RaftbootNodeLagging to fire", T, || {
        let f = prom.firing()?;
        f.into_iter()
            .find(|(n, l)| {
                n == "RaftbootNodeLagging" && l["target"].as_str() == Some(want.as_str())
            })
            .ok_or_else(|| "not firing yet".to_string())
    })?;
    println!("firing: {lagging:?}");
    let firing = prom.firing().map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        !firing.iter().any(|(n, _)| n == "RaftbootNoLeader"),
        "RaftbootNoLeader fires while two of three nodes have a leader: {firing:?}"
    );

    // The leader dies too: the last node knows no leader, RaftbootNoLeader fires.
    cluster.kill(leader)?;
    let last = *cluster.running().first().context("no node left")?;
    let last_admin = cluster.nodes[&last].admin.clone();
    let has_leader = wait::until("the last node to lose its leader", T, || {
        let v = sample(&scrape(&last_admin)?, "raftboot_raft_has_leader")
            .ok_or("no raftboot_raft_has_leader")?;
        if v == 0.0 {
            Ok(v)
        } else {
            Err(format!("has_leader {v}"))
        }
    })?;
    println!("node {last}: raftboot_raft_has_leader = {has_leader}");
    let no_leader = wait::until("RaftbootNoLeader to fire", T, || {
        prom.firing()?
            .into_iter()
            .find(|(n, _)| n == "RaftbootNoLeader")
            .ok_or_else(|| "not firing yet".to_string())
    })?;
    println!("firing: {no_leader:?}");
    Ok(())
}

#[test]
fn rules_for_test_only_shortens_for_durations() {
    let src = "      - alert: A\n        expr: up == 0\n        for: 2m\n        labels:\n";
    assert_eq!(
        rules_for_test(src),
        "      - alert: A\n        expr: up == 0\n        for: 1s\n        labels:"
    );
    let names =
        metric_names("max(raftboot_raft_has_leader) - xraftboot_no + raftboot_a_b{x=\"y\"}");
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        vec![
            "raftboot_a_b".to_string(),
            "raftboot_raft_has_leader".to_string()
        ]
    );
}
