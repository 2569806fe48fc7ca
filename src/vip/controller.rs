//! The VIP controller loop: feeds the hold rule from openraft's metrics watch and its own
//! timer (a quarter of the hold window), so a leader that stops hearing from a quorum, or
//! whose Raft core stops reporting, releases the VIP before a rival can be elected.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raftboot_raft::Raft;
use tokio_util::sync::CancellationToken;

use super::backend::VipBackend;
use super::decision::{decide, Action, LeaderView};

/// Claim/release counters and the current holding state, for metrics and status.
#[derive(Debug, Default)]
pub struct VipStats {
    pub claims: AtomicU64,
    pub releases: AtomicU64,
    pub errors: AtomicU64,
    pub held: AtomicU64,
    /// The Raft term of the last claim.
    pub last_claim_term: AtomicU64,
}

/// Drives a backend from Raft's view of leadership.
pub struct VipController<B: VipBackend> {
    pub raft: Raft,
    pub hold: Duration,
    pub backend: B,
    pub stats: Arc<VipStats>,
}

impl<B: VipBackend> VipController<B> {
    /// Carry out `action`. `leader_since` is when this controller first saw the node lead
    /// in `term` (logged with a claim, with the claim's own duration, so a failover
    /// timeline can be read from the logs).
    fn apply(
        &mut self,
        action: Action,
        term: u64,
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
                        self.stats.claims.fetch_add(1, Ordering::Relaxed);
                        self.stats.last_claim_term.store(term, Ordering::Relaxed);
                        tracing::info!(
                            term,
                            claim_ms,
                            leader_to_claim_ms = waited_ms,
                            "VIP claimed"
                        );
                    }
                    Err(e) => {
                        self.stats.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(term, error = %e, "VIP claim failed");
                    }
                }
            }
            Action::Release => {
                // Released even if the backend reports an error: the rule says we must not
                // believe we hold it.
                *holds = false;
                self.stats.releases.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = self.backend.release() {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(term, error = %e, "VIP release failed");
                } else {
                    tracing::info!(term, "VIP released");
                }
            }
            Action::Keep => {}
        }
        self.stats.held.store(u64::from(*holds), Ordering::Relaxed);
    }

    /// Run until cancelled; releases the VIP on the way out.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut rx = self.raft.metrics();
        let tick = self.hold / 4;
        let mut holds = false;
        let mut last = (rx.borrow().clone(), Instant::now());
        // (term, when this node was first seen leading in it)
        let mut leading: Option<(u64, Instant)> = None;
        loop {
            let view = LeaderView {
                is_leader: last.0.current_leader == Some(last.0.id),
                quorum_ack_ms: last.0.millis_since_quorum_ack,
                report_age: last.1.elapsed(),
            };
            let term = last.0.current_term;
            if view.is_leader && leading.map(|(t, _)| t) != Some(term) {
                leading = Some((term, last.1));
                tracing::info!(term, "leader; claiming the VIP once a quorum acknowledges");
            }
            let since = leading.filter(|(t, _)| *t == term).map(|(_, at)| at);
            self.apply(decide(&view, self.hold, holds), term, &mut holds, since);
            tokio::select! {
                _ = cancel.cancelled() => break,
                changed = rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    last = (rx.borrow().clone(), Instant::now());
                }
                _ = tokio::time::sleep(tick) => {}
            }
        }
        if holds {
            self.apply(Action::Release, last.0.current_term, &mut holds, None);
        }
    }
}
