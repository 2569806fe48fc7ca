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
    /// Signalled after each successful claim (the node resumes TFTP transfers then).
    pub claimed: Option<Arc<tokio::sync::Notify>>,
}

impl<B: VipBackend> VipController<B> {
    fn apply(&mut self, action: Action, term: u64, holds: &mut bool) {
        match action {
            Action::Claim => match self.backend.claim() {
                Ok(()) => {
                    *holds = true;
                    self.stats.claims.fetch_add(1, Ordering::Relaxed);
                    self.stats.last_claim_term.store(term, Ordering::Relaxed);
                    tracing::info!(term, "VIP claimed");
                    if let Some(n) = &self.claimed {
                        n.notify_one();
                    }
                }
                Err(e) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(term, error = %e, "VIP claim failed");
                }
            },
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
        loop {
            let view = LeaderView {
                is_leader: last.0.current_leader == Some(last.0.id),
                quorum_ack_ms: last.0.millis_since_quorum_ack,
                report_age: last.1.elapsed(),
            };
            let term = last.0.current_term;
            self.apply(decide(&view, self.hold, holds), term, &mut holds);
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
            self.apply(Action::Release, last.0.current_term, &mut holds);
        }
    }
}
