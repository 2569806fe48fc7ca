//! The live status page (`GET /status`) in a real headless Chromium (Debian's chromium and
//! chromium-driver, driven over WebDriver from the client namespace of a three-node LAN
//! cluster): it shows the leader and the VIP holder the nodes report, the image with its
//! readiness and a machine's boot timeline; after `bootctl failover` the same page, without
//! a reload, shows the new leader and VIP holder and the claim in its VIP moves. The page
//! needs no token, `/v1/overview` does, a wrong token in the fragment is reported on the
//! page, and the token never shows up in a node's log (it travels in the fragment and a
//! header only). On loopback (no root), `/v1/overview` answers with a killed member shown
//! with its error.
//!
//! `RAFTBOOT_STATUS_SCREENSHOT=docs/status-page.png` also saves a screenshot of the page
//! (`chromium --headless --screenshot`) for the README.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chaos_tests::browser::{screenshot, Browser};
use chaos_tests::cluster::{Cluster, Spec};
use chaos_tests::lan::Lan;
use chaos_tests::wait;
use serde_json::Value;

const T: Duration = Duration::from_secs(30);
const MAC: &str = "52:54:00:5a:70:01";

/// What the page shows: leader, VIP holder (node ids as text, "" for none), the update
/// stamp, the connection state, and the text of the VIP moves, images and boots.
const READ: &str = r##"
const g = (id) => document.getElementById(id);
return {
  leader: g("leader").dataset.node,
  holder: g("vip-holder").dataset.node,
  updated: g("updated").dataset.ms,
  conn: g("conn").dataset.state,
  conn_text: g("conn").textContent,
  moves: g("moves").tBodies[0].innerText,
  images: g("images").tBodies[0].innerText,
  machines: Array.from(document.querySelectorAll("#boots .machine")).map((m) => m.dataset.key),
  boots: g("boots").innerText,
};
"##;

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Wait until the node reports `leader` as leader and VIP holder.
fn wait_holder(c: &Cluster, leader: u64) {
    wait::until("the leader to hold the VIP", T, || {
        let s = c.status(leader).map_err(|e| e.to_string())?;
        if s.leader == Some(leader) && s.vip_holder == Some(leader) {
            Ok(())
        } else {
            Err(format!("leader {:?} holder {:?}", s.leader, s.vip_holder))
        }
    })
    .unwrap();
}

/// Wait until the page shows `leader` as leader and as VIP holder, live (connection ok).
fn wait_page(b: &Browser, leader: u64, what: &str) -> Value {
    wait::until(what, T, || {
        let v = b.eval(READ).map_err(|e| e.to_string())?;
        let want = leader.to_string();
        if v["conn"] == "ok" && v["leader"] == want.as_str() && v["holder"] == want.as_str() {
            Ok(v)
        } else {
            Err(format!("page shows {v}"))
        }
    })
    .unwrap()
}

