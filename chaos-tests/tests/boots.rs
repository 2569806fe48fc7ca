//! `bootctl boots` against a real loopback cluster: boot-file requests served over HTTP
//! boot by two different nodes show up as one machine's timeline, named from the host
//! table, filtered by `--host`, and counted in `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use chaos_tests::cluster::{Cluster, Spec};

const MAC: &str = "52:54:00:99:00:07";

fn http_port(c: &Cluster, id: u64) -> u16 {
    cluster_config::NodeConfig::load(&c.config, Some(id))
        .unwrap()
        .this_node()
        .services
        .http_port
}

fn curl(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "10", url])
        .output()
        .expect("curl (Debian package curl)");
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn boots_merges_every_nodes_stages_per_host() {
    let c = Cluster::start(&Spec::default()).unwrap();
    c.wait_leader(Duration::from_secs(30)).unwrap();
    let out = c
        .bootctl(&[
            "hosts", "add", MAC, "web-7", "--group", "web", "--ip", "10.0.0.7",
        ])
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.wait_converged(&[1, 2, 3], Duration::from_secs(20))
        .unwrap();

    // Node 1 serves the chain script, node 2 the host's own script (as after a VIP move).
    let dashed = MAC.replace(':', "-");
    let chain = curl(&format!("http://127.0.0.1:{}/boot.ipxe", http_port(&c, 1)));
    assert!(chain.starts_with("#!ipxe"), "{chain}");
    let script = curl(&format!(
        "http://127.0.0.1:{}/ipxe/{dashed}.ipxe",
        http_port(&c, 2)
    ));
    assert!(script.starts_with("#!ipxe"), "{script}");
    curl(&format!(
        "http://127.0.0.1:{}/ipxe/{dashed}.ipxe",
        http_port(&c, 2)
    ));

    let out = c.bootctl(&["boots", "--json"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let machines = report["machines"].as_array().unwrap();
    let web7 = machines
        .iter()
        .find(|m| m["key"] == MAC)
        .unwrap_or_else(|| panic!("no timeline for {MAC}: {report:#}"));
    assert_eq!(web7["host"], "web-7", "{report:#}");
    let events = web7["events"].as_array().unwrap();
    let by_node: Vec<(&str, &str, u64)> = events
        .iter()
        .map(|e| {
            (
                e["node"].as_str().unwrap(),
                e["stage"].as_str().unwrap(),
                e["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(by_node.contains(&("node2", "config", 2)), "{report:#}");
    // The chain script named no MAC and 127.0.0.1 is no host: keyed by address.
    assert!(
        machines
            .iter()
            .any(|m| m["key"] == "127.0.0.1" && m["events"][0]["node"] == "node1"),
        "{report:#}"
    );

    // --host filters by name; the table shows the merged timeline.
    let out = c.bootctl(&["boots", "--host", "web-7"]).unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with(&format!("web-7 {MAC}")), "{table}");
    assert!(!table.contains("127.0.0.1 at"), "{table}");
    assert!(
        table.contains("node2") && table.contains("config"),
        "{table}"
    );

    // The same requests are in node 2's /metrics.
    let metrics = curl(&format!("http://{}/metrics", c.nodes[&2].admin));
    let line = metrics
        .lines()
        .find(|l| l.starts_with("raftboot_bootfile_requests_total{proto=\"http\"}"))
        .unwrap_or_else(|| panic!("no HTTP boot-file counter:\n{metrics}"));
    let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 2, "{line}");
    assert!(metrics.contains("raftboot_boots_tracked 1"), "{metrics}");
}

fn ports(c: &Cluster, id: u64) -> cluster_config::Services {
    let cfg = cluster_config::NodeConfig::load(&c.config, Some(id)).unwrap();
    cfg.this_node().services.clone()
}

#[test]
fn a_simulated_pxe_boot_walks_every_stage_and_boots_shows_it() {
    use chaos_tests::bootsim::BootSim;
    let c = Cluster::start(&Spec::default()).unwrap();
    c.wait_leader(Duration::from_secs(30)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (demo, loaders) = (dir.path().join("demo"), dir.path().join("loaders"));
    raftboot::demo_image::build(&demo).unwrap();
    let n = raftboot::demo_image::build_loaders(&loaders).unwrap();
    assert!(
        n > 0,
        "no boot loaders found: install pxelinux and syslinux-common"
    );
    assert!(
        demo.join("vmlinuz").exists(),
        "no kernel in /boot for the demo image: install linux-image-amd64"
    );
    let run = |args: &[&str]| {
        let out = c.bootctl(args).unwrap();
        assert!(
            out.status.success(),
            "bootctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "image",
        "import",
        demo.to_str().unwrap(),
        "--name",
        "demo",
        "--group",
        "default",
    ]);
    run(&[
        "image",
        "import",
        loaders.to_str().unwrap(),
        "--name",
        "bootloaders",
    ]);
    run(&[
        "hosts",
        "add",
        "52:54:00:99:00:08",
        "web-8",
        "--group",
        "default",
        "--ip",
        "10.0.0.8",
    ]);
    c.wait_converged(&[1, 2, 3], Duration::from_secs(30))
        .unwrap();

    // Whichever node leads answers DHCP (a broadcast reaches all three); the boot files and
    // the NFS root come from node 3, which must have replicated every blob by then.
    let p3 = ports(&c, 3);
    let mut sim = BootSim::new(
        "52:54:00:99:00:08".parse().unwrap(),
        (1..=3)
            .map(|id| {
                format!("127.0.0.1:{}", ports(&c, id).dhcp_port)
                    .parse()
                    .unwrap()
            })
            .collect(),
        "127.0.0.1:0".parse().unwrap(),
    );
    sim.tftp_port = p3.tftp_port;
    sim.portmap_port = p3.portmap_port;
    sim.nfs_files = vec!["init".into(), "etc/raftboot-demo".into()];
    // Replication to node 3 may still be running: a missing blob is a TFTP error, so retry
    // the whole boot a bounded number of times.
    let report =
        chaos_tests::wait::until("a complete simulated boot", Duration::from_secs(60), || {
            sim.run().map_err(|e| format!("{e:#}"))
        })
        .unwrap();
    println!("{}", report.render());
    let stages: Vec<&str> = report.steps.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(
        stages,
        [
            "dhcp",
            "loader",
            "loader",
            "config",
            "kernel",
            "initrd",
            "nfs-mount",
            "nfs-read",
            "nfs-read"
        ]
    );
    assert_eq!(report.ip, Some("10.0.0.8".parse().unwrap()));
    let size = |rel: &str| std::fs::metadata(demo.join(rel)).unwrap().len();
    let kernel = report.steps.iter().find(|s| s.stage == "kernel").unwrap();
    assert_eq!(kernel.bytes, size("vmlinuz"));
    let reads: Vec<u64> = report
        .steps
        .iter()
        .filter(|s| s.stage == "nfs-read")
        .map(|s| s.bytes)
        .collect();
    assert_eq!(reads, [size("init"), size("etc/raftboot-demo")]);

    // The DHCP server that answered noted the OFFER and the ACK under the MAC and host name.
    let out = c.bootctl(&["boots", "--host", "web-8", "--json"]).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stages: Vec<&str> = v["machines"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    for s in ["dhcp-offer", "dhcp-ack", "config"] {
        assert!(stages.contains(&s), "{s} missing: {v:#}");
    }
    assert_eq!(
        v["machines"][0]["events"][0]["stage"], "dhcp-offer",
        "{v:#}"
    );

    // Node 3 saw the file stages and the NFS mount (keyed by the loopback address the client
    // used).
    let out = c
        .bootctl(&["boots", "--host", "127.0.0.1", "--json"])
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_addr = v["machines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "127.0.0.1")
        .unwrap_or_else(|| panic!("no record keyed by 127.0.0.1: {v:#}"));
    let seen: Vec<&str> = by_addr["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"] == "node3")
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    for s in ["loader", "kernel", "initrd", "nfs-mount"] {
        assert!(seen.contains(&s), "{s} missing: {v:#}");
    }
}
