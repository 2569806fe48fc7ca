//! Invariant 1: at most one VIP holder at any sampled instant. An ARP sampler in the client
//! namespace ([`crate::arp::ArpSampler`]) broadcasts a numbered who-has for the VIP every
//! 20 ms; two different MACs answering one probe are two holders at that instant.

use super::Verdict;
use crate::arp::ArpSampler;

pub const NAME: &str = "1-vip";

pub fn check(sampler: &ArpSampler) -> Verdict {
    let doubles = sampler.double_holders();
    let probes = sampler.probes();
    let answered = {
        let mut p: Vec<u64> = sampler.replies().iter().map(|r| r.probe).collect();
        p.dedup();
        p.len()
    };
    if doubles.is_empty() {
        Verdict::pass(
            NAME,
            format!("{probes} ARP probes, {answered} answered, never by two MACs"),
        )
    } else {
        let shown: Vec<String> = doubles
            .iter()
            .take(5)
            .map(|(p, macs)| {
                let macs: Vec<String> = macs
                    .iter()
                    .map(|m| {
                        m.iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<Vec<_>>()
                            .join(":")
                    })
                    .collect();
                format!("probe {p}: {}", macs.join(" and "))
            })
            .collect();
        Verdict::fail(
            NAME,
            format!(
                "{} probes answered by two VIP holders: {}",
                doubles.len(),
                shown.join("; ")
            ),
        )
    }
}
