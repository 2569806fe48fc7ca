//! Packet loss and delay on one node's `eth0` with `tc qdisc ... netem loss P% delay D`.
//! Kernels without `sch_netem` (some minimal VM kernels) get a token-bucket filter instead
//! (`tbf`: a slow link whose queue delays and, when full, drops packets); the fault's
//! detail says which one was used, so a report never claims netem where it was not.

use std::process::Command;

use super::{node_ns, run, FaultLog};
use crate::cluster::Cluster;

/// A degraded link.
pub struct LinkFault {
    ns: String,
    index: usize,
    log: FaultLog,
    healed: bool,
    /// `netem` or `tbf`.
    pub qdisc: &'static str,
}

fn tc(ns: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, "tc"]);
    c
}

/// Add `loss_pct`% loss and `delay_ms` delay (+-25% jitter) to node `id`'s outgoing packets.
pub fn degrade(
    c: &Cluster,
    log: &FaultLog,
    id: u64,
    loss_pct: u32,
    delay_ms: u32,
) -> anyhow::Result<LinkFault> {
    let (ns, _) = node_ns(c, id)?;
    let netem = run(tc(&ns).args([
        "qdisc",
        "add",
        "dev",
        "eth0",
        "root",
        "netem",
        "loss",
        &format!("{loss_pct}%"),
        "delay",
        &format!("{delay_ms}ms"),
        &format!("{}ms", delay_ms / 4),
    ]));
    let qdisc = match netem {
        Ok(()) => "netem",
        Err(e) if e.to_string().contains("unknown") => {
            // No sch_netem: a 2 Mbit/s bucket with a queue of about `delay_ms`.
            run(tc(&ns).args([
                "qdisc",
                "add",
                "dev",
                "eth0",
                "root",
                "tbf",
                "rate",
                "2mbit",
                "burst",
                "16kb",
                "latency",
                &format!("{}ms", delay_ms.max(1)),
            ]))?;
            "tbf"
        }
        Err(e) => return Err(e),
    };
    let detail = match qdisc {
        "netem" => format!("netem loss {loss_pct}% delay {delay_ms} ms"),
        _ => format!("tbf 2 Mbit/s, queue {delay_ms} ms (no sch_netem in this kernel)"),
    };
    let index = log.inject("link", Some(id), detail);
    Ok(LinkFault {
        ns,
        index,
        log: log.clone(),
        healed: false,
        qdisc,
    })
}

impl LinkFault {
    pub fn heal(mut self) -> anyhow::Result<()> {
        run(tc(&self.ns).args(["qdisc", "del", "dev", "eth0", "root"]))?;
        self.healed = true;
        self.log.healed(self.index);
        Ok(())
    }
}

impl Drop for LinkFault {
    fn drop(&mut self) {
        if !self.healed {
            let _ = tc(&self.ns)
                .args(["qdisc", "del", "dev", "eth0", "root"])
                .output();
        }
    }
}
