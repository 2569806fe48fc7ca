//! [`DhcpStats`]: the DHCP server's counters (lock-free, read at scrape time) and their
//! Prometheus text rendering.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::ParseError;
use super::reply::ReplyKind;

/// Policy drop reasons that get their own label; others count as `other`.
pub const DROP_REASONS: [&str; 14] = [
    "unknown_client",
    "no_registration_group",
    "no_pool",
    "other_server",
    "no_requested_address",
    "no_lease",
    "declined_fixed_address",
    "decline_outside_pool",
    "pool_exhausted",
    "unexpected_response",
    "busy",
    "not_pxe_client",
    "proxy_not_answered",
    "other",
];

/// Counters of one node's DHCP server.
#[derive(Debug, Default)]
pub struct DhcpStats {
    /// Datagrams received.
    pub received: AtomicU64,
    /// Datagrams refused by the decoder, by [`ParseError::REASONS`].
    pub malformed: [AtomicU64; ParseError::REASONS.len()],
    /// Well-formed requests this node did not answer because another node answers.
    pub dropped_not_leader: AtomicU64,
    /// Requests the policy stayed silent on, by [`DROP_REASONS`].
    pub dropped: [AtomicU64; DROP_REASONS.len()],
    pub offers: AtomicU64,
    pub acks: AtomicU64,
    pub naks: AtomicU64,
    pub releases: AtomicU64,
    pub declines: AtomicU64,
    /// Lease commits through Raft.
    pub raft_commits: AtomicU64,
    /// Lease commits that failed (no leader, timeout): no reply was sent.
    pub raft_errors: AtomicU64,
    /// Replies that could not be encoded or sent.
    pub send_errors: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl DhcpStats {
    pub fn count_malformed(&self, e: &ParseError) {
        let i = ParseError::REASONS
            .iter()
            .position(|r| *r == e.reason())
            .unwrap_or(0);
        if let Some(c) = self.malformed.get(i) {
            bump(c);
        }
    }

    pub fn count_drop(&self, reason: &str) {
        let i = DROP_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(DROP_REASONS.len() - 1);
        if let Some(c) = self.dropped.get(i) {
            bump(c);
        }
    }

    pub fn count_reply(&self, kind: ReplyKind) {
        bump(match kind {
            ReplyKind::Offer => &self.offers,
            ReplyKind::Ack => &self.acks,
            ReplyKind::Nak => &self.naks,
        });
    }

    /// Total of the malformed counters.
    pub fn malformed_total(&self) -> u64 {
        self.malformed
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Append the counters in Prometheus text format.
    pub fn render(&self, o: &mut String) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut one = |name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        one(
            "raftboot_dhcp_received_total",
            "DHCP datagrams received.",
            get(&self.received),
        );
        one(
            "raftboot_dhcp_dropped_not_leader_total",
            "Requests left to the node that answers.",
            get(&self.dropped_not_leader),
        );
        one(
            "raftboot_dhcp_raft_commits_total",
            "Lease commits through Raft.",
            get(&self.raft_commits),
        );
        one(
            "raftboot_dhcp_raft_errors_total",
            "Lease commits that failed (request not answered).",
            get(&self.raft_errors),
        );
        one(
            "raftboot_dhcp_send_errors_total",
            "Replies that could not be encoded or sent.",
            get(&self.send_errors),
        );
        one(
            "raftboot_dhcp_naks_total",
            "DHCPNAKs sent.",
            get(&self.naks),
        );
        let _ = writeln!(
            o,
            "# HELP raftboot_dhcp_malformed_total Datagrams refused by the decoder, by reason.\n\
             # TYPE raftboot_dhcp_malformed_total counter"
        );
        for (r, c) in ParseError::REASONS.iter().zip(&self.malformed) {
            let _ = writeln!(
                o,
                "raftboot_dhcp_malformed_total{{reason=\"{r}\"}} {}",
                get(c)
            );
        }
        let _ = writeln!(
            o,
            "# HELP raftboot_dhcp_replies_total Replies sent, by message type.\n\
             # TYPE raftboot_dhcp_replies_total counter"
        );
        for (t, c) in [
            ("offer", &self.offers),
            ("ack", &self.acks),
            ("nak", &self.naks),
        ] {
            let _ = writeln!(o, "raftboot_dhcp_replies_total{{type=\"{t}\"}} {}", get(c));
        }
        let _ = writeln!(
            o,
            "# HELP raftboot_dhcp_handled_total Releases and declines committed.\n\
             # TYPE raftboot_dhcp_handled_total counter"
        );
        for (t, c) in [("release", &self.releases), ("decline", &self.declines)] {
            let _ = writeln!(o, "raftboot_dhcp_handled_total{{type=\"{t}\"}} {}", get(c));
        }
        let _ = writeln!(
            o,
            "# HELP raftboot_dhcp_dropped_total Requests not answered by policy, by reason.\n\
             # TYPE raftboot_dhcp_dropped_total counter"
        );
        for (r, c) in DROP_REASONS.iter().zip(&self.dropped) {
            let _ = writeln!(
                o,
                "raftboot_dhcp_dropped_total{{reason=\"{r}\"}} {}",
                get(c)
            );
        }
    }
}
