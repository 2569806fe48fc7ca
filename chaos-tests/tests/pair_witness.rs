//! Pair + witness (cluster-config/examples/pair-witness.toml's shape) in network namespaces:
//! two boot servers and a witness on one bridge. Losing either boot server still leaves a
//! leader and a VIP holder, and a simulated PXE client in the client namespace boots the
//! whole chain (DHCP broadcast, TFTP of loader/config/kernel/initrd from the VIP, NFS root
//! from the VIP) from the survivor. The witness never leads and never holds the VIP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chaos_tests::bootsim::BootSim;
use chaos_tests::cluster::{Cluster, Spec};
use chaos_tests::lan::Lan;
use chaos_tests::wait;
use raftboot::api::images::ImageView;

const T: Duration = Duration::from_secs(30);
const MAC: &str = "52:54:00:77:00:01";

/// Boot the simulated machine from the client namespace; returns the report's table.
fn boot(c: &Cluster) -> Result<String, String> {
    let (lan, client) = c.lan.as_ref().map(|(l, n)| (l.clone(), n.clone())).unwrap();
    let mut sim = BootSim::new(
        MAC.parse().unwrap(),
        vec![format!("{}:67", lan.ip(255)).parse().unwrap()],
        "0.0.0.0:68".parse().unwrap(),
    );
    sim.nfs_files = vec!["etc/raftboot-demo".into()];
    let r = lan
        .in_ns(&client, move || sim.run())
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{e:#}"))?;
    let vip = lan.ip(10).to_string();
    // Every boot file and the NFS root came from the VIP.
    let table = r.render();
    if !table.contains(&format!("{vip}:/groups/default")) {
        return Err(format!("NFS root not from the VIP:\n{table}"));
    }
    Ok(table)
}

#[test]
fn losing_either_boot_server_leaves_a_leader_a_vip_and_working_boots() {
    if !Lan::available() {
        eprintln!("SKIP: network namespaces need root (CI runs as root)");
        return;
    }
    let spec = Spec {
        on_lan: true,
        witnesses: vec![3],
        ..Spec::default()
    };
    let mut c = Cluster::start(&spec).unwrap();
    let first = c.wait_leader(T).unwrap();
    assert_ne!(first, 3, "the witness leads");
    let lan = c.lan.as_ref().map(|(l, _)| l.clone()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (demo, loaders) = (dir.path().join("demo"), dir.path().join("loaders"));
    raftboot::demo_image::build(&demo).unwrap();
    assert!(
        raftboot::demo_image::build_loaders(&loaders).unwrap() > 0,
        "install pxelinux syslinux-common"
    );
    let run = |c: &Cluster, args: &[&str]| {
        let out = c.bootctl(args).unwrap();
        assert!(
            out.status.success(),
            "bootctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(
        &c,
        &[
            "image",
            "import",
            demo.to_str().unwrap(),
            "--name",
            "demo",
            "--group",
            "default",
        ],
    );
    run(
        &c,
        &[
            "image",
            "import",
            loaders.to_str().unwrap(),
            "--name",
            "bootloaders",
        ],
    );
    let ip = lan.ip(50).to_string();
    run(
        &c,
        &[
            "hosts", "add", MAC, "web-1", "--group", "default", "--ip", &ip,
        ],
    );
    c.wait_converged(&[1, 2, 3], T).unwrap();
    // Both boot servers must hold every blob before one of them is lost.
    for name in ["demo", "bootloaders"] {
        wait::until(
            &format!("image {name} ready on both boot servers"),
            T,
            || {
                let client = c.client_unchecked(c.wait_leader(T).map_err(|e| e.to_string())?);
                let views: Vec<ImageView> = c
                    .api(move || client.get("/v1/images"))
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                match views.iter().find(|v| v.image.name == name) {
                    Some(v) if v.ready >= 2 => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .unwrap();
    }
    let t = wait::until("a boot through the first leader", T, || boot(&c)).unwrap();
    println!("leader {first}:\n{t}");

    // Kill the leading boot server, restart it, then kill the other one (which leads by then).
    let mut victims = Vec::new();
    for _ in 0..2 {
        let victim = c.wait_leader(T).unwrap();
        assert_ne!(victim, 3, "the witness leads");
        victims.push(victim);
        c.kill(victim).unwrap();
        let survivor = if victim == 1 { 2 } else { 1 };
        let s = wait::until(
            "the surviving boot server to lead and hold the VIP",
            T,
            || {
                let st = c.status(survivor).map_err(|e| e.to_string())?;
                if st.leader == Some(survivor) && st.vip_holder == Some(survivor) {
                    Ok(st)
                } else {
                    Err(format!("leader {:?} holder {:?}", st.leader, st.vip_holder))
                }
            },
        )
        .unwrap();
        assert_eq!(
            c.status(3).unwrap().vip_holder,
            None,
            "the witness holds the VIP"
        );
        let t = wait::until("a boot through the survivor", T, || boot(&c)).unwrap();
        println!(
            "node {victim} killed, node {survivor} leads (term {}):\n{t}",
            s.term
        );
        c.start_node(victim).unwrap();
        c.wait_converged(&[1, 2, 3], T).unwrap();
    }
    victims.sort();
    assert_eq!(
        victims,
        [1, 2],
        "both boot servers must have been lost once"
    );
}
