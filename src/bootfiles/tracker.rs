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
    /// Stages seen.
    pub stages: BTreeMap<Stage, StageSeen>,
}

/// The per-machine stage record.
#[derive(Debug, Default)]
pub struct BootTracker {
    inner: Mutex<HashMap<BootKey, BootRecord>>,
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
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !m.contains_key(&key) && m.len() >= MAX_TRACKED {
            if let Some(oldest) = m.iter().min_by_key(|(_, r)| r.last_ms).map(|(k, _)| *k) {
                m.remove(&oldest);
            }
        }
        let rec = m.entry(key).or_default();
        rec.last_ms = now;
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
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        m.get(key).cloned()
    }

    /// Every record, sorted by key.
    pub fn snapshot(&self) -> Vec<(BootKey, BootRecord)> {
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = m.iter().map(|(k, r)| (*k, r.clone())).collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }
}
