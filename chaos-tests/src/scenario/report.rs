//! [`Report`]: what one chaos run did and found — the faults injected (with times), the
//! boots (completed, time per boot, the extra time each fault caused) and every
//! checkpoint's invariant verdicts — as text ([`Report::render`]) and JSON (serde).

use serde::Serialize;

use crate::faults::FaultEvent;
use crate::invariants::Checkpoint;
use crate::storm::ClientRecord;

/// Boot figures of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BootSummary {
    pub started: usize,
    pub completed: usize,
    pub median_ms: u64,
    pub p95_ms: u64,
    pub max_ms: u64,
    /// Boots that needed more than one attempt (a firmware reset).
    pub restarted: usize,
}

/// The delay one fault added to the boots in flight when it hit.
#[derive(Debug, Clone, Serialize)]
pub struct FaultCost {
    pub fault: String,
    pub at_ms: u64,
    /// Clients that were inside a stage when the fault hit.
    pub clients_hit: usize,
    /// Mean and maximum of (that stage's duration - the median duration of the same stage
    /// when no fault hit it).
    pub mean_extra_ms: u64,
    pub max_extra_ms: u64,
}

/// One run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: Option<u64>,
    pub wall_ms: u64,
    pub faults: Vec<FaultEvent>,
    pub boots: BootSummary,
    pub fault_costs: Vec<FaultCost>,
    pub checkpoints: Vec<Checkpoint>,
    /// Every client's record (omitted from the text).
    pub clients: Vec<ClientRecord>,
    pub ok: bool,
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Summarize boot times.
pub fn summarize(records: &[ClientRecord]) -> BootSummary {
    let mut t: Vec<u64> = records.iter().filter_map(|r| r.total_ms()).collect();
    t.sort_unstable();
    BootSummary {
        started: records.len(),
        completed: t.len(),
        median_ms: pct(&t, 0.5),
        p95_ms: pct(&t, 0.95),
        max_ms: t.last().copied().unwrap_or(0),
        restarted: records.iter().filter(|r| r.attempts > 1).count(),
    }
}

/// Each client's stage intervals `(stage, from, to)` from its stage timeline.
fn intervals(r: &ClientRecord) -> Vec<(String, u64, u64)> {
    r.stage_times
        .windows(2)
        .filter(|w| w[0].0 != "waiting")
        .map(|w| (w[0].0.clone(), w[0].1, w[1].1))
        .collect()
}

/// The extra time each fault caused: for every client stage interval that contains the
/// fault's instant, its duration minus the median duration of that stage over intervals
/// no fault hit.
pub fn fault_costs(records: &[ClientRecord], faults: &[FaultEvent]) -> Vec<FaultCost> {
    let all: Vec<(String, u64, u64)> = records.iter().flat_map(intervals).collect();
    let hit = |iv: &(String, u64, u64)| faults.iter().any(|f| iv.1 <= f.at_ms && f.at_ms < iv.2);
    let mut baseline: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
    for iv in all.iter().filter(|iv| !hit(iv)) {
        baseline.entry(&iv.0).or_default().push(iv.2 - iv.1);
    }
    for v in baseline.values_mut() {
        v.sort_unstable();
    }
    faults
        .iter()
        .map(|f| {
            let extras: Vec<u64> = all
                .iter()
                .filter(|iv| iv.1 <= f.at_ms && f.at_ms < iv.2)
                .map(|iv| {
                    let base = baseline
                        .get(iv.0.as_str())
                        .map(|v| pct(v, 0.5))
                        .unwrap_or(0);
                    (iv.2 - iv.1).saturating_sub(base)
                })
                .collect();
            FaultCost {
                fault: format!(
                    "{}{}",
                    f.kind,
                    f.node.map(|n| format!(" node {n}")).unwrap_or_default()
                ),
                at_ms: f.at_ms,
                clients_hit: extras.len(),
                mean_extra_ms: if extras.is_empty() {
                    0
                } else {
                    extras.iter().sum::<u64>() / extras.len() as u64
                },
                max_extra_ms: extras.iter().copied().max().unwrap_or(0),
            }
        })
        .collect()
}

impl Report {
    /// The text form.
    pub fn render(&self) -> String {
        let mut o = format!(
            "chaos scenario {}{}: {} in {:.1} s\n",
            self.scenario,
            self.seed
                .map(|s| format!(" (seed {s})"))
                .unwrap_or_default(),
            if self.ok { "PASS" } else { "FAIL" },
            self.wall_ms as f64 / 1000.0
        );
        o += "faults:\n";
        for f in &self.faults {
            o += &format!(
                "  +{:>7} ms  {:<12} {:<8} {}{}\n",
                f.at_ms,
                f.kind,
                f.node.map(|n| format!("node {n}")).unwrap_or_default(),
                f.detail,
                f.healed_ms
                    .map(|h| format!(" (healed +{h} ms)"))
                    .unwrap_or_default()
            );
        }
        let b = &self.boots;
        o += &format!(
            "boots: {}/{} completed; per boot median {} ms, p95 {} ms, max {} ms; {} needed a firmware reset\n",
            b.completed, b.started, b.median_ms, b.p95_ms, b.max_ms, b.restarted
        );
        for c in &self.fault_costs {
            o += &format!(
                "  {} at +{} ms hit {} boots in flight: extra {} ms mean, {} ms max\n",
                c.fault, c.at_ms, c.clients_hit, c.mean_extra_ms, c.max_extra_ms
            );
        }
        o += "invariants:\n";
        for cp in &self.checkpoints {
            o += &format!("  after {} (+{} ms):\n", cp.after, cp.at_ms);
            for v in &cp.verdicts {
                o += &format!(
                    "    {} {:<14} {}\n",
                    if v.ok { "ok  " } else { "FAIL" },
                    v.invariant,
                    v.detail
                );
            }
        }
        o
    }

    /// The invariants that fired (name and detail), for the failure message.
    pub fn violations(&self) -> Vec<String> {
        self.checkpoints
            .iter()
            .flat_map(|cp| {
                cp.verdicts
                    .iter()
                    .filter(|v| !v.ok)
                    .map(move |v| format!("{} after {}: {}", v.invariant, cp.after, v.detail))
            })
            .collect()
    }
}
