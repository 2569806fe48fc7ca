//! Every named chaos scenario (`chaos_tests::scenario::named`) against real `bootd`
//! clusters in network namespaces: faults during boot storms of simulated PXE clients,
//! the five invariants checked after every fault step and after healing. Scenarios build
//! their own namespaces and clusters, so they run in parallel (three at a time, to fit two
//! busy cores). The seed is printed; `RAFTBOOT_CHAOS_SEED=S` replays it, and
//! `chaos run NAME --seed S` runs one scenario alone.
//!
//! Needs root (namespaces) and the Debian packages pxelinux and syslinux-common; without
//! root the test prints a skip note.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use chaos_tests::lan::Lan;
use chaos_tests::scenario::named;

const PARALLEL: usize = 3;

#[test]
fn every_named_scenario_keeps_every_invariant() {
    if !Lan::available() {
        eprintln!("SKIP: chaos scenarios need root (network namespaces); CI runs as root");
        return;
    }
    let seed: u64 = std::env::var("RAFTBOOT_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("chaos scenarios: seed {seed} (replay: RAFTBOOT_CHAOS_SEED={seed})");
    let queue: Arc<Mutex<Vec<&'static str>>> = Arc::new(Mutex::new(
        named::all()
            .iter()
            .rev()
            .filter(|s| s.ci)
            .map(|s| s.name)
            .collect(),
    ));
    let results = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let (queue, results) = (queue.clone(), results.clone());
            std::thread::spawn(move || loop {
                let Some(name) = queue.lock().unwrap().pop() else {
                    return;
                };
                let r = named::run(name, seed);
                match &r {
                    Ok(report) => eprintln!("{}", report.render()),
                    Err(e) => eprintln!("chaos scenario {name}: harness error: {e:#}"),
                }
                results.lock().unwrap().push((name, r));
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let results = results.lock().unwrap();
    assert_eq!(results.len(), named::all().iter().filter(|s| s.ci).count());
    let mut failed = Vec::new();
    for (name, r) in results.iter() {
        match r {
            Ok(report) if report.ok => {
                // Every boot of the scenario completed.
                assert_eq!(report.boots.completed, report.boots.started, "{name}");
                assert!(report.boots.started > 0, "{name}: no boots ran");
                assert!(!report.faults.is_empty(), "{name}: no fault was injected");
            }
            Ok(report) => failed.push(format!(
                "{name} (seed {seed}): {}",
                report.violations().join("; ")
            )),
            Err(e) => failed.push(format!("{name} (seed {seed}): {e:#}")),
        }
    }
    assert!(
        failed.is_empty(),
        "chaos scenarios failed:\n{}",
        failed.join("\n")
    );
}
