//! The replicated core under faults, with real bootd processes on loopback:
//! acknowledged writes survive a leader SIGKILL, a killed node rejoins and converges, a wiped
//! node is re-added and catches up through a snapshot, and a witness never leads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chaos_tests::cluster::{Cluster, Spec};
use chaos_tests::wait;
use raftboot::api::types::LeaseRequest;
use raftboot::ctl::client::CtlError;
use raftboot_raft::state::{Host, Pool};
use raftboot_raft::{Mac, Response, State};
use rand::{Rng, SeedableRng};

const T: Duration = Duration::from_secs(30);

/// What a client was told: the write is in the cluster.
#[derive(Debug, Clone)]
enum Acked {
    Host(Host),
    Lease { mac: Mac, ip: Ipv4Addr },
}

fn check_acked(state: &State, acked: &[Acked], node: u64) {
    for a in acked {
        match a {
            Acked::Host(h) => assert_eq!(
                state.hosts.get(&h.mac),
                Some(h),
                "node {node} lost acknowledged host {}",
                h.mac
            ),
            Acked::Lease { mac, ip } => {
                let l = state
                    .leases
                    .get(ip)
                    .unwrap_or_else(|| panic!("node {node} lost acknowledged lease {ip}"));
                assert_eq!(&l.mac, mac, "node {node}: lease {ip} moved to another MAC");
            }
        }
    }
}

