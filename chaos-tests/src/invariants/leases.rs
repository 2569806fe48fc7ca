//! Invariant 2: no address is leased to two MACs at once, and every lease a client was
//! ACKed is still in the table after any failover. [`LeaseHistory`] collects every ACK the
//! clients saw and every lease table read from every replica at every checkpoint; an
//! address that two MACs held (by ACK or in any table) while the older grant was unexpired
//! is a violation, and so is an ACKed `(address, MAC)` missing from a replica's table.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use super::Verdict;
use crate::storm::AckedLease;

pub const NAME: &str = "2-leases";

/// What one replica's table said at one checkpoint: address -> (MAC, granted, expires).
pub type Table = BTreeMap<Ipv4Addr, (String, u64, u64)>;

/// Everything seen so far.
#[derive(Debug, Default, Clone)]
pub struct LeaseHistory {
    /// address -> (MAC, granted ms, expires ms) of every grant seen in any table.
    grants: BTreeMap<Ipv4Addr, BTreeSet<(String, u64, u64)>>,
    tables_read: usize,
}

impl LeaseHistory {
    /// Add one replica's lease table.
    pub fn add_table(&mut self, state: &raftboot_raft::State) {
        self.tables_read += 1;
        for (ip, l) in &state.leases {
            self.grants.entry(*ip).or_default().insert((
                l.mac.to_string(),
                l.granted_ms,
                l.expires_ms,
            ));
        }
    }

    /// Check the ACKs the clients saw against the history and against `tables` (the
    /// current table of every running replica, after they converged).
    pub fn check(&self, acks: &[AckedLease], tables: &[(u64, raftboot_raft::State)]) -> Verdict {
        let mut bad = Vec::new();
        // Two MACs ACKed one address (leases in these runs outlive the run).
        let mut by_ip: BTreeMap<Ipv4Addr, BTreeSet<&str>> = BTreeMap::new();
        for a in acks {
            by_ip.entry(a.ip).or_default().insert(&a.mac);
        }
        let doubled: Vec<(&Ipv4Addr, &BTreeSet<&str>)> =
            by_ip.iter().filter(|(_, m)| m.len() > 1).collect();
        for (ip, macs) in doubled.iter().take(3) {
            let some: Vec<&str> = macs.iter().take(3).copied().collect();
            bad.push(format!(
                "{ip} was ACKed to {} MACs ({}{})",
                macs.len(),
                some.join(", "),
                if macs.len() > 3 { ", ..." } else { "" }
            ));
        }
        if doubled.len() > 3 {
            bad.push(format!(
                "{} addresses ACKed to two or more MACs in all",
                doubled.len()
            ));
        }
        // Overlapping grants to different MACs in the table history.
        let mut overlaps = 0;
        for (ip, grants) in &self.grants {
            let g: Vec<&(String, u64, u64)> = grants.iter().collect();
            for (i, a) in g.iter().enumerate() {
                for b in &g[i + 1..] {
                    let overlap = a.1 < b.2 && b.1 < a.2;
                    if a.0 != b.0 && overlap {
                        overlaps += 1;
                        if overlaps > 3 {
                            continue;
                        }
                        bad.push(format!(
                            "{ip} held by {} ({}..{}) and {} ({}..{})",
                            a.0, a.1, a.2, b.0, b.1, b.2
                        ));
                    }
                }
            }
        }
        if overlaps > 3 {
            bad.push(format!("{overlaps} overlapping grants in all"));
        }
        // Every ACKed lease is in every replica's table, for the MAC it was ACKed to.
        let mut missing = 0;
        for (id, st) in tables {
            for a in acks {
                match st.leases.get(&a.ip) {
                    Some(l) if l.mac.to_string() == a.mac => {}
                    other => {
                        missing += 1;
                        if missing <= 3 {
                            bad.push(format!(
                                "node {id}: ACKed lease {} -> {} (at +{} ms) is {}",
                                a.ip,
                                a.mac,
                                a.at_ms,
                                match other {
                                    Some(l) => format!("held by {}", l.mac),
                                    None => "missing".into(),
                                }
                            ));
                        }
                    }
                }
            }
        }
        if missing > 3 {
            bad.push(format!("{missing} missing ACKed leases in all"));
        }
        if bad.is_empty() {
            Verdict::pass(
                NAME,
                format!(
                    "{} ACKs to {} addresses, {} lease tables read, {} replicas hold every ACKed lease",
                    acks.len(),
                    by_ip.len(),
                    self.tables_read,
                    tables.len()
                ),
            )
        } else {
            Verdict::fail(NAME, bad.join("; "))
        }
    }
}
