//! [`ServeStats`]: counters of one boot-file protocol (TFTP or HTTP), kept as atomics for
//! the Prometheus exporter.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::bootcfg::{PathError, ResolveError};

/// Request, byte and error counters.
#[derive(Debug, Default)]
pub struct ServeStats {
    /// Requests received (reads and refused writes).
    pub requests: AtomicU64,
    /// Payload bytes handed to clients.
    pub bytes: AtomicU64,
    /// Files served to the end.
    pub completed: AtomicU64,
    /// Unknown names.
    pub not_found: AtomicU64,
    /// Paths refused before lookup (`..`, NUL, backslash, too long, ...).
    pub traversal_refused: AtomicU64,
    /// Write (or other non-read) requests refused.
    pub write_refused: AtomicU64,
    /// Reads that hit a corrupt blob (quarantined, nothing bad served).
    pub corrupt: AtomicU64,
    /// Images or blobs not (yet) on this node.
    pub unavailable: AtomicU64,
    /// Other failures (I/O errors, transfers abandoned by the client).
    pub other_errors: AtomicU64,
    /// Requests that did not decode (dropped).
    pub malformed: AtomicU64,
    /// Transfers taken over from another node (TFTP).
    pub resumed: AtomicU64,
}

/// A plain copy of [`ServeStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`ServeStats::requests`].
    pub requests: u64,
    /// See [`ServeStats::bytes`].
    pub bytes: u64,
    /// See [`ServeStats::completed`].
    pub completed: u64,
    /// See [`ServeStats::not_found`].
    pub not_found: u64,
    /// See [`ServeStats::traversal_refused`].
    pub traversal_refused: u64,
    /// See [`ServeStats::write_refused`].
    pub write_refused: u64,
    /// See [`ServeStats::corrupt`].
    pub corrupt: u64,
    /// See [`ServeStats::unavailable`].
    pub unavailable: u64,
    /// See [`ServeStats::other_errors`].
    pub other_errors: u64,
    /// See [`ServeStats::malformed`].
    pub malformed: u64,
    /// See [`ServeStats::resumed`].
    pub resumed: u64,
}

impl ServeStats {
    /// Add one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a resolution failure under its kind.
    pub fn count_resolve_error(&self, e: &ResolveError) {
        Self::bump(match e {
            ResolveError::BadPath(PathError::Empty) => &self.not_found,
            ResolveError::BadPath(_) => &self.traversal_refused,
            ResolveError::NotFound(_) => &self.not_found,
            ResolveError::Unavailable { .. } => &self.unavailable,
        });
    }

    /// Current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            requests: g(&self.requests),
            bytes: g(&self.bytes),
            completed: g(&self.completed),
            not_found: g(&self.not_found),
            traversal_refused: g(&self.traversal_refused),
            write_refused: g(&self.write_refused),
            corrupt: g(&self.corrupt),
            unavailable: g(&self.unavailable),
            other_errors: g(&self.other_errors),
            malformed: g(&self.malformed),
            resumed: g(&self.resumed),
        }
    }
}
