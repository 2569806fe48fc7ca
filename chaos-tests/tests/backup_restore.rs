//! Backup and restore with real bootd processes and the real bootctl: a backup of a running
//! three-node cluster with hosts, leases and an image, restored into a fresh cluster, gives
//! the same state digest on every node and the same blob set on every boot server; a second
//! restore is refused without --force; corrupted and truncated backup files are refused
//! with a clear error and leave the cluster unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use chaos_tests::cluster::{Cluster, Spec};
use chaos_tests::invariants::convergence::blob_set;
use chaos_tests::wait;
use raftboot::api::images::ImageView;
use raftboot::api::types::LeaseRequest;
use raftboot_raft::state::{Host, Pool};
use raftboot_raft::{Mac, Response};
use rand::{Rng, RngCore, SeedableRng};

const T: Duration = Duration::from_secs(60);

fn make_tree(dir: &Path, rng: &mut rand::rngs::StdRng) {
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("boot")).unwrap();
    std::fs::write(dir.join("etc/hostname"), "restored\n").unwrap();
    for i in 0..8 {
        // Some blobs over 64 KiB (chunk tables), some small.
        let mut buf = vec![0u8; rng.gen_range(1_000..300_000)];
        rng.fill_bytes(&mut buf);
        std::fs::write(dir.join(format!("boot/file{i}")), buf).unwrap();
    }
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One counter from a node's /metrics.
fn metric(c: &Cluster, id: u64, name: &str) -> u64 {
    let text = ureq::get(&format!("http://{}/metrics", c.nodes[&id].admin))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from node {id}'s metrics"))
}

fn wait_ready(c: &Cluster, name: &str, nodes: usize) {
    wait::until(&format!("image {name} ready on {nodes} nodes"), T, || {
        let v: Vec<ImageView> = c
            .any_client()
            .get("/v1/images")
            .map_err(|e| e.to_string())?;
        match v.iter().find(|v| v.image.name == name) {
            Some(v) if v.ready >= nodes => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .unwrap();
}

/// Hosts, a pool, leases and an image; returns the acknowledged leases (MAC, address).
fn populate(c: &Cluster, rng: &mut rand::rngs::StdRng) -> Vec<(Mac, Ipv4Addr)> {
    let client = c.any_client();
    for i in 0..5u8 {
        let h = Host {
            mac: Mac([0x52, 0x54, 0, 0x10, 0, i]),
            name: format!("web{i}"),
            group: "web".into(),
            ip: (i % 2 == 0).then(|| Ipv4Addr::new(10, 9, 0, 50 + i)),
            boot_file: None,
            kernel_args: Some(format!("console=ttyS{i}")),
        };
        let _: Host = client.post("/v1/hosts", &h).unwrap();
    }
    let pool = Pool {
        name: "lan".into(),
        start: Ipv4Addr::new(10, 9, 0, 100),
        end: Ipv4Addr::new(10, 9, 0, 200),
        prefix: 24,
        router: Some(Ipv4Addr::new(10, 9, 0, 1)),
        dns: vec![Ipv4Addr::new(10, 9, 0, 2)],
    };
    let _: Pool = client.post("/v1/pools", &pool).unwrap();
    let mut leases = Vec::new();
    for _ in 0..12 {
        let mac = Mac([0x52, 0x54, 0, 0x20, rng.gen(), rng.gen()]);
        let r: Response = client
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
            Response::Lease(l) => leases.push((l.mac, l.ip)),
            other => panic!("lease not granted: {other:?}"),
        }
    }
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path(), rng);
    ok(&c
        .bootctl(&[
            "image",
            "import",
            src.path().to_str().unwrap(),
            "--name",
            "web-v1",
            "--group",
            "web",
            "--quiet",
        ])
        .unwrap());
    wait_ready(c, "web-v1", 3);
    leases
}

#[test]
fn backup_restores_into_a_fresh_cluster_with_equal_digests_and_blobs() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(chaos_tests::test_seed());
    let a = Cluster::start(&Spec::default()).unwrap();
    a.wait_leader(T).unwrap();
    let leases = populate(&a, &mut rng);
    let digest_a = a.wait_converged(&[1, 2, 3], T).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.rbk");
    let listed = dir.path().join("listed.rbk");
    let out = ok(&a
        .bootctl(&["--json", "backup", full.to_str().unwrap(), "--with-blobs"])
        .unwrap());
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    eprintln!("backup: {summary}");
    ok(&a.bootctl(&["backup", listed.to_str().unwrap()]).unwrap());
    // Nothing changed in between: the backup is the state every node has.
    assert_eq!(summary["state_digest"].as_str().unwrap(), digest_a);
    assert_eq!(a.wait_converged(&[1, 2, 3], T).unwrap(), digest_a);
    assert_eq!(summary["leases"].as_u64().unwrap(), leases.len() as u64);
    assert_eq!(summary["hosts"].as_u64().unwrap(), 5);
    let blobs_a = blob_set(&a, 1);
    assert_eq!(summary["blobs"].as_u64().unwrap(), blobs_a.len() as u64);
    assert!(
        std::fs::metadata(&full).unwrap().len() > std::fs::metadata(&listed).unwrap().len(),
        "the backup with blobs is larger"
    );

    // A fresh cluster: restore, then every node has the backup's state and every boot
    // server the backup's blobs.
    let b = Cluster::start(&Spec::default()).unwrap();
    b.wait_leader(T).unwrap();
    let out = ok(&b
        .bootctl(&["--json", "restore", full.to_str().unwrap()])
        .unwrap());
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    eprintln!("restore: {report}");
    assert_eq!(report["restored_digest"].as_str().unwrap(), digest_a);
    assert_eq!(report["missing_blobs"].as_u64().unwrap(), 0);
    let digest_b = b.wait_converged(&[1, 2, 3], T).unwrap();
    assert_eq!(digest_b, digest_a, "restored state digest");
    for id in [1, 2, 3] {
        assert_eq!(blob_set(&b, id), blobs_a, "blob set of node {id}");
    }
    let state_b: raftboot_raft::State = b.any_client().get("/v1/state").unwrap();
    for (mac, ip) in &leases {
        let l = state_b.leases.get(ip).expect("lease restored");
        assert_eq!(&l.mac, mac);
    }
    // The restored image is served as before: ready everywhere, active in its group.
    wait_ready(&b, "web-v1", 3);
    assert_eq!(b.wait_converged(&[1, 2, 3], T).unwrap(), digest_a);

    // The cluster now has state: refused without --force, state unchanged.
    let out = b.bootctl(&["restore", listed.to_str().unwrap()]).unwrap();
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already has state"), "{err}");
    // With --force it replaces it (the same state here, so the digest stays).
    ok(&b
        .bootctl(&["restore", listed.to_str().unwrap(), "--force"])
        .unwrap());
    assert_eq!(b.wait_converged(&[1, 2, 3], T).unwrap(), digest_a);
    // Two restores were committed (the refused one never reached a node: bootctl checks
    // first), counted in /metrics.
    let restores: u64 = [1, 2, 3]
        .iter()
        .map(|id| metric(&b, *id, "raftboot_restores_total"))
        .sum();
    assert_eq!(restores, 2);
    assert!(
        metric(&a, 1, "raftboot_backups_served_total")
            + metric(&a, 2, "raftboot_backups_served_total")
            + metric(&a, 3, "raftboot_backups_served_total")
            >= 2
    );

    // Corrupted and truncated files: a clear error, the cluster untouched.
    let bytes = std::fs::read(&full).unwrap();
    let corrupt = dir.path().join("corrupt.rbk");
    let mut c = bytes.clone();
    let at = rng.gen_range(bytes.len() / 2..bytes.len() - 40);
    c[at] ^= 0x40;
    std::fs::write(&corrupt, &c).unwrap();
    let truncated = dir.path().join("truncated.rbk");
    std::fs::write(&truncated, &bytes[..bytes.len() - rng.gen_range(1..1000)]).unwrap();
    let garbage = dir.path().join("garbage.rbk");
    std::fs::write(&garbage, b"not a backup at all").unwrap();
    for (file, want) in [
        (&corrupt, "corrupt"),
        (&truncated, "truncated"),
        (&garbage, "not a raftboot backup"),
    ] {
        for cmd in ["verify-backup", "restore"] {
            let mut args = vec![cmd, file.to_str().unwrap()];
            if cmd == "restore" {
                args.push("--force");
            }
            let out = b.bootctl(&args).unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} {file:?}: {err}");
            assert!(err.contains(want), "{cmd} {file:?}: {err}");
        }
    }
    ok(&b
        .bootctl(&["verify-backup", full.to_str().unwrap()])
        .unwrap());
    assert_eq!(b.wait_converged(&[1, 2, 3], T).unwrap(), digest_a);
}

