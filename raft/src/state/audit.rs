//! The audit trail: who (admin-API token name) changed what, and when (the leader's time
//! stamp of the log entry). Kept in the replicated state, so every replica holds the same
//! trail and snapshots carry it; bounded to the newest [`AUDIT_MAX`] entries.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// How many entries the trail keeps (the oldest are dropped first).
pub const AUDIT_MAX: usize = 4096;
/// Longest `detail` kept per entry, in bytes (longer ones are cut at a char boundary).
pub const DETAIL_MAX: usize = 240;

/// One accepted state-changing call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Increasing number over the cluster's lifetime (gaps mean dropped old entries).
    pub seq: u64,
    /// The leader's time stamp of the log entry (milliseconds since the Unix epoch).
    pub at_ms: u64,
    /// The token name the call was made with.
    pub actor: String,
    /// What kind of change (`put_host`, `add_member`, ...).
    pub action: String,
    /// A short rendering of the change's arguments.
    pub detail: String,
}

/// The bounded trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuditLog {
    /// Oldest first.
    pub entries: VecDeque<AuditEntry>,
    /// The `seq` of the next entry.
    pub next_seq: u64,
}

/// Cut `s` to at most `max` bytes at a char boundary.
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

impl AuditLog {
    /// Append an entry, dropping the oldest beyond [`AUDIT_MAX`].
    pub fn record(&mut self, at_ms: u64, actor: &str, action: &str, detail: String) {
        self.entries.push_back(AuditEntry {
            seq: self.next_seq,
            at_ms,
            actor: cut(actor.to_string(), 64),
            action: cut(action.to_string(), 64),
            detail: cut(detail, DETAIL_MAX),
        });
        self.next_seq += 1;
        while self.entries.len() > AUDIT_MAX {
            self.entries.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bounded_and_numbered() {
        let mut a = AuditLog::default();
        for i in 0..(AUDIT_MAX as u64 + 10) {
            a.record(i, "ops", "put_host", format!("#{i}"));
        }
        assert_eq!(a.entries.len(), AUDIT_MAX);
        assert_eq!(a.entries.front().unwrap().seq, 10);
        assert_eq!(a.entries.back().unwrap().seq, AUDIT_MAX as u64 + 9);
        assert_eq!(a.next_seq, AUDIT_MAX as u64 + 10);
    }

    #[test]
    fn long_details_are_cut_on_a_char_boundary() {
        let mut a = AuditLog::default();
        a.record(1, "x", "y", "é".repeat(500));
        let d = &a.entries[0].detail;
        assert!(d.len() <= DETAIL_MAX + '…'.len_utf8());
        assert!(d.ends_with('…'));
    }
}
