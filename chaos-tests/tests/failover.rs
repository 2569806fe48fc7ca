//! `bootctl failover --drill` against a three-node cluster in network namespaces, run by the
//! real bootctl from the client namespace: ten drills in a row (every other one naming its
//! target with `--to`), each must move leadership and the VIP to another node, see DHCP,
//! TFTP and NFS answer from the new holder within budget, and exit 0; an ARP sampler in
//! the client namespace checks that no probe is ever answered by two MACs. Then a drill
//! that reads a file that does not exist must report the TFTP step as missed and exit 7.
//! On loopback (no VIP), `bootctl failover --to` moves leadership and refuses bad targets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chaos_tests::arp::ArpSampler;
use chaos_tests::cluster::{Cluster, Spec};
use chaos_tests::lan::Lan;
use chaos_tests::wait;
use raftboot::failover::timeline::{render, Timeline};

const T: Duration = Duration::from_secs(30);

fn drill(c: &Cluster, extra: &[&str]) -> (std::process::Output, Option<Timeline>) {
    let mut args = vec!["--json", "failover", "--drill"];
    args.extend_from_slice(extra);
    let out = c.bootctl(&args).unwrap();
    let t = serde_json::from_slice::<Timeline>(&out.stdout).ok();
    (out, t)
}

#[test]
fn failover_drill_passes_ten_times_in_a_row() {
    if !Lan::available() {
        eprintln!("SKIP: network namespaces need root (CI runs as root)");
        return;
    }
    let runs: usize = chaos_tests::env_number("RAFTBOOT_DRILLS", 10);
    let spec = Spec::lan();
    let c = Cluster::start(&spec).unwrap();
    let (lan, client_ns) = c.lan.as_ref().map(|(l, n)| (l.clone(), n.clone())).unwrap();
    let mut arp = ArpSampler::start(&lan, &client_ns, lan.ip(100), lan.ip(10)).unwrap();
    c.wait_leader(T).unwrap();
    let all: Vec<u64> = c.nodes.keys().copied().collect();

    for run in 0..runs {
        let leader = c.wait_leader(T).unwrap();
        // Odd runs name the target: the highest-numbered other node.
        let to = (run % 2 == 1).then(|| *all.iter().rev().find(|id| **id != leader).unwrap());
        let to_s = to.map(|t| t.to_string());
        let extra: Vec<&str> = match &to_s {
            Some(t) => vec!["--to", t.as_str()],
            None => vec![],
        };
        let (out, t) = drill(&c, &extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let t = t.unwrap_or_else(|| {
            panic!(
                "run {run}: no timeline (exit {:?}): {}{stderr}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout)
            )
        });
        eprintln!("---- drill {run} ----\n{}", render(&t));
        assert!(
            out.status.success(),
            "run {run}: exit {:?}: {stderr}",
            out.status.code()
        );
        assert!(t.passed, "run {run}: drill did not pass");
        assert_eq!(t.from, leader, "run {run}: the drill started elsewhere");
        assert_ne!(t.to, leader, "run {run}: leadership did not move");
        if let Some(to) = to {
            assert_eq!(t.to, to, "run {run}: --to {to} was not honoured");
        }
        assert_eq!(t.rows.len(), 7);
        assert!(t.rows.iter().all(|r| r.ok && r.at_ms.is_some()));
        // The nodes agree with the drill about who leads and holds the VIP now.
        let s = c.status(t.to).unwrap();
        assert_eq!(
            (s.leader, s.vip_holder),
            (Some(t.to), Some(t.to)),
            "run {run}"
        );
        c.wait_converged(&all, T).unwrap();
    }

    // `bootctl status` shows the holder and its last moves.
    let last = c.wait_leader(T).unwrap();
    let out = c.bootctl(&["status"]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(out.status.success());
    assert!(text.contains(&format!("held by node {last}")), "{text}");
    assert!(text.contains("last VIP moves"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("node {last}")) && l.contains("claimed")),
        "{text}"
    );

    // A drill whose TFTP file does not exist misses that step and exits 7; short budgets
    // keep it quick (the other steps may or may not make them).
    let (out, t) = drill(
        &c,
        &["--tftp-file", "no/such/file", "--budget-scale", "0.3"],
    );
    let t = t.expect("a timeline for the failing drill");
    eprintln!("---- failing drill ----\n{}", render(&t));
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!t.passed);
    let tftp = t.rows.iter().find(|r| r.step == "TFTP answering").unwrap();
    assert!(!tftp.ok && tftp.at_ms.is_none(), "{tftp:?}");
    assert!(tftp.detail.contains("no/such/file"), "{}", tftp.detail);

    // The VIP answers from one holder at a time, and it still answers.
    c.wait_leader(T).unwrap();
    wait::until("the VIP to answer after the drills", T, || {
        let now = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(60));
        arp.first_after(now)
            .map(|_| ())
            .ok_or_else(|| "no reply".to_string())
    })
    .unwrap();
    arp.stop().unwrap();
    let doubles = arp.double_holders();
    eprintln!(
        "ARP probes {}, replies {}, double holders {}",
        arp.probes(),
        arp.replies().len(),
        doubles.len()
    );
    assert!(doubles.is_empty(), "two VIP holders seen: {doubles:?}");
    assert!(arp.probes() > 100, "too few ARP samples");
}

/// Without a VIP (loopback, unprivileged) `bootctl failover` still moves leadership, honours
/// `--to`, refuses a target that cannot take over, and refuses `--drill` (nothing to probe).
#[test]
fn failover_moves_leadership_on_loopback() {
    let c = Cluster::start(&Spec::default()).unwrap();
    let all: Vec<u64> = c.nodes.keys().copied().collect();
    for _ in 0..2 {
        let leader = c.wait_leader(T).unwrap();
        let to = *all.iter().find(|id| **id != leader).unwrap();
        let out = c.bootctl(&["failover", "--to", &to.to_string()]).unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "exit {:?}", out.status.code());
        assert!(
            text.contains(&format!("node {leader} -> node {to}")),
            "{text}"
        );
        let now = c.wait_leader(T).unwrap();
        assert_eq!(now, to);
        c.wait_converged(&all, T).unwrap();
    }
    let leader = c.wait_leader(T).unwrap();
    let out = c
        .bootctl(&["failover", "--to", &leader.to_string()])
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("already leads"));
    let out = c.bootctl(&["failover", "--to", "9"]).unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = c.bootctl(&["failover", "--drill"]).unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no VIP"));
    // Nothing moved.
    assert_eq!(c.wait_leader(T).unwrap(), leader);
}
