//! [`TransferRegistry`]: the transfers peers reported as running, kept so that the node
//! that claims the VIP can take them over. Pure data: the caller passes the time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::record::TransferRecord;

/// Most records kept (a bound against a misbehaving peer).
pub const MAX_RECORDS: usize = 4096;

/// How long a record lives without news: a stock pxelinux client re-sends its last ACK
/// for about two minutes, after that there is nobody left to take over.
pub const RECORD_TTL: Duration = Duration::from_secs(150);

/// Running transfers reported by peers, keyed by client and server port.
#[derive(Debug, Default)]
pub struct TransferRegistry {
    records: Mutex<HashMap<(SocketAddr, u16), (TransferRecord, Instant)>>,
}

impl TransferRegistry {
    /// An empty registry.
    pub fn new() -> TransferRegistry {
        TransferRegistry::default()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(SocketAddr, u16), (TransferRecord, Instant)>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record a start or a progress report (a report never moves progress back).
    /// Returns false when the registry is full and the record is new.
    pub fn note(&self, record: TransferRecord, now: Instant) -> bool {
        let mut m = self.lock();
        m.retain(|_, (_, seen)| now.saturating_duration_since(*seen) < RECORD_TTL);
        let key = record.key();
        let full = m.len() >= MAX_RECORDS;
        match m.get_mut(&key) {
            Some((old, seen)) => {
                let acked = old.acked.max(record.acked);
                *old = TransferRecord { acked, ..record };
                *seen = now;
                true
            }
            None if full => false,
            None => {
                m.insert(key, (record, now));
                true
            }
        }
    }

    /// Forget a transfer that ended.
    pub fn remove(&self, key: (SocketAddr, u16)) {
        self.lock().remove(&key);
    }

    /// Take every record younger than [`RECORD_TTL`] out of the registry (the caller
    /// resumes them).
    pub fn take_live(&self, now: Instant) -> Vec<TransferRecord> {
        let mut m = self.lock();
        m.drain()
            .filter(|(_, (_, seen))| now.saturating_duration_since(*seen) < RECORD_TTL)
            .map(|(_, (r, _))| r)
            .collect()
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::cas::Digest;
    use crate::tftp::record::Content;

    fn rec(port: u16, acked: u64) -> TransferRecord {
        TransferRecord {
            client: "10.0.0.100:2000".parse().unwrap(),
            server_port: port,
            path: "k".into(),
            content: Content::Blob(Digest::of(b"x")),
            size: 10,
            blksize: 512,
            windowsize: 1,
            timeout_ms: 1000,
            acked,
        }
    }

    #[test]
    fn progress_never_goes_back_and_records_expire() {
        let r = TransferRegistry::new();
        let t0 = Instant::now();
        assert!(r.note(rec(1, 5), t0));
        assert!(r.note(rec(1, 3), t0));
        assert!(r.note(rec(2, 0), t0));
        r.remove(rec(2, 0).key());
        assert_eq!(r.len(), 1);
        let live = r.take_live(t0 + Duration::from_secs(1));
        assert_eq!(live, vec![rec(1, 5)]);
        assert!(r.is_empty());
        r.note(rec(3, 0), t0);
        assert!(r.take_live(t0 + RECORD_TTL).is_empty());
    }

    #[test]
    fn bounded() {
        let r = TransferRegistry::new();
        let t0 = Instant::now();
        for p in 0..MAX_RECORDS as u16 {
            assert!(r.note(rec(p, 0), t0));
        }
        assert!(!r.note(rec(u16::MAX, 0), t0));
        assert!(r.note(rec(0, 9), t0), "updates still land");
    }
}
