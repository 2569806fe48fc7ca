//! Partitions: node `id` cut from some peers but not others. Each cut pair gets blackhole
//! routes to the other's address in both namespaces (IP traffic between them is dropped;
//! ARP and every other host, the client namespace included, still reach both). Healing
//! deletes exactly those routes.

use super::{node_ns, FaultLog};
use crate::cluster::Cluster;

/// An active partition.
pub struct Partition {
    lan: std::sync::Arc<crate::lan::Lan>,
    pairs: Vec<((String, u8), (String, u8))>,
    index: usize,
    log: FaultLog,
    healed: bool,
}

/// Cut node `id` from each node in `from`.
pub fn cut(c: &Cluster, log: &FaultLog, id: u64, from: &[u64]) -> anyhow::Result<Partition> {
    let lan = c
        .lan
        .as_ref()
        .map(|(l, _)| l.clone())
        .ok_or_else(|| anyhow::anyhow!("partitions need a LAN cluster"))?;
    let a = node_ns(c, id)?;
    let mut p = Partition {
        lan,
        pairs: vec![],
        index: usize::MAX,
        log: log.clone(),
        healed: false,
    };
    for other in from {
        let b = node_ns(c, *other)?;
        p.lan.partition((&a.0, a.1), (&b.0, b.1))?;
        p.pairs.push((a.clone(), b));
    }
    p.index = log.inject("partition", Some(id), format!("cut from nodes {from:?}"));
    Ok(p)
}

impl Partition {
    /// Remove the routes.
    pub fn heal(mut self) -> anyhow::Result<()> {
        for (a, b) in &self.pairs {
            self.lan.heal((&a.0, a.1), (&b.0, b.1))?;
        }
        self.healed = true;
        self.log.healed(self.index);
        Ok(())
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        if !self.healed {
            for (a, b) in &self.pairs {
                let _ = self.lan.heal((&a.0, a.1), (&b.0, b.1));
            }
        }
    }
}
