//! Invariant 3: every boot started before or during a fault completes, with the retries
//! real firmware does, within a stated budget. Mid-storm (a checkpoint after a fault step)
//! a client fails the check only once it has been running longer than the budget; at the
//! end every client must have finished within it.

use std::time::Duration;

use super::Verdict;
use crate::storm::ClientRecord;

pub const NAME: &str = "3-boots";

/// At the end of a storm.
pub fn check_final(records: &[ClientRecord], budget: Duration) -> Verdict {
    let budget_ms = budget.as_millis() as u64;
    let mut bad = Vec::new();
    for r in records {
        match r.total_ms() {
            Some(t) if t <= budget_ms => {}
            Some(t) => bad.push(format!("{} took {t} ms (budget {budget_ms})", r.mac)),
            None => bad.push(format!(
                "{} never completed ({} attempts, last stage {}): {}",
                r.mac,
                r.attempts,
                r.stage,
                r.errors.last().cloned().unwrap_or_default()
            )),
        }
    }
    if bad.is_empty() {
        let max = records
            .iter()
            .filter_map(|r| r.total_ms())
            .max()
            .unwrap_or(0);
        Verdict::pass(
            NAME,
            format!(
                "{} of {} boots completed, slowest {max} ms (budget {budget_ms} ms)",
                records.len(),
                records.len()
            ),
        )
    } else {
        let n = bad.len();
        bad.truncate(5);
        Verdict::fail(NAME, format!("{n} boots failed: {}", bad.join("; ")))
    }
}

/// While a storm runs: clients (stage, started ms) still booting; none may be older than
/// the budget.
pub fn check_running(running: &[(String, String, u64)], now_ms: u64, budget: Duration) -> Verdict {
    let budget_ms = budget.as_millis() as u64;
    let late: Vec<String> = running
        .iter()
        .filter(|(_, stage, start)| {
            stage != "done" && stage != "waiting" && now_ms.saturating_sub(*start) > budget_ms
        })
        .map(|(mac, stage, start)| format!("{mac} at {stage} for {} ms", now_ms - start))
        .collect();
    if late.is_empty() {
        Verdict::pass(
            NAME,
            format!(
                "{} clients, none over the {budget_ms} ms budget",
                running.len()
            ),
        )
    } else {
        Verdict::fail(NAME, format!("over budget: {}", late.join("; ")))
    }
}