#[test]
fn acknowledged_writes_survive_leader_kill_and_killed_node_converges() {
    let seed = chaos_tests::test_seed();
    let mut c = Cluster::start(&Spec::default()).unwrap();
    let leader = c.wait_leader(T).unwrap();
    let pool = Pool {
        name: "p".into(),
        start: Ipv4Addr::new(10, 1, 0, 0),
        end: Ipv4Addr::new(10, 1, 15, 255),
        prefix: 16,
        router: None,
        dns: vec![],
    };
    c.any_client().post::<_, Pool>("/v1/pools", &pool).unwrap();

    const WRITERS: usize = 8;
    const TOTAL: usize = 1000;
    let acked = Arc::new(Mutex::new(Vec::<Acked>::new()));
    let attempts = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let apis: Vec<String> = c.nodes.values().map(|n| n.admin.clone()).collect();
    let token = c.token.clone();
    let mut handles = vec![];
    for w in 0..WRITERS {
        let (acked, attempts, failed, apis, token) = (
            acked.clone(),
            attempts.clone(),
            failed.clone(),
            apis.clone(),
            token.clone(),
        );
        handles.push(std::thread::spawn(move || {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed.wrapping_add(w as u64));
            for i in 0..TOTAL / WRITERS {
                attempts.fetch_add(1, Ordering::Relaxed);
                // Any node: followers forward to the leader.
                let api = apis[rng.gen_range(0..apis.len())].clone();
                let client = raftboot::ctl::client::AdminClient::new(vec![api], token.clone());
                let mac = Mac([0x02, w as u8, (i >> 8) as u8, i as u8, rng.gen(), 1]);
                let res = if i % 2 == 0 {
                    let h = Host {
                        mac,
                        name: format!("w{w}-{i}"),
                        group: "web".into(),
                        ip: None,
                        boot_file: None,
                        kernel_args: None,
                    };
                    client
                        .post::<_, Host>("/v1/hosts", &h)
                        .map(|_| Acked::Host(h))
                } else {
                    let req = LeaseRequest {
                        mac,
                        pool: "p".into(),
                        requested: None,
                        lease_secs: 86_400,
                    };
                    client
                        .post::<_, Response>("/v1/leases", &req)
                        .and_then(|r| match r {
                            Response::Lease(l) => Ok(Acked::Lease { mac, ip: l.ip }),
                            other => Err(CtlError::Other(format!("{other:?}"))),
                        })
                };
                match res {
                    Ok(a) => acked.lock().unwrap().push(a),
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    // Kill the leader partway through.
    wait::until("300 acknowledged writes", T, || {
        let n = acked.lock().unwrap().len();
        if n >= 300 {
            Ok(())
        } else {
            Err(format!("{n} acked"))
        }
    })
    .unwrap();
    c.kill(leader).unwrap();
    killed.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    eprintln!(
        "attempts {}, acknowledged {}, failed {}",
        attempts.load(Ordering::Relaxed),
        acked.len(),
        failed.load(Ordering::Relaxed)
    );
    assert_eq!(attempts.load(Ordering::Relaxed), TOTAL);
    assert!(acked.len() > 300, "too few writes acknowledged");

    let new_leader = c.wait_leader(T).unwrap();
    assert_ne!(new_leader, leader);
    let survivors = c.running();
    c.wait_converged(&survivors, T).unwrap();
    for id in &survivors {
        let st: State = c.client(*id).get("/v1/state").unwrap();
        check_acked(&st, &acked, *id);
    }

    // The killed node rejoins from its data dir and converges byte for byte.
    c.start_node(leader).unwrap();
    let all: Vec<u64> = c.nodes.keys().copied().collect();
    c.wait_converged(&all, T).unwrap();
    let out = c.bootctl(&["status", "--json"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let js: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let digests: Vec<String> = js["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"]["state_digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(digests.len(), 3);
    assert!(
        digests.iter().all(|d| d == &digests[0]),
        "digests differ: {digests:?}"
    );
    let st: State = c.client(leader).get("/v1/state").unwrap();
    check_acked(&st, &acked, leader);
}

#[test]
fn wiped_node_is_readded_and_catches_up_through_a_snapshot() {
    let spec = Spec {
        snapshot_logs_since_last: 50,
        max_in_snapshot_log_to_keep: 0,
        ..Spec::default()
    };
    let mut c = Cluster::start(&spec).unwrap();
    c.wait_leader(T).unwrap();
    let put = |c: &Cluster, i: u32| {
        let h = Host {
            mac: Mac([0x02, 9, 0, (i >> 8) as u8, i as u8, 0]),
            name: format!("h{i}"),
            group: "g".into(),
            ip: None,
            boot_file: None,
            kernel_args: None,
        };
        c.any_client().post::<_, Host>("/v1/hosts", &h).unwrap();
    };
    for i in 0..120 {
        put(&c, i);
    }
    // Node 3 loses its disk.
    c.kill(3).unwrap();
    c.wipe(3).unwrap();
    let out = c.bootctl(&["members", "remove", "3"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for i in 120..240 {
        put(&c, i);
    }
    let s = c.status(1).unwrap();
    assert!(
        !s.members.iter().any(|m| m.id == 3),
        "node 3 still a member: {:?}",
        s.members
    );
    // It comes back empty and is added again: learner, then voter.
    c.start_node(3).unwrap();
    let n3 = c.nodes[&3].clone();
    let out = c
        .bootctl(&[
            "members", "add", "3", "node3", "--peer", &n3.peer, "--admin", &n3.admin,
        ])
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.wait_converged(&[1, 2, 3], T).unwrap();
    let s3 = c.status(3).unwrap();
    assert!(
        s3.snapshots_installed >= 1,
        "node 3 caught up without a snapshot: {s3:?}"
    );
    assert_eq!(s3.hosts, 240);
    let s1 = c.status(1).unwrap();
    assert!(
        s1.members.iter().any(|m| m.id == 3 && m.voter),
        "node 3 is not a voter again: {:?}",
        s1.members
    );
}

#[test]
fn witness_never_becomes_leader() {
    let spec = Spec {
        witnesses: vec![3],
        ..Spec::default()
    };
    let mut c = Cluster::start(&spec).unwrap();
    let first = c.wait_leader(T).unwrap();
    assert_ne!(first, 3);
    // Watch the witness the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let led = Arc::new(AtomicUsize::new(0));
    let samples = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (stop, led, samples) = (stop.clone(), led.clone(), samples.clone());
        let client = c.client(3);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(s) = client.get::<raftboot::api::types::NodeStatus>("/v1/status") {
                    samples.fetch_add(1, Ordering::Relaxed);
                    if s.server_state == "Leader" || s.leader == Some(3) {
                        led.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    // Kill the leader: the other boot server takes over with the witness's vote.
    c.kill(first).unwrap();
    let second = c.wait_leader(T).unwrap();
    assert!(
        second != 3 && second != first,
        "leader after kill: {second}"
    );
    // Kill the other boot server too: the witness is alone and must not lead. Observe it
    // for ten maximum election timeouts.
    c.kill(second).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_millis(10 * spec.election_max_ms);
    while std::time::Instant::now() < deadline {
        let s = c.status(3).unwrap();
        assert_ne!(s.server_state, "Leader");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Bring back the boot server with the newest log: it leads again, never the witness.
    // (The other one has an older log than the witness, so the witness would refuse to vote
    // for it, and a witness never campaigns: see docs/ARCHITECTURE.md, "Witness".)
    c.start_node(second).unwrap();
    let third = c.wait_leader(T).unwrap();
    assert_eq!(third, second);
    // The first boot server rejoins as a follower.
    c.start_node(first).unwrap();
    c.wait_converged(&[first, second, 3], T).unwrap();
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    assert!(
        samples.load(Ordering::Relaxed) > 20,
        "watcher barely sampled"
    );
    assert_eq!(led.load(Ordering::Relaxed), 0, "the witness led");
}
