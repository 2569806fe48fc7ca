//! [`RaftTimings`]: the `[raft]` table — heartbeat, election timeouts, snapshot
//! policy and the VIP hold window — with defaults and the safety rules between them.

use std::ops::Range;

use toml::Spanned;

use super::wire::WireRaft;
use crate::source::Source;
use crate::ConfigError;

/// Raft and VIP timing parameters, all in milliseconds or log entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftTimings {
    /// Leader heartbeat interval (default 50).
    pub heartbeat_ms: u64,
    /// Lower bound of the randomized election timeout (default 250).
    pub election_timeout_min_ms: u64,
    /// Upper bound of the randomized election timeout (default 400). openraft 0.9 also uses
    /// it as the leader lease: a follower stands for election only after
    /// `election_timeout_max_ms` + its own random timeout without a heartbeat, so a leader
    /// SIGKILL costs roughly max + min..max before a new leader exists.
    pub election_timeout_max_ms: u64,
    /// Take a snapshot after this many log entries since the last one (default 5000).
    pub snapshot_logs_since_last: u64,
    /// Log entries kept behind a snapshot for slow followers (default 1000).
    pub max_in_snapshot_log_to_keep: u64,
    /// How long a leader keeps the VIP without hearing from a quorum. Always longer than
    /// `heartbeat_ms` (else the VIP would drop between two heartbeats) and shorter than
    /// `election_timeout_min_ms`, so the old holder has released the VIP before any new
    /// leader can be elected (default 6/10 of it).
    pub vip_hold_ms: u64,
}

/// The defaults are for boot servers on one LAN (sub-millisecond round trips): a leader
/// SIGKILL moves the VIP in well under a second (docs/benchmarks.md, failover-bench). Across
/// slower links raise all four together, keeping heartbeat < hold < election minimum.
impl Default for RaftTimings {
    fn default() -> Self {
        let election_timeout_min_ms = 250;
        RaftTimings {
            heartbeat_ms: 50,
            election_timeout_min_ms,
            election_timeout_max_ms: 400,
            snapshot_logs_since_last: 5000,
            max_in_snapshot_log_to_keep: 1000,
            vip_hold_ms: default_vip_hold_ms(election_timeout_min_ms),
        }
    }
}

/// The default VIP hold window for a minimum election timeout.
fn default_vip_hold_ms(election_timeout_min_ms: u64) -> u64 {
    election_timeout_min_ms.saturating_mul(6) / 10
}

