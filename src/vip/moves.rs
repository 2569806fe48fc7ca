//! [`MoveLog`]: the last VIP moves one node made, with the Raft term and the wall-clock
//! time, for `bootctl status` and the failover drill's timeline. The facts come from the
//! node that acted (its controller), never from a client's guess.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// How many events a node keeps.
pub const KEEP: usize = 32;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum VipEventKind {
    /// The controller saw this node become leader of `term`.
    Elected,
    /// The VIP was added here.
    Claimed,
    /// The VIP was removed here, and why (not_leader, quorum_stale, yielding, shutdown).
    Released { reason: String },
    /// Adding the VIP failed.
    ClaimFailed { error: String },
    /// This leader started a planned yield (bootctl failover).
    Yielded,
    /// The planned yield ended.
    Resumed,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipEvent {
    /// Milliseconds since the Unix epoch, on this node's clock.
    pub at_ms: u64,
    /// The Raft term this node was in.
    pub term: u64,
    #[serde(flatten)]
    pub kind: VipEventKind,
}

impl VipEvent {
    /// A short name for tables: elected, claimed, released, claim_failed, yielded, resumed.
    pub fn name(&self) -> &'static str {
        match self.kind {
            VipEventKind::Elected => "elected",
            VipEventKind::Claimed => "claimed",
            VipEventKind::Released { .. } => "released",
            VipEventKind::ClaimFailed { .. } => "claim_failed",
            VipEventKind::Yielded => "yielded",
            VipEventKind::Resumed => "resumed",
        }
    }
}

/// A bounded log of the newest [`KEEP`] events, oldest first.
#[derive(Debug, Default, Clone)]
pub struct MoveLog {
    events: VecDeque<VipEvent>,
}

impl MoveLog {
    pub fn push(&mut self, e: VipEvent) {
        if self.events.len() == KEEP {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    /// Every kept event, oldest first.
    pub fn events(&self) -> Vec<VipEvent> {
        self.events.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_events_in_order() {
        let mut log = MoveLog::default();
        for i in 0..(KEEP as u64 + 5) {
            log.push(VipEvent {
                at_ms: i,
                term: 1,
                kind: VipEventKind::Claimed,
            });
        }
        let ev = log.events();
        assert_eq!(ev.len(), KEEP);
        assert_eq!(ev.first().map(|e| e.at_ms), Some(5));
        assert_eq!(ev.last().map(|e| e.at_ms), Some(KEEP as u64 + 4));
    }

    #[test]
    fn events_round_trip_as_json() {
        let e = VipEvent {
            at_ms: 7,
            term: 3,
            kind: VipEventKind::Released {
                reason: "yielding".into(),
            },
        };
        let s = serde_json::to_string(&e).unwrap_or_default();
        assert!(s.contains("\"kind\":\"released\""), "{s}");
        let back: Result<VipEvent, _> = serde_json::from_str(&s);
        assert_eq!(back.ok(), Some(e));
    }
}
