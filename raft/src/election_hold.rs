//! [`ElectionHold`]: pauses this node's campaigning and (as leader) its heartbeats for a
//! bounded time, for a planned leadership move. openraft 0.9 has no leader transfer; a
//! leader "yields" by stopping its heartbeats and its own campaigning, so a follower's
//! leader lease runs out and the chosen target takes over.
//!
//! Every hold ends by itself: a timer restores the configured behaviour (`enable_elect` is
//! false on a witness, so resuming never makes a witness campaign) unless a newer hold or an
//! explicit [`ElectionHold::resume`] superseded it. A leader that dies in the middle of a
//! failover therefore never leaves its peers unable to elect.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::Raft;

/// The longest hold anyone may ask for.
pub const MAX_HOLD: Duration = Duration::from_secs(30);

/// What a hold switches off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Do not campaign when the leader lease runs out.
    pub stop_elect: bool,
    /// Send no heartbeats while there is nothing to replicate (a leader's yield).
    pub stop_heartbeat: bool,
}

/// Pauses and restores openraft's runtime switches (`enable_elect`, `enable_heartbeat`).
pub struct ElectionHold {
    raft: Raft,
    generation: Arc<AtomicU64>,
}

/// The hold length actually used: `for_` capped at [`MAX_HOLD`].
pub fn bounded(for_: Duration) -> Duration {
    for_.min(MAX_HOLD)
}

impl ElectionHold {
    pub fn new(raft: Raft) -> Self {
        Self {
            raft,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Switch off what `hold` names for at most `for_` (capped at [`MAX_HOLD`]); returns the
    /// length used. Needs a tokio runtime (the timer that resumes).
    pub fn hold(&self, hold: Hold, for_: Duration) -> Duration {
        let for_ = bounded(for_);
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let rc = self.raft.runtime_config();
        if hold.stop_elect {
            rc.elect(false);
        }
        if hold.stop_heartbeat {
            rc.heartbeat(false);
        }
        tracing::info!(
            stop_elect = hold.stop_elect,
            stop_heartbeat = hold.stop_heartbeat,
            ms = for_.as_millis() as u64,
            "election hold"
        );
        let raft = self.raft.clone();
        let gen = self.generation.clone();
        tokio::spawn(async move {
            tokio::time::sleep(for_).await;
            if gen.load(Ordering::SeqCst) == generation {
                restore(&raft);
                tracing::info!("election hold expired; configured behaviour restored");
            }
        });
        for_
    }

    /// End any hold now: restore the configured `enable_elect` and `enable_heartbeat`.
    pub fn resume(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        restore(&self.raft);
    }
}

fn restore(raft: &Raft) {
    let cfg = raft.config();
    let rc = raft.runtime_config();
    rc.elect(cfg.enable_elect);
    rc.heartbeat(cfg.enable_heartbeat);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_are_capped() {
        assert_eq!(bounded(Duration::from_secs(600)), MAX_HOLD);
        assert_eq!(
            bounded(Duration::from_millis(1500)),
            Duration::from_millis(1500)
        );
    }
}
