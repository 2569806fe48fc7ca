//! The VIP hold rule as a pure function of what Raft last reported and how long ago, and
//! whether this leader is yielding for a planned failover.

use std::time::Duration;

/// What Raft last said, and when (as an age, so the rule needs no clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderView {
    /// This node is the leader in the last report.
    pub is_leader: bool,
    /// `millis_since_quorum_ack` of that report (None: never acknowledged).
    pub quorum_ack_ms: Option<u64>,
    /// Time since the report arrived.
    pub report_age: Duration,
    /// This leader is yielding for a planned failover (`bootctl failover`): it must let go
    /// at once, whatever its quorum says.
    pub yielding: bool,
}

/// What the controller should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Claim,
    Release,
    Keep,
}

/// True when this node may hold the VIP: leader, and the quorum acknowledgement (aged by the
/// report's age) is younger than `hold`.
pub fn may_hold(v: &LeaderView, hold: Duration) -> bool {
    refusal(v, hold).is_none()
}

/// Why this node may not hold the VIP (`None`: it may): `not_leader`, `yielding` or
/// `quorum_stale`. Logged and recorded with every release.
pub fn refusal(v: &LeaderView, hold: Duration) -> Option<&'static str> {
    if !v.is_leader {
        return Some("not_leader");
    }
    if v.yielding {
        return Some("yielding");
    }
    match v.quorum_ack_ms {
        Some(ms) if Duration::from_millis(ms).saturating_add(v.report_age) < hold => None,
        _ => Some("quorum_stale"),
    }
}

/// How much longer the rule allows this node to hold the VIP, from the view's instant
/// (`ZERO` when it may not hold it): the hold window minus the aged quorum acknowledgement.
pub fn valid_for(v: &LeaderView, hold: Duration) -> Duration {
    match (refusal(v, hold), v.quorum_ack_ms) {
        (None, Some(ms)) => {
            hold.saturating_sub(Duration::from_millis(ms).saturating_add(v.report_age))
        }
        _ => Duration::ZERO,
    }
}

/// The action for a node that currently `holds` (or not) the VIP.
pub fn decide(v: &LeaderView, hold: Duration, holds: bool) -> Action {
    match (may_hold(v, hold), holds) {
        (true, false) => Action::Claim,
        (false, true) => Action::Release,
        _ => Action::Keep,
    }
}

/// The longest safe hold window for these Raft timings: shorter than the minimum election
/// timeout by a margin for timer jitter and for removing the address.
pub fn max_hold(election_timeout_min: Duration, margin: Duration) -> Duration {
    election_timeout_min.saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOLD: Duration = Duration::from_millis(300);

    fn v(is_leader: bool, ack: Option<u64>, age_ms: u64) -> LeaderView {
        LeaderView {
            is_leader,
            quorum_ack_ms: ack,
            report_age: Duration::from_millis(age_ms),
            yielding: false,
        }
    }

    #[test]
    fn a_yielding_leader_releases_even_with_a_fresh_quorum() {
        let y = LeaderView {
            yielding: true,
            ..v(true, Some(0), 0)
        };
        assert_eq!(decide(&y, HOLD, true), Action::Release);
        assert_eq!(decide(&y, HOLD, false), Action::Keep);
        assert_eq!(refusal(&y, HOLD), Some("yielding"));
        assert_eq!(refusal(&v(false, Some(0), 0), HOLD), Some("not_leader"));
        assert_eq!(refusal(&v(true, Some(500), 0), HOLD), Some("quorum_stale"));
        assert_eq!(refusal(&v(true, Some(5), 0), HOLD), None);
    }

    #[test]
    fn follower_never_holds() {
        assert_eq!(decide(&v(false, Some(0), 0), HOLD, false), Action::Keep);
        assert_eq!(decide(&v(false, Some(0), 0), HOLD, true), Action::Release);
    }

    #[test]
    fn leader_with_fresh_quorum_claims_and_keeps() {
        assert_eq!(decide(&v(true, Some(20), 10), HOLD, false), Action::Claim);
        assert_eq!(decide(&v(true, Some(20), 10), HOLD, true), Action::Keep);
    }

    #[test]
    fn stale_quorum_or_stale_report_releases() {
        // The quorum acknowledged long ago: a leader cut off from the majority.
        assert_eq!(decide(&v(true, Some(400), 0), HOLD, true), Action::Release);
        // The report itself is old: Raft core stalled (SIGSTOP, stuck disk).
        assert_eq!(decide(&v(true, Some(10), 295), HOLD, true), Action::Release);
        assert_eq!(decide(&v(true, None, 0), HOLD, true), Action::Release);
    }

    proptest! {
        /// Whenever the node may hold, the quorum was heard within the hold window, so no
        /// rival can have been elected yet (hold < election_timeout_min).
        #[test]
        fn holding_implies_recent_quorum(leader: bool, yielding: bool, ack in proptest::option::of(0u64..2000), age in 0u64..2000) {
            let view = LeaderView { yielding, ..v(leader, ack, age) };
            if may_hold(&view, HOLD) {
                prop_assert!(leader);
                prop_assert!(!yielding);
                prop_assert!(ack.unwrap_or(u64::MAX) + age < 300);
            }
        }
    }
}
