//! [`Timeline`]: what `bootctl failover --drill` prints ([`render`]), built (purely) from the facts the
//! nodes recorded (the old leader's report; each node's VIP events) and the drill's own
//! probe results, each step checked against a [`Budgets`] entry measured from the moment
//! bootctl asked for the failover.
//!
//! Times come from different clocks: node rows from that node's wall clock, probe rows
//! from bootctl's. On one host (the tests) they are the same clock; across hosts they are
//! as close as NTP keeps them.

use std::collections::BTreeMap;
use std::time::Duration;

use raftboot_raft::NodeId;
use serde::{Deserialize, Serialize};

use crate::api::types::FailoverReport;
use crate::vip::moves::{VipEvent, VipEventKind};

pub use super::render::{render, utc};

/// The longest each step may take, from bootctl's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    pub yielded: Duration,
    pub released: Duration,
    pub elected: Duration,
    pub claimed: Duration,
    pub dhcp: Duration,
    pub tftp: Duration,
    pub nfs: Duration,
}

impl Default for Budgets {
    fn default() -> Self {
        let ms = Duration::from_millis;
        Budgets {
            // A freshly elected leader first waits out its vote lease
            // (election_timeout_max) before it yields.
            yielded: ms(1500),
            released: ms(2000),
            elected: ms(3000),
            claimed: ms(3500),
            dhcp: ms(5000),
            tftp: ms(5000),
            nfs: ms(5000),
        }
    }
}

impl Budgets {
    /// Every budget times `f` (for clusters with slower Raft timings).
    pub fn scaled(&self, f: f64) -> Budgets {
        let s = |d: Duration| d.mul_f64(f.max(0.0));
        Budgets {
            yielded: s(self.yielded),
            released: s(self.released),
            elected: s(self.elected),
            claimed: s(self.claimed),
            dhcp: s(self.dhcp),
            tftp: s(self.tftp),
            nfs: s(self.nfs),
        }
    }

    /// The latest any step may finish.
    pub fn longest(&self) -> Duration {
        [
            self.yielded,
            self.released,
            self.elected,
            self.claimed,
            self.dhcp,
            self.tftp,
            self.nfs,
        ]
        .into_iter()
        .max()
        .unwrap_or_default()
    }
}

/// When a probe first got a good answer (None: never; `detail` says why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub at_ms: Option<u64>,
    pub detail: String,
}

/// Everything the timeline is built from.
#[derive(Debug, Clone)]
pub struct DrillFacts {
    /// bootctl's wall clock when it asked the leader (ms since the epoch).
    pub t0_ms: u64,
    pub report: FailoverReport,
    /// Each node's VIP events, read after the failover.
    pub events: BTreeMap<NodeId, Vec<VipEvent>>,
    /// Nodes that said they hold the VIP, read after the failover.
    pub holders_after: Vec<NodeId>,
    pub dhcp: ProbeResult,
    pub tftp: ProbeResult,
    pub nfs: ProbeResult,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub step: String,
    /// Whose clock and whose fact: `node N` or `bootctl`.
    pub source: String,
    pub at_ms: Option<u64>,
    /// Milliseconds after bootctl's request.
    pub offset_ms: Option<i64>,
    pub budget_ms: u64,
    pub ok: bool,
    pub detail: String,
}

/// The drill's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    pub t0_ms: u64,
    pub from: NodeId,
    pub to: NodeId,
    pub term_before: u64,
    pub term_after: u64,
    pub rows: Vec<Row>,
    /// Exactly the new leader holds the VIP afterwards (Err: who does).
    pub holder_check: Result<(), String>,
    pub warnings: Vec<String>,
    pub passed: bool,
}

fn first(events: Option<&Vec<VipEvent>>, pred: impl Fn(&VipEvent) -> bool) -> Option<u64> {
    events?.iter().find(|e| pred(e)).map(|e| e.at_ms)
}

