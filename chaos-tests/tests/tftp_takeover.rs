//! TFTP transfer takeover through the VIP with real bootd processes in network namespaces:
//! a stock tftp-hpa client (lock-step, 512-byte blocks, re-sends its last ACK every 5 s
//! and gives up after 25 s) fetches an 8 MiB file from the VIP of a three-node cluster
//! over a link slowed with tbf; the serving leader is SIGKILLed mid-file; the node that
//! claims the VIP resumes the transfer on the same port and the client ends with a
//! byte-identical file without asking again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use chaos_tests::cluster::{Cluster, Spec};
use chaos_tests::lan::Lan;
use chaos_tests::wait;
use rand::{RngCore, SeedableRng};

const T: Duration = Duration::from_secs(60);
const FILE: usize = 8 << 20;

#[test]
fn tftp_client_survives_a_leader_kill_mid_file() {
    if !Lan::available() {
        eprintln!("SKIP: network namespaces need root (CI runs as root)");
        return;
    }
    let seed: u64 = rand::random();
    eprintln!("seed {seed}");
    let mut data = vec![0u8; FILE];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("big.bin"), &data).unwrap();

    let spec = Spec::lan();
    let mut c = Cluster::start(&spec).unwrap();
    c.wait_leader(T).unwrap();
    let out = c
        .bootctl(&[
            "image",
            "import",
            src.path().to_str().unwrap(),
            "--name",
            "big",
            "--quiet",
        ])
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.wait_images_ready("the image ready on 3 boot servers", 1, 3, T)
        .unwrap();
    let holder = c.wait_vip_holder(T).unwrap();

    let (lan, client) = c.lan.clone().unwrap();
    let vip = lan.ip(10).to_string();
    // Slow the bridge port towards the client (data to the client at ~0.5 MB/s; the
    // kernel here has tbf but not netem) so the transfer is mid-file when the leader dies.
    let port = client.clone();
    let st = lan
        .cmd(&lan.bridge_ns(), "tc")
        .args(["qdisc", "add", "dev", &port, "root", "tbf", "rate", "4mbit"])
        .args(["burst", "16kb", "latency", "1s"])
        .status()
        .unwrap();
    assert!(st.success(), "tc tbf (iproute2) failed");
    let dst = tempfile::tempdir().unwrap();
    let got_path = dst.path().join("big.bin");
    let mut tftp = lan
        .cmd(&client, "tftp")
        .args(["-m", "binary", &vip, "-c", "get", "images/big/big.bin"])
        .arg(&got_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tftp (tftp-hpa) is needed");
    let started = Instant::now();
    wait::until("the first MiB to arrive", T, || {
        let n = std::fs::metadata(&got_path).map(|m| m.len()).unwrap_or(0);
        if n >= 1 << 20 {
            Ok(())
        } else {
            Err(format!("{n} bytes"))
        }
    })
    .unwrap();
    let at_kill = std::fs::metadata(&got_path).map(|m| m.len()).unwrap_or(0);
    c.kill(holder).unwrap();
    let killed = Instant::now();
    let status = wait::until("the client to finish", Duration::from_secs(180), || {
        tftp.try_wait()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "running".to_string())
    });
    if status.is_err() {
        let _ = tftp.kill();
    }
    let o = tftp.wait_with_output().unwrap();
    let status = status.unwrap();
    let got = std::fs::read(&got_path).unwrap_or_default();
    eprintln!(
        "killed node {holder} at {at_kill} bytes, {:?} into the transfer; client done {:?} after the kill",
        killed - started,
        killed.elapsed()
    );
    assert!(at_kill < FILE as u64, "the transfer ended before the kill");
    assert!(
        status.success() && got == data,
        "client exit {status:?}, {} of {FILE} bytes; {}{}",
        got.len(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let new_holder = c.wait_leader(T).unwrap();
    let log = std::fs::read_to_string(c.log_path(new_holder)).unwrap_or_default();
    assert!(
        log.contains("TFTP transfer taken over"),
        "node {new_holder} (the new holder) logged no takeover"
    );
    let url = format!("http://{}/metrics", c.nodes[&new_holder].admin);
    let metrics = c
        .api(move || {
            ureq::get(&url)
                .call()
                .map_err(|e| e.to_string())
                .and_then(|r| r.into_string().map_err(|e| e.to_string()))
        })
        .unwrap()
        .unwrap();
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    assert_eq!(value("raftboot_tftp_takeover_resumed_total"), Some(1));
    assert_eq!(
        value("raftboot_bootfile_resumed_total{proto=\"tftp\"}"),
        Some(1)
    );
    assert_eq!(
        value("raftboot_bootfile_completed_total{proto=\"tftp\"}"),
        Some(1)
    );
}