/// A backup taken while leases are being granted holds every lease acknowledged before
/// `bootctl backup` started (a linearizable read on the leader), and its state is the state
/// of one applied index: decoding it gives exactly the digest in its header.
#[test]
fn backup_under_writes_holds_every_lease_acknowledged_before_it() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let seed = chaos_tests::test_seed();
    let a = Cluster::start(&Spec::default()).unwrap();
    a.wait_leader(T).unwrap();
    let pool = Pool {
        name: "lan".into(),
        start: Ipv4Addr::new(10, 7, 0, 1),
        end: Ipv4Addr::new(10, 7, 200, 250),
        prefix: 16,
        router: None,
        dns: vec![],
    };
    let _: Pool = a.any_client().post("/v1/pools", &pool).unwrap();
    let acked: Arc<Mutex<Vec<(Mac, Ipv4Addr)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (client, acked, stop) = (a.any_client(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            // Bounded: at most 3000 leases.
            for _ in 0..3000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let mac = Mac([0x52, 0x54, 0, 0x50, rng.gen(), rng.gen()]);
                let req = LeaseRequest {
                    mac,
                    pool: "lan".into(),
                    requested: None,
                    lease_secs: 3600,
                };
                if let Ok(Response::Lease(l)) = client.post::<_, Response>("/v1/leases", &req) {
                    acked.lock().unwrap().push((l.mac, l.ip));
                }
            }
        })
    };
    wait::until("some leases granted", T, || {
        let n = acked.lock().unwrap().len();
        if n >= 20 {
            Ok(())
        } else {
            Err(format!("{n}"))
        }
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let before: Vec<(Mac, Ipv4Addr)> = acked.lock().unwrap().clone();
        let file = dir.path().join(format!("b{round}.rbk"));
        ok(&a.bootctl(&["backup", file.to_str().unwrap()]).unwrap());
        let f = std::fs::File::open(&file).unwrap();
        let mut r = raftboot::backup::format::BackupReader::open(f).unwrap();
        let header = r.header().clone();
        let (_, state) = r.read_state().unwrap();
        r.finish().unwrap();
        assert_eq!(state.digest(), header.state_digest);
        for (mac, ip) in &before {
            assert_eq!(
                state.leases.get(ip).map(|l| l.mac),
                Some(*mac),
                "round {round}: lease {ip} acknowledged before the backup is missing"
            );
        }
        eprintln!(
            "round {round}: {} leases acknowledged before, {} in the backup at index {}",
            before.len(),
            state.leases.len(),
            header.applied_index
        );
        assert!(state.leases.len() >= before.len());
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}
