//! Image import and replication with real bootd processes and the real bootctl: every boot
//! server becomes ready, a node that was down catches up by itself, a corrupt blob is never
//! served and is repaired from a peer, an interrupted import registers nothing and can be
//! re-run, and a full disk makes one replica not-ready with a reason while the others serve.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use chaos_tests::cluster::{Cluster, Spec};
use chaos_tests::wait;
use raftboot::api::images::ImageView;
use rand::{RngCore, SeedableRng};

const T: Duration = Duration::from_secs(60);

/// A small root tree: nested dirs, duplicate files, an executable, a symlink.
fn make_tree(dir: &Path, files: usize, size: usize, seed: u64) {
    use std::os::unix::fs::PermissionsExt;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("usr/bin")).unwrap();
    std::fs::write(dir.join("etc/hostname"), "web\n").unwrap();
    std::fs::write(dir.join("etc/hostname.copy"), "web\n").unwrap();
    std::fs::write(dir.join("usr/bin/hello"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(
        dir.join("usr/bin/hello"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("usr/bin", dir.join("bin")).unwrap();
    for i in 0..files {
        let mut buf = vec![0u8; size];
        rng.fill_bytes(&mut buf);
        std::fs::write(dir.join(format!("usr/data{i:04}")), buf).unwrap();
    }
}

fn images(c: &Cluster) -> Vec<ImageView> {
    c.any_client().get("/v1/images").unwrap()
}

fn wait_ready(c: &Cluster, name: &str, nodes: usize) -> ImageView {
    wait::until(&format!("image {name} ready on {nodes} nodes"), T, || {
        let v = images(c)
            .into_iter()
            .find(|v| v.image.name == name)
            .ok_or("not registered")?;
        if v.ready >= nodes {
            Ok(v)
        } else {
            Err(format!("{v:?}"))
        }
    })
    .unwrap()
}

fn import(c: &Cluster, tree: &Path, name: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "image",
        "import",
        tree.to_str().unwrap(),
        "--name",
        name,
        "--quiet",
    ];
    args.extend_from_slice(extra);
    c.bootctl(&args).unwrap()
}

#[test]
fn import_replicates_activates_and_a_returning_node_catches_up() {
    let mut c = Cluster::start(&Spec::default()).unwrap();
    c.wait_leader(T).unwrap();
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path(), 20, 100_000, 1);
    let out = import(&c, src.path(), "web-v1", &["--group", "web"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = wait_ready(&c, "web-v1", 3);
    assert_eq!(v.active_in, vec!["web".to_string()]);
    // Every boot server holds the same blob set (the duplicate file is stored once).
    let names = |id| {
        c.blob_files(id)
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(1), names(2));
    assert_eq!(names(1), names(3));
    // 20 data files, hostname (its copy is deduplicated), hello, and the manifest.
    assert_eq!(names(1).len(), 20 + 2 + 1);

    // Node 3 is down during the next import; it fetches the blobs when it returns.
    c.kill(3).unwrap();
    let src2 = tempfile::tempdir().unwrap();
    make_tree(src2.path(), 10, 50_000, 2);
    let out = import(&c, src2.path(), "web-v2", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_ready(&c, "web-v2", 2);
    let out = c
        .bootctl(&["image", "activate", "web-v2", "--group", "web"])
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.start_node(3).unwrap();
    let v = wait_ready(&c, "web-v2", 3);
    assert!(v.readiness.iter().any(|(id, r)| *id == 3 && r.ready));
    // Rollback, and removal refused while active.
    let out = c.bootctl(&["image", "rm", "web-v2"]).unwrap();
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = c.bootctl(&["image", "rollback", "--group", "web"]).unwrap();
    assert!(out.status.success());
    let groups: serde_json::Value =
        serde_json::from_slice(&c.bootctl(&["groups", "list", "--json"]).unwrap().stdout).unwrap();
    assert_eq!(groups[0]["active_image"], "web-v1");
}

#[test]
fn corrupt_blob_is_never_served_and_is_repaired_from_a_peer() {
    let c = Cluster::start(&Spec::default()).unwrap();
    c.wait_leader(T).unwrap();
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path(), 4, 300_000, 3);
    assert!(import(&c, src.path(), "img", &[]).status.success());
    wait_ready(&c, "img", 3);
    // Flip one byte of the largest blob on node 2's disk.
    let victim = c
        .blob_files(2)
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let good = std::fs::read(&victim).unwrap();
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 0xff;
    std::fs::write(&victim, &bad).unwrap();
    let digest: [u8; 32] = raftboot::cas::Digest::of(&good).0;
    // A peer asking node 2 for that blob gets an error, never the bad bytes.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let auth = raftboot_raft::peer::PeerAuth::new(&c.cluster_name, 1, c.secret.as_bytes());
    let mut client = raftboot_raft::peer::PeerClient::new(auth, 2, c.nodes[&2].peer.clone());
    let req = raftboot_raft::peer::PeerRequest::FetchBlob {
        digest,
        offset: 0,
        len: raftboot_raft::peer::MAX_BLOB_READ,
    };
    let resp = rt
        .block_on(client.call(&req, Duration::from_secs(10)))
        .unwrap();
    match resp {
        raftboot_raft::peer::PeerResponse::Blob(Err(m)) => assert!(m.contains("corrupt"), "{m}"),
        other => panic!(
            "corrupt blob was served: {:?}",
            matches!(other, raftboot_raft::peer::PeerResponse::Blob(Ok(_)))
        ),
    }
    // Node 2 repairs it from a peer by itself.
    wait::until("node 2 to repair the blob", T, || {
        match std::fs::read(&victim) {
            Ok(b) if b == good => Ok(()),
            _ => Err("not repaired yet".into()),
        }
    })
    .unwrap();
    wait_ready(&c, "img", 3);
}

#[test]
fn interrupted_import_registers_nothing_and_can_be_rerun() {
    let c = Cluster::start(&Spec::default()).unwrap();
    c.wait_leader(T).unwrap();
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path(), 300, 200_000, 4);
    let apis: Vec<String> = vec![c.nodes[&1].admin.clone()];
    let mut child = std::process::Command::new(chaos_tests::bin("bootctl").unwrap())
        .args(["--api", &apis.join(","), "--token-file"])
        .arg(c.dir.path().join("admin.token"))
        .args([
            "image",
            "import",
            src.path().to_str().unwrap(),
            "--name",
            "big",
            "--quiet",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill the client once the upload is under way.
    wait::until("the upload to start", T, || {
        if c.blob_files(1).len() >= 5 {
            Ok(())
        } else {
            Err("no blobs yet".into())
        }
    })
    .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    let uploaded = c.blob_files(1).len();
    assert!(
        uploaded < 300,
        "the import finished before it was interrupted ({uploaded} blobs)"
    );
    assert!(
        images(&c).is_empty(),
        "a half-uploaded image was registered"
    );
    // Re-run: completes, uploading only what is missing.
    let out = c
        .bootctl(&[
            "--json",
            "image",
            "import",
            src.path().to_str().unwrap(),
            "--name",
            "big",
        ])
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["uploaded_blobs"].as_u64().unwrap() < 300, "{r}");
    wait_ready(&c, "big", 3);
}

/// A tmpfs mounted over one node's blob store, unmounted on drop.
struct SmallDisk(PathBuf);
impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_makes_one_replica_not_ready_while_the_others_serve() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIP: mounting a small tmpfs needs root (CI runs as root)");
        return;
    }
    let mut c = Cluster::start(&Spec::default()).unwrap();
    c.wait_leader(T).unwrap();
    c.stop(3).unwrap();
    let cas = c.data_dir(3).join("cas");
    std::fs::remove_dir_all(&cas).unwrap();
    std::fs::create_dir_all(&cas).unwrap();
    let st = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=1m",
            "raftboot-test-full",
            cas.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let _guard = SmallDisk(cas.clone());
    c.start_node(3).unwrap();
    c.wait_leader(T).unwrap();
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path(), 8, 400_000, 5);
    let out = import(&c, src.path(), "fat", &["--group", "web"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = wait::until("node 3 to report not-ready with a reason", T, || {
        let v = images(&c)
            .into_iter()
            .find(|v| v.image.name == "fat")
            .ok_or("missing")?;
        let r3 = v
            .readiness
            .iter()
            .find(|(id, _)| *id == 3)
            .map(|(_, r)| r.clone());
        match r3 {
            Some(r) if !r.ready && r.reason.is_some() => Ok((v, r)),
            other => Err(format!("{other:?}")),
        }
    })
    .unwrap();
    let reason = v.1.reason.unwrap();
    assert!(
        reason.to_lowercase().contains("space") || reason.contains("full"),
        "reason not clear: {reason}"
    );
    assert_eq!(v.0.ready, 2, "the other replicas are ready");
    assert_eq!(
        v.0.active_in,
        vec!["web".to_string()],
        "activation with a majority ready"
    );
}
