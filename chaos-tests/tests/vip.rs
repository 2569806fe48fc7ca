//! The VIP safety rule with real bootd processes in network namespaces: a client namespace
//! samples ARP for the VIP every 20 ms while the leader is SIGKILLed 20 times (and restarted)
//! and while the leader is partitioned from the other two; at no sample do two MACs answer,
//! and the VIP answers again after every fault.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chaos_tests::arp::ArpSampler;
use chaos_tests::cluster::{Cluster, Spec};
use chaos_tests::lan::Lan;
use chaos_tests::wait;

const T: Duration = Duration::from_secs(30);

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn at_most_one_vip_holder_across_leader_kills_and_a_partition() {
    if !Lan::available() {
        eprintln!("SKIP: network namespaces need root (CI runs as root)");
        return;
    }
    let kills: usize = chaos_tests::env_number("RAFTBOOT_VIP_KILLS", 20);
    let spec = Spec::lan();
    let mut c = Cluster::start(&spec).unwrap();
    let (lan, client_ns) = c.lan.as_ref().map(|(l, n)| (l.clone(), n.clone())).unwrap();
    let lan = &*lan;
    let vip = lan.ip(10);
    let mut arp = ArpSampler::start(lan, &client_ns, lan.ip(100), vip).unwrap();
    c.wait_leader(T).unwrap();
    wait::until("the VIP to answer", T, || {
        arp.first_after(arp.started)
            .map(|_| ())
            .ok_or_else(|| "no reply".to_string())
    })
    .unwrap();

    let mut failovers = Vec::new();
    for k in 0..kills {
        let leader = c.wait_leader(T).unwrap();
        let old_mac = wait::until("a reply from the leader's VIP", T, || {
            let now = Instant::now();
            std::thread::sleep(Duration::from_millis(60));
            arp.first_after(now)
                .map(|r| r.mac)
                .ok_or_else(|| "no reply".to_string())
        })
        .unwrap();
        let killed_at = Instant::now();
        c.kill(leader).unwrap();
        let back = wait::until(
            &format!("the VIP to answer from a new holder after kill {k}"),
            T,
            || {
                arp.replies()
                    .into_iter()
                    .find(|r| r.at > killed_at && r.mac != old_mac)
                    .ok_or_else(|| "not yet".to_string())
            },
        )
        .unwrap();
        failovers.push(back.at.duration_since(killed_at));
        c.start_node(leader).unwrap();
        let all: Vec<u64> = c.nodes.keys().copied().collect();
        c.wait_converged(&all, T).unwrap();
    }

    // Partition the leader from both followers (clients still reach everyone).
    let leader = c.wait_leader(T).unwrap();
    let ln = c.nodes[&leader].ns.clone().unwrap();
    let others: Vec<(String, u8)> = c
        .nodes
        .values()
        .filter(|n| n.id != leader)
        .map(|n| n.ns.clone().unwrap())
        .collect();
    let cut_at = Instant::now();
    for o in &others {
        lan.partition((&ln.0, ln.1), (&o.0, o.1)).unwrap();
    }
    // A new leader among the two, holding the VIP; the old one must have let go.
    let new_leader = wait::until("a new leader in the majority", T, || {
        let ids: Vec<u64> = c.nodes.keys().copied().filter(|id| *id != leader).collect();
        let s = c.status(ids[0]).map_err(|e| e.to_string())?;
        match s.leader {
            Some(l) if l != leader => Ok(l),
            other => Err(format!("{other:?}")),
        }
    })
    .unwrap();
    wait::until("the new leader to hold the VIP", T, || {
        let s = c.status(new_leader).map_err(|e| e.to_string())?;
        if s.vip_holder == Some(new_leader) {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
    .unwrap();
    let old = c.status(leader).unwrap();
    assert_eq!(
        old.vip_holder, None,
        "the partitioned leader still holds the VIP"
    );
    let after_cut = arp.replies().into_iter().filter(|r| r.at > cut_at).count();
    for o in &others {
        lan.heal((&ln.0, ln.1), (&o.0, o.1)).unwrap();
    }
    let all: Vec<u64> = c.nodes.keys().copied().collect();
    c.wait_converged(&all, T).unwrap();
    arp.stop().unwrap();

    let doubles = arp.double_holders();
    let total = arp.replies().len();
    let probes = arp.probes();
    let med = median(&mut failovers.clone());
    let max = failovers.iter().max().copied().unwrap_or_default();
    eprintln!("ARP probes {probes}, replies {total}; failover after SIGKILL over {kills} kills: median {med:?}, max {max:?}; replies after the partition: {after_cut}");
    assert!(doubles.is_empty(), "two VIP holders seen: {doubles:?}");
    assert!(
        probes > 100 && total > 100,
        "too few ARP samples ({probes} probes, {total} replies)"
    );
}