impl RaftTimings {
    /// Applies defaults to `[raft]` and checks the ordering rules.
    pub(crate) fn from_wire(
        src: &Source<'_>,
        wire: Option<&Spanned<WireRaft>>,
    ) -> Result<Self, ConfigError> {
        let empty = WireRaft::default();
        let table_span = wire.map(Spanned::span);
        let w = wire.map_or(&empty, Spanned::get_ref);
        let d = RaftTimings::default();
        let get =
            |v: &Option<Spanned<u64>>, default: u64| v.as_ref().map_or(default, |s| *s.get_ref());
        let min = get(&w.election_timeout_min_ms, d.election_timeout_min_ms);
        let t = RaftTimings {
            heartbeat_ms: get(&w.heartbeat_ms, d.heartbeat_ms),
            election_timeout_min_ms: min,
            election_timeout_max_ms: get(&w.election_timeout_max_ms, d.election_timeout_max_ms),
            snapshot_logs_since_last: get(&w.snapshot_logs_since_last, d.snapshot_logs_since_last),
            max_in_snapshot_log_to_keep: get(
                &w.max_in_snapshot_log_to_keep,
                d.max_in_snapshot_log_to_keep,
            ),
            vip_hold_ms: get(&w.vip_hold_ms, default_vip_hold_ms(min)),
        };
        // Point at the first of the given keys that is present, else the table.
        let at = |keys: &[(&str, &Option<Spanned<u64>>)], message: String| {
            let found = keys
                .iter()
                .find_map(|(k, v)| v.as_ref().map(|s| (*k, s.span())));
            let (key, span): (&str, Option<Range<usize>>) = match found {
                Some((k, s)) => (k, Some(s)),
                None => (keys.first().map_or("", |(k, _)| *k), table_span.clone()),
            };
            src.error(span, format!("raft.{key}"), message)
        };
        let hb = ("heartbeat_ms", &w.heartbeat_ms);
        let emin = ("election_timeout_min_ms", &w.election_timeout_min_ms);
        let emax = ("election_timeout_max_ms", &w.election_timeout_max_ms);
        let hold = ("vip_hold_ms", &w.vip_hold_ms);
        let snap = ("snapshot_logs_since_last", &w.snapshot_logs_since_last);
        if t.heartbeat_ms == 0 {
            return Err(at(&[hb], "heartbeat_ms must be greater than 0".into()));
        }
        if t.election_timeout_min_ms <= t.heartbeat_ms {
            return Err(at(
                &[emin, hb],
                format!(
                    "election_timeout_min_ms ({}) must be greater than heartbeat_ms ({})",
                    t.election_timeout_min_ms, t.heartbeat_ms
                ),
            ));
        }
        if t.election_timeout_max_ms <= t.election_timeout_min_ms {
            return Err(at(
                &[emax, emin],
                format!(
                    "election_timeout_max_ms ({}) must be greater than election_timeout_min_ms ({})",
                    t.election_timeout_max_ms, t.election_timeout_min_ms
                ),
            ));
        }
        if t.vip_hold_ms >= t.election_timeout_min_ms {
            return Err(at(
                &[hold, emin],
                format!(
                    "vip_hold_ms ({}) must be less than election_timeout_min_ms ({}): a leader \
                     cut off from the cluster must drop the VIP before a new leader can be elected",
                    t.vip_hold_ms, t.election_timeout_min_ms
                ),
            ));
        }
        if t.vip_hold_ms <= t.heartbeat_ms {
            return Err(at(
                &[hold, hb, emin],
                format!(
                    "vip_hold_ms ({}) must be greater than heartbeat_ms ({}): a leader would \
                     drop the VIP between two heartbeats",
                    t.vip_hold_ms, t.heartbeat_ms
                ),
            ));
        }
        if t.snapshot_logs_since_last == 0 {
            return Err(at(
                &[snap],
                "snapshot_logs_since_last must be greater than 0".into(),
            ));
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<RaftTimings, ConfigError> {
        #[derive(serde::Deserialize)]
        struct Doc {
            raft: Option<Spanned<WireRaft>>,
        }
        let doc: Doc = toml::from_str(text).unwrap();
        RaftTimings::from_wire(&Source::new(Path::new("r.toml"), text), doc.raft.as_ref())
    }

    #[test]
    fn defaults() {
        let d = RaftTimings::default();
        assert_eq!(d.vip_hold_ms, 150);
        assert!(d.heartbeat_ms < d.vip_hold_ms && d.vip_hold_ms < d.election_timeout_min_ms);
        assert_eq!(parse("").unwrap(), d);
        assert_eq!(parse("[raft]\n").unwrap(), d);
    }

    #[test]
    fn hold_defaults_from_election_min() {
        let t = parse("[raft]\nelection_timeout_min_ms = 1000\nelection_timeout_max_ms = 2000\n")
            .unwrap();
        assert_eq!(t.vip_hold_ms, 600);
    }

    #[test]
    fn rules() {
        let e = parse("[raft]\nheartbeat_ms = 0\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (2, "raft.heartbeat_ms"));
        let e = parse("[raft]\nheartbeat_ms = 500\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (2, "raft.heartbeat_ms"));
        let e = parse("[raft]\n\nelection_timeout_min_ms = 1000\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_str()),
            (3, "raft.election_timeout_min_ms")
        );
        let e = parse("[raft]\nelection_timeout_min_ms = 300\nvip_hold_ms = 300\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (3, "raft.vip_hold_ms"));
        assert!(e
            .message
            .contains("must be less than election_timeout_min_ms"));
        let e = parse("[raft]\nheartbeat_ms = 100\nvip_hold_ms = 100\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (3, "raft.vip_hold_ms"));
        assert!(e.message.contains("must be greater than heartbeat_ms"));
        // A heartbeat longer than the default hold window (150) without a hold set.
        let e = parse("[raft]\nheartbeat_ms = 200\n").unwrap_err();
        assert!(e.message.contains("must be greater than heartbeat_ms"));
        let e = parse("[raft]\nsnapshot_logs_since_last = 0\n").unwrap_err();
        assert_eq!(e.key, "raft.snapshot_logs_since_last");
    }
}
