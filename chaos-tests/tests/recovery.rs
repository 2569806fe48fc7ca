//! Quorum lost for good, with real bootd processes: `bootd recover --i-have-lost-quorum`
//! refuses while a majority of the voters answers (also when the destroyed nodes come back
//! empty); after two of three nodes are killed and their data dirs destroyed it turns the survivor into a one-node cluster that still has
//! every acknowledged host and lease and accepts writes; two fresh nodes then join with
//! `bootctl members add` and converge to the same state digest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::Output;
use std::time::Duration;

use chaos_tests::cluster::{Cluster, Spec};
use raftboot::api::types::LeaseRequest;
use raftboot_raft::state::{Host, Pool};
use raftboot_raft::{Mac, Response};
use rand::{Rng, SeedableRng};

const T: Duration = Duration::from_secs(60);

fn recover(c: &Cluster, id: u64, confirm: bool) -> Output {
    let mut cmd = std::process::Command::new(chaos_tests::bin("bootd").unwrap());
    cmd.args(["recover", "--config"])
        .arg(&c.config)
        .args(["--node-id", &id.to_string()]);
    if confirm {
        cmd.arg("--i-have-lost-quorum");
    }
    let out = cmd.output().unwrap();
    eprintln!(
        "bootd recover on node {id}: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn host(i: u8) -> Host {
    Host {
        mac: Mac([0x52, 0x54, 0, 0x30, 0, i]),
        name: format!("db{i}"),
        group: "db".into(),
        ip: Some(Ipv4Addr::new(10, 8, 0, 20 + i)),
        boot_file: None,
        kernel_args: None,
    }
}

fn lease(c: &Cluster, rng: &mut rand::rngs::StdRng) -> (Mac, Ipv4Addr) {
    let mac = Mac([0x52, 0x54, 0, 0x40, rng.gen(), rng.gen()]);
    let r: Response = c
        .any_client()
        .post(
            "/v1/leases",
            &LeaseRequest {
                mac,
                pool: "lan".into(),
                requested: None,
                lease_secs: 86_400,
            },
        )
        .unwrap();
    match r {
        Response::Lease(l) => (l.mac, l.ip),
        other => panic!("lease not granted: {other:?}"),
    }
}

/// Every acknowledged host and lease is in node `id`'s state.
fn check_all_there(
    c: &Cluster,
    id: u64,
    hosts: &[Host],
    leases: &BTreeMap<Ipv4Addr, Mac>,
) -> raftboot_raft::State {
    let s: raftboot_raft::State = c.client(id).get("/v1/state").unwrap();
    for h in hosts {
        assert_eq!(s.hosts.get(&h.mac), Some(h), "host {} on node {id}", h.name);
    }
    for (ip, mac) in leases {
        let l = s
            .leases
            .get(ip)
            .unwrap_or_else(|| panic!("lease {ip} on node {id}"));
        assert_eq!(&l.mac, mac);
    }
    s
}

#[test]
fn survivor_becomes_a_one_node_cluster_and_fresh_nodes_join() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(chaos_tests::test_seed());
    let mut c = Cluster::start(&Spec::default()).unwrap();
    c.wait_leader(T).unwrap();
    let client = c.any_client();
    let pool = Pool {
        name: "lan".into(),
        start: Ipv4Addr::new(10, 8, 1, 10),
        end: Ipv4Addr::new(10, 8, 1, 250),
        prefix: 16,
        router: None,
        dns: vec![],
    };
    let _: Pool = client.post("/v1/pools", &pool).unwrap();
    let mut hosts = Vec::new();
    for i in 0..6 {
        let _: Host = client.post("/v1/hosts", &host(i)).unwrap();
        hosts.push(host(i));
    }
    let mut leases = BTreeMap::new();
    for _ in 0..20 {
        let (mac, ip) = lease(&c, &mut rng);
        leases.insert(ip, mac);
    }
    c.wait_converged(&[1, 2, 3], T).unwrap();

    // Node 3 stopped, 1 and 2 up: a majority answers, so recovery is refused and nothing
    // is written; the flag is required as well.
    c.stop(3).unwrap();
    let out = recover(&c, 3, false);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--i-have-lost-quorum"));
    let out = recover(&c, 3, true);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("majority is still reachable"),
        "{out:?}"
    );
    c.start_node(3).unwrap();
    let digest = c.wait_converged(&[1, 2, 3], T).unwrap();
    // Recovery on a running node is refused too (its store is locked).
    let out = recover(&c, 3, true);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stop bootd"));

    // Two of three boot servers destroyed: killed, data dirs deleted.
    c.kill(1).unwrap();
    c.kill(2).unwrap();
    c.wipe(1).unwrap();
    c.wipe(2).unwrap();
    c.kill(3).unwrap();
    // The destroyed nodes come back empty and answer: still a reachable majority (they
    // would vote for the survivor), so recovery is refused.
    c.start_node(1).unwrap();
    c.start_node(2).unwrap();
    chaos_tests::wait::until("the wiped nodes to answer", T, || {
        c.status(1).and(c.status(2)).map_err(|e| e.to_string())
    })
    .unwrap();
    let out = recover(&c, 3, true);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("majority is still reachable"));
    c.kill(1).unwrap();
    c.kill(2).unwrap();
    c.wipe(1).unwrap();
    c.wipe(2).unwrap();
    let out = recover(&c, 3, true);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("now the only voter"));

    // The survivor leads alone, with every acknowledged host and lease, and takes writes.
    c.start_node(3).unwrap();
    assert_eq!(c.wait_leader(T).unwrap(), 3);
    let s = check_all_there(&c, 3, &hosts, &leases);
    assert_eq!(
        s.digest(),
        digest,
        "the survivor's state is the state before"
    );
    let st = c.status(3).unwrap();
    assert_eq!(st.members.iter().map(|m| m.id).collect::<Vec<_>>(), vec![3]);
    let _: Host = c.any_client().post("/v1/hosts", &host(9)).unwrap();
    hosts.push(host(9));
    let (mac, ip) = lease(&c, &mut rng);
    leases.insert(ip, mac);

    // Two fresh nodes (empty data dirs) join as usual.
    for id in [1, 2] {
        c.start_node(id).unwrap();
        let n = c.nodes[&id].clone();
        // Through the survivor: the fresh node's own API knows no leader yet.
        let out = std::process::Command::new(chaos_tests::bin("bootctl").unwrap())
            .args(["--api", &c.nodes[&3].admin, "--token-file"])
            .arg(c.dir.path().join("admin.token"))
            .args([
                "members",
                "add",
                &id.to_string(),
                &n.name,
                "--peer",
                &n.peer,
                "--admin",
                &n.admin,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "members add {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    c.wait_converged(&[1, 2, 3], T).unwrap();
    let st = c.status(1).unwrap();
    let voters: Vec<u64> = st
        .members
        .iter()
        .filter(|m| m.voter)
        .map(|m| m.id)
        .collect();
    assert_eq!(voters, vec![1, 2, 3]);
    for id in [1, 2, 3] {
        check_all_there(&c, id, &hosts, &leases);
    }
    // The rebuilt cluster survives losing its former survivor.
    c.kill(3).unwrap();
    let leader = c.wait_leader(T).unwrap();
    assert_ne!(leader, 3);
    let (mac, ip) = lease(&c, &mut rng);
    leases.insert(ip, mac);
    c.start_node(3).unwrap();
    c.wait_converged(&[1, 2, 3], T).unwrap();
    check_all_there(&c, 3, &hosts, &leases);
}

/// Why recovery refuses when the destroyed nodes come back empty: the survivor, started
/// normally, leads them (they vote for it) and they catch up with every acknowledged write.
#[test]
fn empty_nodes_that_answer_are_led_by_the_survivor_without_recovery() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(chaos_tests::test_seed());
    let mut c = Cluster::start(&Spec::default()).unwrap();
    c.wait_leader(T).unwrap();
    let pool = Pool {
        name: "lan".into(),
        start: Ipv4Addr::new(10, 8, 1, 10),
        end: Ipv4Addr::new(10, 8, 1, 250),
        prefix: 16,
        router: None,
        dns: vec![],
    };
    let _: Pool = c.any_client().post("/v1/pools", &pool).unwrap();
    let hosts = vec![host(1), host(2)];
    for h in &hosts {
        let _: Host = c.any_client().post("/v1/hosts", h).unwrap();
    }
    let mut leases = BTreeMap::new();
    for _ in 0..5 {
        let (mac, ip) = lease(&c, &mut rng);
        leases.insert(ip, mac);
    }
    let digest = c.wait_converged(&[1, 2, 3], T).unwrap();
    for id in [1, 2, 3] {
        c.kill(id).unwrap();
    }
    c.wipe(1).unwrap();
    c.wipe(2).unwrap();
    c.start_node(1).unwrap();
    c.start_node(2).unwrap();
    chaos_tests::wait::until("the wiped nodes to answer", T, || {
        c.status(1).and(c.status(2)).map_err(|e| e.to_string())
    })
    .unwrap();
    let out = recover(&c, 3, true);
    assert_eq!(out.status.code(), Some(1));
    c.start_node(3).unwrap();
    assert_eq!(c.wait_converged(&[1, 2, 3], T).unwrap(), digest);
    for id in [1, 2, 3] {
        check_all_there(&c, id, &hosts, &leases);
    }
}
