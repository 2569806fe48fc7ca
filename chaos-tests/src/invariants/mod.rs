//! The five invariants of the design, one checker per file, each returning a
//! [`Verdict`]: [`vip`] (1: at most one VIP holder per ARP sample), [`leases`] (2: no
//! address leased to two MACs at once; every ACKed lease still in every replica's table),
//! [`boots`] (3: every boot completes within its budget), [`bytes`] (4: every byte read
//! matches its digest; an NFS handle from one replica reads the same on every replica) and
//! [`convergence`] (5: after healing, the same state digest and blob set everywhere).
//! Scenarios run them after every fault step ([`Checkpoint`]) and after healing.

pub mod boots;
pub mod bytes;
pub mod convergence;
pub mod leases;
pub mod vip;

use serde::Serialize;

/// One checker's result at one checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// `1-vip`, `2-leases`, `3-boots`, `4-bytes`, `5-convergence`.
    pub invariant: &'static str,
    pub ok: bool,
    /// What was checked (counts), or the violations.
    pub detail: String,
}

impl Verdict {
    pub fn pass(invariant: &'static str, detail: impl Into<String>) -> Verdict {
        Verdict {
            invariant,
            ok: true,
            detail: detail.into(),
        }
    }

    pub fn fail(invariant: &'static str, detail: impl Into<String>) -> Verdict {
        Verdict {
            invariant,
            ok: false,
            detail: detail.into(),
        }
    }

    /// A checker that could not observe is a failure too (never a silent pass).
    pub fn from_result(invariant: &'static str, r: anyhow::Result<Verdict>) -> Verdict {
        r.unwrap_or_else(|e| Verdict::fail(invariant, format!("could not check: {e:#}")))
    }
}

/// The verdicts of one checkpoint (after a fault step, or after healing).
#[derive(Debug, Clone, Serialize)]
pub struct Checkpoint {
    /// What had just happened.
    pub after: String,
    pub at_ms: u64,
    pub verdicts: Vec<Verdict>,
}

impl Checkpoint {
    pub fn ok(&self) -> bool {
        self.verdicts.iter().all(|v| v.ok)
    }
}