/// Build the timeline.
pub fn build(f: &DrillFacts, b: &Budgets) -> Timeline {
    let r = &f.report;
    let row = |step: String, source: String, at: Option<u64>, budget: Duration, detail: String| {
        let offset = at.map(|a| a as i64 - f.t0_ms as i64);
        let budget_ms = budget.as_millis() as u64;
        Row {
            ok: offset.is_some_and(|o| o <= budget_ms as i64),
            step,
            source,
            at_ms: at,
            offset_ms: offset,
            budget_ms,
            detail,
        }
    };
    let old = f.events.get(&r.from);
    let new = f.events.get(&r.new_leader);
    let from = format!("node {}", r.from);
    let to = format!("node {}", r.new_leader);
    let elected = first(new, |e| {
        e.term > r.term_before && matches!(e.kind, VipEventKind::Elected)
    });
    let claimed = first(new, |e| {
        e.term > r.term_before && matches!(e.kind, VipEventKind::Claimed)
    });
    // The old holder's last release between the request and the new claim: normally the
    // yield's; a leader that lost its quorum for a moment may have let go just before.
    let release = old.and_then(|ev| {
        ev.iter().rev().find(|e| {
            e.at_ms >= f.t0_ms
                && !matches!(claimed, Some(c) if e.at_ms > c)
                && matches!(e.kind, VipEventKind::Released { .. })
        })
    });
    let released = r.released_at_ms.or(release.map(|e| e.at_ms));
    let release_reason = match release.map(|e| &e.kind) {
        Some(VipEventKind::Released { reason }) => format!("reason {reason}"),
        _ => String::new(),
    };
    let mut rows = vec![
        row(
            "leader yielded".into(),
            from.clone(),
            Some(r.yielded_at_ms),
            b.yielded,
            format!("term {}", r.term_before),
        ),
        row(
            "VIP released (old holder)".into(),
            from.clone(),
            released,
            b.released,
            if released.is_some() {
                release_reason
            } else {
                "no release recorded".into()
            },
        ),
    ];
    rows.push(match elected {
        Some(at) => row(
            "new leader elected".into(),
            to.clone(),
            Some(at),
            b.elected,
            format!("term {}", r.term_after),
        ),
        // A node without a VIP controller records no elections: the old leader saw it.
        None => row(
            "new leader elected".into(),
            format!("{from} (saw it)"),
            Some(r.leader_seen_at_ms),
            b.elected,
            format!("term {}", r.term_after),
        ),
    });
    rows.push(row(
        "VIP claimed (new holder)".into(),
        to.clone(),
        claimed,
        b.claimed,
        if claimed.is_some() {
            String::new()
        } else {
            "no claim recorded".into()
        },
    ));
    for (name, p, budget) in [
        ("DHCP answering", &f.dhcp, b.dhcp),
        ("TFTP answering", &f.tftp, b.tftp),
        ("NFS answering", &f.nfs, b.nfs),
    ] {
        rows.push(row(
            name.into(),
            "bootctl".into(),
            p.at_ms,
            budget,
            p.detail.clone(),
        ));
    }
    let holder_check = match f.holders_after.as_slice() {
        [h] if *h == r.new_leader => Ok(()),
        [] => Err("nobody holds the VIP".into()),
        hs => Err(format!(
            "VIP held by {hs:?}, expected node {} alone",
            r.new_leader
        )),
    };
    let passed = rows.iter().all(|r| r.ok) && holder_check.is_ok();
    Timeline {
        t0_ms: f.t0_ms,
        from: r.from,
        to: r.new_leader,
        term_before: r.term_before,
        term_after: r.term_after,
        rows,
        holder_check,
        warnings: r.warnings.clone(),
        passed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at_ms: u64, term: u64, kind: VipEventKind) -> VipEvent {
        VipEvent { at_ms, term, kind }
    }

    fn facts() -> DrillFacts {
        let report = FailoverReport {
            from: 1,
            target: 2,
            named: false,
            new_leader: 2,
            term_before: 4,
            term_after: 5,
            yielded_at_ms: 1_010,
            released_at_ms: Some(1_030),
            campaign_at_ms: Some(1_040),
            leader_seen_at_ms: 1_080,
            resumed_at_ms: 1_090,
            warnings: vec![],
        };
        let mut events = BTreeMap::new();
        events.insert(
            1,
            vec![
                ev(500, 4, VipEventKind::Claimed),
                ev(
                    1_030,
                    4,
                    VipEventKind::Released {
                        reason: "yielding".into(),
                    },
                ),
            ],
        );
        events.insert(
            2,
            vec![
                ev(1_060, 5, VipEventKind::Elected),
                ev(1_120, 5, VipEventKind::Claimed),
            ],
        );
        let ok = |at| ProbeResult {
            at_ms: Some(at),
            detail: String::new(),
        };
        DrillFacts {
            t0_ms: 1_000,
            report,
            events,
            holders_after: vec![2],
            dhcp: ok(1_200),
            tftp: ok(1_210),
            nfs: ok(1_220),
        }
    }

    #[test]
    fn a_clean_failover_passes_with_node_facts() {
        let t = build(&facts(), &Budgets::default());
        assert!(t.passed, "{}", render(&t));
        let at: Vec<Option<i64>> = t.rows.iter().map(|r| r.offset_ms).collect();
        assert_eq!(
            at,
            vec![
                Some(10),
                Some(30),
                Some(60),
                Some(120),
                Some(200),
                Some(210),
                Some(220)
            ]
        );
        assert!(render(&t).contains("drill passed"));
    }

    #[test]
    fn a_missed_budget_a_missing_fact_or_two_holders_fail() {
        let mut f = facts();
        f.nfs.at_ms = Some(9_000);
        let t = build(&f, &Budgets::default());
        assert!(!t.passed);
        assert!(render(&t).contains("drill FAILED: NFS answering"));

        let mut f = facts();
        f.events
            .insert(2, vec![ev(1_060, 5, VipEventKind::Elected)]);
        let t = build(&f, &Budgets::default());
        assert!(!t.passed);
        assert_eq!(t.rows[3].detail, "no claim recorded");

        let mut f = facts();
        f.holders_after = vec![1, 2];
        assert!(!build(&f, &Budgets::default()).passed);

        let mut f = facts();
        f.dhcp = ProbeResult {
            at_ms: None,
            detail: "no answer".into(),
        };
        assert!(!build(&f, &Budgets::default()).passed);
    }

    #[test]
    fn a_release_just_before_the_yield_counts_with_its_reason() {
        let mut f = facts();
        f.report.released_at_ms = None;
        f.events.insert(
            1,
            vec![
                ev(
                    990,
                    4,
                    VipEventKind::Released {
                        reason: "not_leader".into(),
                    },
                ),
                ev(
                    1_005,
                    4,
                    VipEventKind::Released {
                        reason: "quorum_stale".into(),
                    },
                ),
            ],
        );
        let t = build(&f, &Budgets::default());
        assert!(t.passed, "{}", render(&t));
        assert_eq!(t.rows[1].offset_ms, Some(5));
        assert_eq!(t.rows[1].detail, "reason quorum_stale");
        // A release before the request does not count.
        if let Some(e) = f.events.get_mut(&1) {
            e.truncate(1);
        }
        assert!(!build(&f, &Budgets::default()).passed);
    }

    #[test]
    fn the_old_terms_claim_does_not_count() {
        let mut f = facts();
        f.events.insert(2, vec![ev(900, 4, VipEventKind::Claimed)]);
        let t = build(&f, &Budgets::default());
        assert!(!t.rows[3].ok);
        // Without an election event from the new leader, the old leader's sighting counts.
        assert_eq!(t.rows[2].source, "node 1 (saw it)");
    }

    #[test]
    fn budgets_scale() {
        let b = Budgets::default().scaled(2.0);
        assert_eq!(b.nfs, Duration::from_secs(10));
        assert_eq!(b.longest(), Duration::from_secs(10));
    }
}
