//! [`BootTracker`]: per machine, the boot stages (loader, config, kernel, initrd) seen and
//! when — an in-memory, bounded record of what each client fetched from this node.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use raftboot_raft::Mac;

use crate::bootcfg::Stage;

/// Most machines tracked; the least recently seen is dropped beyond this.
pub const MAX_TRACKED: usize = 4096;

/// Who fetched: the MAC when it is known (from the path or the state), else the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BootKey {
    /// A known machine.
    Mac(Mac),
    /// A client whose MAC this node cannot tell.
    Ip(IpAddr),
}

impl fmt::Display for BootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootKey::Mac(m) => write!(f, "{m}"),
            BootKey::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// One stage of one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageSeen {
    /// First request, ms since the epoch.
    pub first_ms: u64,
    /// Latest request, ms since the epoch.
    pub last_ms: u64,
    /// Requests of this stage.
    pub count: u64,
    /// The path of the latest request.
    pub last_path: String,
}

/// Everything seen of one machine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BootRecord {
    /// Latest request of any stage, ms since the epoch.
    pub last_ms: u64,
    /// The client address of the latest request.
    pub last_addr: Option<IpAddr>,
    /// Position of the latest request in this tracker's request order (for eviction).
    pub last_seq: u64,
    /// Stages seen.
    pub stages: BTreeMap<Stage, StageSeen>,
}

/// The per-machine stage record.
#[derive(Debug, Default)]
pub struct BootTracker {
    inner: Mutex<Records>,
}

#[derive(Debug, Default)]
struct Records {
    by_key: HashMap<BootKey, BootRecord>,
    seq: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl BootTracker {
    /// Note that `key` (at `addr`) requested `path` of `stage` now.
    pub fn record(&self, key: BootKey, addr: IpAddr, stage: Stage, path: &str) {
        let now = now_ms();
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.seq += 1;
        let seq = g.seq;
        let m = &mut g.by_key;
        if !m.contains_key(&key) && m.len() >= MAX_TRACKED {
            if let Some(oldest) = m.iter().min_by_key(|(_, r)| r.last_seq).map(|(k, _)| *k) {
                m.remove(&oldest);
            }
        }
        let rec = m.entry(key).or_default();
        rec.last_ms = now;
        rec.last_seq = seq;
        rec.last_addr = Some(addr);
        let s = rec.stages.entry(stage).or_insert_with(|| StageSeen {
            first_ms: now,
            last_ms: now,
            count: 0,
            last_path: String::new(),
        });
        s.last_ms = now;
        s.count += 1;
        path.clone_into(&mut s.last_path);
    }

    /// The record of one machine.
    pub fn get(&self, key: &BootKey) -> Option<BootRecord> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.by_key.get(key).cloned()
    }

    /// How many machines are tracked.
    pub fn len(&self) -> usize {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.by_key.len()
    }

    /// Whether no machine is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every record, sorted by key.
    pub fn snapshot(&self) -> Vec<(BootKey, BootRecord)> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = g.by_key.iter().map(|(k, r)| (*k, r.clone())).collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn records_stages_per_machine_and_evicts_the_least_recent() {
        let t = BootTracker::default();
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5));
        let mac = BootKey::Mac(Mac([1, 2, 3, 4, 5, 6]));
        t.record(mac, ip, Stage::Loader, "pxelinux.0");
        t.record(mac, ip, Stage::Config, "pxelinux.cfg/01-01-02-03-04-05-06");
        t.record(mac, ip, Stage::Kernel, "images/a/vmlinuz");
        t.record(mac, ip, Stage::Kernel, "images/a/vmlinuz");
        let r = t.get(&mac).unwrap();
        assert_eq!(
            r.stages.keys().copied().collect::<Vec<_>>(),
            vec![Stage::Loader, Stage::Config, Stage::Kernel]
        );
        assert_eq!(r.stages[&Stage::Kernel].count, 2);
        assert_eq!(r.last_addr, Some(ip));
        assert!(r.stages[&Stage::Loader].first_ms <= r.last_ms);
        for i in 0..MAX_TRACKED {
            let key = BootKey::Ip(IpAddr::V4(Ipv4Addr::from(i as u32 + 1)));
            t.record(key, ip, Stage::Loader, "x");
        }
        assert_eq!(t.snapshot().len(), MAX_TRACKED);
        assert!(t.get(&mac).is_none(), "the oldest record was dropped");
    }
}