#[test]
fn status_page_follows_a_failover_in_headless_chromium() {
    if !Lan::available() {
        eprintln!("SKIP: network namespaces need root (CI runs as root)");
        return;
    }
    let spec = Spec::lan();
    let c = Cluster::start(&spec).unwrap();
    let (lan, client_ns) = c.lan.as_ref().map(|(l, n)| (l.clone(), n.clone())).unwrap();
    let all: Vec<u64> = c.nodes.keys().copied().collect();
    let leader = c.wait_leader(T).unwrap();
    wait_holder(&c, leader);

    // Something to show: a host, an image active in its group, and a boot request.
    let host_ip = lan.ip(100).to_string();
    ok(c.bootctl(&[
        "hosts", "add", MAC, "web-1", "--group", "web", "--ip", &host_ip,
    ])
    .unwrap());
    let root = c.dir.path().join("demo-root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("vmlinuz"), vec![0x4b; 64 * 1024]).unwrap();
    std::fs::write(root.join("initrd.img"), vec![0x1d; 32 * 1024]).unwrap();
    std::fs::write(root.join("etc/hostname"), "web-1\n").unwrap();
    ok(c.bootctl(&[
        "image",
        "import",
        &root.to_string_lossy(),
        "--name",
        "demo",
        "--group",
        "web",
        "-q",
    ])
    .unwrap());
    let vip = lan.ip(10);
    let fetch = |path: &str| -> String {
        ok(lan
            .cmd(&client_ns, "curl")
            .args(["-sS", "--fail", "--max-time", "10"])
            .arg(format!("http://{vip}/{path}"))
            .output()
            .expect("curl (Debian package curl)"))
    };
    // The client namespace's address is web-1's fixed address, so every request from it
    // is web-1's boot; the leader now serves the scripts, the next one the kernel.
    assert!(fetch("boot.ipxe").starts_with("#!ipxe"));
    let script = fetch(&format!("ipxe/{}.ipxe", MAC.replace(':', "-")));
    assert!(script.contains("images/demo/vmlinuz"), "{script}");
    c.wait_converged(&all, T).unwrap();

    // The page needs no token; the data does.
    let serving = all[0];
    let admin = c.nodes[&serving].admin.clone();
    let (page, refused) = {
        let admin = admin.clone();
        lan.in_ns(&client_ns, move || {
            let page = ureq::get(&format!("http://{admin}/status"))
                .call()
                .map(|r| r.into_string().unwrap_or_default());
            let refused = match ureq::get(&format!("http://{admin}/v1/overview")).call() {
                Err(ureq::Error::Status(code, _)) => Some(code),
                _ => None,
            };
            (page, refused)
        })
        .unwrap()
    };
    let page = page.unwrap();
    assert!(page.contains("/status/app.js"), "{page}");
    assert_eq!(refused, Some(401), "/v1/overview without a token");

    let url = format!("http://{admin}/status#token={}", c.token);
    let b = Browser::start(lan.clone(), &client_ns, 1280, 1000).unwrap();
    b.goto(&url).unwrap();
    let before = wait_page(&b, leader, "the page to show the leader and VIP holder");
    eprintln!("page before the failover: {before:#}");
    let images = before["images"].as_str().unwrap_or_default();
    assert!(images.contains("demo"), "{images}");
    assert!(images.contains("web"), "{images}");
    wait::until("the page to show web-1's boot", T, || {
        let v = b.eval(READ).map_err(|e| e.to_string())?;
        let keys: Vec<&str> = v["machines"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let text = v["boots"].as_str().unwrap_or_default();
        if keys.contains(&MAC) && text.contains("web-1") && text.contains("config") {
            Ok(())
        } else {
            Err(format!("boots shown: {v}"))
        }
    })
    .unwrap();

    // A planned failover: the same page, not reloaded, follows it.
    let stamp: u64 = before["updated"].as_str().unwrap().parse().unwrap();
    let text = ok(c.bootctl(&["failover"]).unwrap());
    eprintln!("{text}");
    let new = c.wait_leader(T).unwrap();
    assert_ne!(new, leader, "leadership did not move");
    wait_holder(&c, new);
    let after = wait_page(&b, new, "the page to show the new leader and VIP holder");
    eprintln!("page after the failover: {after:#}");
    let stamp_after: u64 = after["updated"].as_str().unwrap().parse().unwrap();
    assert!(stamp_after > stamp, "the page did not update itself");
    let moves = after["moves"].as_str().unwrap_or_default();
    assert!(
        moves
            .lines()
            .any(|l| l.contains(&format!("({new})")) && l.contains("claimed")),
        "no claim by node {new} in the moves shown: {moves}"
    );

    // The rest of web-1's boot, from the new VIP holder: one timeline, two nodes.
    assert_eq!(fetch("images/demo/vmlinuz").len(), 64 * 1024);
    assert_eq!(fetch("images/demo/initrd.img").len(), 32 * 1024);
    let (old_name, new_name) = (&c.nodes[&leader].name, &c.nodes[&new].name);
    wait::until(
        "the page to show web-1's boot across both holders",
        T,
        || {
            let v = b.eval(READ).map_err(|e| e.to_string())?;
            let text = v["boots"].as_str().unwrap_or_default();
            let served = |stage: &str, node: &str| {
                text.lines()
                    .any(|l| l.contains(&format!("\t{stage}\t{node}\t")))
            };
            if served("config", old_name)
                && served("kernel", new_name)
                && served("initrd", new_name)
            {
                Ok(())
            } else {
                Err(format!("boots shown: {text}"))
            }
        },
    )
    .unwrap();

    if let Ok(path) = std::env::var("RAFTBOOT_STATUS_SCREENSHOT") {
        let out = std::path::PathBuf::from(path);
        let out = if out.is_absolute() {
            out
        } else {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(out)
        };
        screenshot(&lan, &client_ns, &url, &out, (1200, 900), 4000).unwrap();
        eprintln!("screenshot written to {}", out.display());
    }

    // A wrong token in the fragment is reported on the page, not silently ignored.
    b.goto(&format!("http://{admin}/status#token=not-the-token"))
        .unwrap();
    wait::until("the page to report the refused token", T, || {
        let v = b.eval(READ).map_err(|e| e.to_string())?;
        let text = v["conn_text"].as_str().unwrap_or_default();
        if v["conn"] == "error" && text.contains("token was refused") {
            Ok(())
        } else {
            Err(format!("page shows {v}"))
        }
    })
    .unwrap();
    drop(b);

    // The token reached the nodes only as a header: no log line carries it.
    for id in &all {
        let log = std::fs::read_to_string(c.log_path(*id)).unwrap_or_default();
        assert!(
            !log.contains(&c.token),
            "node {id}'s log contains the token"
        );
    }
}

/// On loopback (no root): `/v1/overview` needs the token, and with one member killed it
/// still answers, naming the leader and showing the dead member with its error.
#[test]
fn overview_shows_a_dead_member_on_loopback() {
    use raftboot::api::status_page::Overview;
    let mut c = Cluster::start(&Spec::default()).unwrap();
    let leader = c.wait_leader(T).unwrap();
    let dead = *c.nodes.keys().find(|id| **id != leader).unwrap();
    let asked = *c.nodes.keys().find(|id| **id != dead).unwrap();
    c.kill(dead).unwrap();
    let admin = c.nodes[&asked].admin.clone();
    match ureq::get(&format!("http://{admin}/v1/overview")).call() {
        Err(ureq::Error::Status(code, _)) => assert_eq!(code, 401),
        other => panic!("/v1/overview without a token: {other:?}"),
    }
    let o: Overview = wait::until("an overview naming the dead member", T, || {
        let o: Overview = c
            .client(asked)
            .get("/v1/overview")
            .map_err(|e| e.to_string())?;
        let n = o.status.nodes.iter().find(|n| n.id == dead);
        match n {
            Some(n) if n.status.is_none() && n.error.is_some() => Ok(o),
            _ => Err(format!("{:?}", o.status.nodes)),
        }
    })
    .unwrap();
    assert_eq!(o.served_by, asked);
    assert_eq!(o.status.leader, Some(leader));
    assert_eq!(o.status.vip, None);
    let alive: Vec<u64> = o
        .status
        .nodes
        .iter()
        .filter(|n| n.status.is_some())
        .map(|n| n.id)
        .collect();
    assert_eq!(alive.len(), 2, "{:?}", o.status.nodes);
    assert!(!alive.contains(&dead));
    // The demo image is not imported here: no images, no boots yet.
    assert!(o.images.is_empty());
    assert!(o.boots.is_empty());
    let dead_name = c.nodes[&dead].name.clone();
    assert!(
        o.boots_unreachable.iter().any(|(n, _)| *n == dead_name),
        "{:?}",
        o.boots_unreachable
    );
}
