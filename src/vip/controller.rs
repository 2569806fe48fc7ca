//! The VIP controller loop: feeds the hold rule from openraft's metrics watch and its own
//! timer (a quarter of the hold window), so a leader that stops hearing from a quorum, or
//! whose Raft core stops reporting, releases the VIP before a rival can be elected. A
//! planned failover sets [`VipStats::set_yielding`], which wakes the loop and makes it let
//! go at once. Every claim, release and observed election is recorded with its term and
//! time in the node's [`MoveLog`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raftboot_raft::peer::wall_clock_ms;
use raftboot_raft::Raft;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::backend::VipBackend;
use super::decision::{decide, refusal, valid_for, Action, LeaderView};
use super::moves::{MoveLog, VipEvent, VipEventKind};

/// Claim/release counters, the current holding state and the move log, shared with the
/// admin API, the DHCP answer gate and the failover orchestration.
#[derive(Debug, Default)]
pub struct VipStats {
    pub claims: AtomicU64,
    pub releases: AtomicU64,
    pub errors: AtomicU64,
    /// 1 while this node holds the VIP. Cleared *before* the address is removed, set only
    /// after it was added.
    pub held: AtomicU64,
    /// The Raft term of the last claim.
    pub last_claim_term: AtomicU64,
    yielding: AtomicBool,
    /// The controller has evaluated the rule with `yielding` set (and released if it held).
    yield_acked: AtomicBool,
    wake: Notify,
    log: Mutex<MoveLog>,
}

impl VipStats {
    /// True while this node holds the VIP.
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::SeqCst) == 1
    }

    /// Start or end a planned yield; wakes the controller so it acts at once.
    pub fn set_yielding(&self, yielding: bool, term: u64) {
        self.yield_acked.store(false, Ordering::SeqCst);
        self.yielding.store(yielding, Ordering::SeqCst);
        self.record(
            term,
            if yielding {
                VipEventKind::Yielded
            } else {
                VipEventKind::Resumed
            },
        );
        self.wake.notify_one();
    }

    pub fn is_yielding(&self) -> bool {
        self.yielding.load(Ordering::SeqCst)
    }

    /// True once the controller has acted on a yield: no claim is in flight and the VIP is
    /// not (or no longer) held here.
    pub fn yield_acked(&self) -> bool {
        self.yield_acked.load(Ordering::SeqCst)
    }

    /// Append an event stamped with the wall clock now.
    pub fn record(&self, term: u64, kind: VipEventKind) {
        if let Ok(mut log) = self.log.lock() {
            log.push(VipEvent {
                at_ms: wall_clock_ms(),
                term,
                kind,
            });
        }
    }

    /// The kept events, oldest first.
    pub fn events(&self) -> Vec<VipEvent> {
        self.log.lock().map(|l| l.events()).unwrap_or_default()
    }
}

/// Drives a backend from Raft's view of leadership.
pub struct VipController<B: VipBackend> {
    pub raft: Raft,
    pub hold: Duration,
    pub backend: B,
    pub stats: Arc<VipStats>,
    /// Signalled after each successful claim (the node resumes TFTP transfers then).
    pub claimed: Option<Arc<tokio::sync::Notify>>,
}

impl<B: VipBackend> VipController<B> {
    /// Carry out `action` (`reason`: why, for a release). `leader_since` is when this
    /// controller first saw the node lead in `term` (logged with a claim, with the claim's
    /// own duration, so a failover timeline can be read from the logs).
    fn apply(
        &mut self,
        action: Action,
        term: u64,
        reason: &str,
        holds: &mut bool,
        leader_since: Option<Instant>,
    ) {
        match action {
            Action::Claim => {
                let started = Instant::now();
                let result = self.backend.claim();
                let claim_ms = started.elapsed().as_secs_f64() * 1000.0;
                let waited_ms = leader_since
                    .map(|t| started.saturating_duration_since(t).as_secs_f64() * 1000.0)
                    .unwrap_or_default();
                match result {
                    Ok(()) => {
                        *holds = true;
                        self.stats.held.store(1, Ordering::SeqCst);
                        self.stats.claims.fetch_add(1, Ordering::Relaxed);
                        self.stats.last_claim_term.store(term, Ordering::Relaxed);
                        self.stats.record(term, VipEventKind::Claimed);
                        tracing::info!(
                            term,
                            claim_ms,
                            leader_to_claim_ms = waited_ms,
                            "VIP claimed"
                        );
                        if let Some(n) = &self.claimed {
                            n.notify_one();
                        }
                    }
                    Err(e) => {
                        self.stats.errors.fetch_add(1, Ordering::Relaxed);
                        self.stats
                            .record(term, VipEventKind::ClaimFailed { error: e.clone() });
                        tracing::error!(term, error = %e, "VIP claim failed");
                    }
                }
            }
            Action::Release => {
                // Released even if the backend reports an error: the rule says we must not
                // believe we hold it. DHCP stops answering before the address goes.
                *holds = false;
                self.stats.held.store(0, Ordering::SeqCst);
                self.backend.renew(Duration::ZERO);
                self.stats.releases.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = self.backend.release() {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(term, reason, error = %e, "VIP release failed");
                } else {
                    tracing::info!(term, reason, "VIP released");
                }
                self.stats.record(
                    term,
                    VipEventKind::Released {
                        reason: reason.to_string(),
                    },
                );
            }
            Action::Keep => {}
        }
    }

    /// Run until cancelled; releases the VIP on the way out.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut rx = self.raft.metrics();
        let tick = self.hold / 4;
        let mut holds = false;
        let mut elected_term = None;
        let mut last = (rx.borrow().clone(), Instant::now());
        // (term, when this node was first seen leading in it)
        let mut leading: Option<(u64, Instant)> = None;
        loop {
            let is_leader = last.0.current_leader == Some(last.0.id);
            let term = last.0.current_term;
            if is_leader && elected_term != Some(term) {
                elected_term = Some(term);
                self.stats.record(term, VipEventKind::Elected);
            }
            let view = LeaderView {
                is_leader,
                quorum_ack_ms: last.0.millis_since_quorum_ack,
                report_age: last.1.elapsed(),
                yielding: self.stats.is_yielding(),
            };
            if view.is_leader && leading.map(|(t, _)| t) != Some(term) {
                leading = Some((term, last.1));
                tracing::info!(term, "leader; claiming the VIP once a quorum acknowledges");
            }
            let since = leading.filter(|(t, _)| *t == term).map(|(_, at)| at);
            if holds && self.backend.lease_expired() {
                // The guard took the VIP down while this process was not running: release
                // for real (so nothing believes it holds), then claim again if allowed.
                self.apply(Action::Release, term, "lease_expired", &mut holds, None);
            }
            let reason = refusal(&view, self.hold).unwrap_or("");
            self.apply(
                decide(&view, self.hold, holds),
                term,
                reason,
                &mut holds,
                since,
            );
            if holds {
                self.backend.renew(valid_for(&view, self.hold));
            }
            if view.yielding {
                self.stats.yield_acked.store(true, Ordering::SeqCst);
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                changed = rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    last = (rx.borrow().clone(), Instant::now());
                }
                _ = self.stats.wake.notified() => {}
                _ = tokio::time::sleep(tick) => {}
            }
        }
        if holds {
            self.apply(
                Action::Release,
                last.0.current_term,
                "shutdown",
                &mut holds,
                None,
            );
        }
    }
}
