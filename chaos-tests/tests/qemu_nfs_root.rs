//! A real PXE firmware boots a diskless Linux from a three-node raftboot cluster in network
//! namespaces: QEMU (BIOS, TCG, its stock iPXE ROM) gets its fixed address and the VIP as
//! next-server by DHCP from bootd, loads its loader over TFTP from the VIP, then Debian's
//! kernel and an initramfs-tools initrd (BOOT=nfs), which mounts the image's root read-only
//! over NFSv3 from the VIP and runs a marker program from it; the marker prints a token only
//! the image holds and powers the guest off. Three ways, one guest at a time:
//! 1. iPXE -> `pxelinux.ipxe` -> pxelinux.0 -> `pxelinux.cfg/01-<mac>` -> kernel + initrd
//!    over pxelinux's TFTP;
//! 2. iPXE -> `boot.ipxe` -> the generated per-MAC script over TFTP -> kernel + initrd
//!    over TFTP;
//! 3. iPXE -> `http://VIP/boot.ipxe` -> the per-MAC script over HTTP -> kernel + initrd
//!    over HTTP.
//!
//! Each boot must print the marker and the NFS root line, QEMU must exit by itself, and the
//! VIP holder must have recorded the stages (loader/config, kernel, initrd) from the
//! guest's address. Timings per variant are printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, UNIX_EPOCH};

use chaos_tests::boot_rig::{BootRig, GROUP, IMAGE};
use chaos_tests::lan::Lan;
use raftboot::api::types::BootStageView;

/// Budget of one boot to the marker (about 20 s when the machine is idle).
const BOOT_BUDGET: Duration = Duration::from_secs(180);

struct Variant {
    name: &'static str,
    tag: &'static str,
    mac: &'static str,
    last: u8,
    /// Host boot-file override; `None`: the DHCP default for iPXE (`boot.ipxe`).
    boot_file: Option<String>,
    /// (stage, path) pairs the VIP holder must have recorded.
    expect: Vec<(&'static str, String)>,
    /// Console text that proves the path taken.
    console: Vec<String>,
    /// URLs iPXE must report as fetched (`URL... ok`, progress in between).
    fetched: Vec<String>,
}

fn variants(vip: std::net::Ipv4Addr) -> Vec<Variant> {
    let img = format!("images/{IMAGE}");
    vec![
        Variant {
            name: "pxelinux (TFTP)",
            tag: "p",
            mac: "52:54:00:5b:00:01",
            last: 151,
            boot_file: Some("pxelinux.ipxe".into()),
            expect: vec![
                ("loader", "ldlinux.c32".into()),
                ("config", "pxelinux.cfg/01-52-54-00-5b-00-01".into()),
                ("kernel", format!("{img}/vmlinuz")),
                ("initrd", format!("{img}/initrd.img")),
            ],
            console: vec!["PXELINUX 6".into(), format!("Loading {img}/vmlinuz")],
            fetched: vec![format!("tftp://{vip}/pxelinux.ipxe")],
        },
        Variant {
            name: "iPXE script, TFTP",
            tag: "t",
            mac: "52:54:00:5b:00:02",
            last: 152,
            boot_file: None,
            expect: vec![
                ("config", "ipxe/52-54-00-5b-00-02.ipxe".into()),
                ("kernel", format!("{img}/vmlinuz")),
                ("initrd", format!("{img}/initrd.img")),
            ],
            console: vec![],
            fetched: vec![
                format!("tftp://{vip}/boot.ipxe"),
                format!("tftp://{vip}/{img}/vmlinuz"),
                format!("tftp://{vip}/{img}/initrd.img"),
            ],
        },
        Variant {
            name: "iPXE script, HTTP",
            tag: "h",
            mac: "52:54:00:5b:00:03",
            last: 153,
            boot_file: Some(format!("http://{vip}/boot.ipxe")),
            expect: vec![
                ("config", "ipxe/52-54-00-5b-00-03.ipxe".into()),
                ("kernel", format!("{img}/vmlinuz")),
                ("initrd", format!("{img}/initrd.img")),
            ],
            console: vec![],
            // iPXE prints URLs without the default port.
            fetched: vec![
                format!("http://{vip}/boot.ipxe"),
                format!("http://{vip}/{img}/vmlinuz"),
                format!("http://{vip}/{img}/initrd.img"),
            ],
        },
    ]
}

/// Boot one variant; returns a timing line, or what went wrong.
fn run(rig: &BootRig, v: &Variant) -> Result<String, String> {
    let ip = rig
        .add_host(
            v.mac,
            &format!("web-{}", v.tag),
            v.last,
            v.boot_file.as_deref(),
        )
        .map_err(|e| e.to_string())?;
    let holder = rig.vip_holder().map_err(|e| e.to_string())?;
    let mut g = rig.boot(v.tag, v.mac).map_err(|e| e.to_string())?;
    let marker_at = g
        .wait_for(&rig.guest.marker(), BOOT_BUDGET)
        .map_err(|e| format!("{}: {e}", v.name))?;
    let off_at = g
        .wait_exit(Duration::from_secs(60))
        .map_err(|e| format!("{}: {e}", v.name))?;
    let console = g.console();
    let mut problems = Vec::new();
    let root_line = console
        .lines()
        .find(|l| l.contains("RAFTBOOT-ROOT"))
        .unwrap_or("")
        .trim()
        .to_string();
    let want_root = format!("RAFTBOOT-ROOT {}:/groups/{GROUP} nfs ", rig.vip);
    if !root_line.starts_with(&want_root) || !root_line.contains("ro,") {
        problems.push(format!(
            "root line {root_line:?}, want {want_root:?} read-only"
        ));
    }
    let urls: Vec<&str> = console.lines().filter(|l| l.contains("://")).collect();
    for c in &v.console {
        if !console.contains(c.as_str()) {
            problems.push(format!("console lacks {c:?}; its URL lines: {urls:?}"));
        }
    }
    for u in &v.fetched {
        let head = format!("{u}...");
        let ok = console
            .lines()
            .any(|l| l.trim_start().starts_with(&head) && l.trim_end().ends_with(" ok"));
        if !ok {
            problems.push(format!("iPXE did not fetch {u}; its URL lines: {urls:?}"));
        }
    }
    let start_ms = g
        .started_wall
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    // The stages the nodes recorded (the VIP holder's, unless the VIP moved meanwhile).
    let mut records = Vec::new();
    for id in rig.cluster.running() {
        match rig.boots_of(id, v.mac) {
            Ok(Some(b)) => records.push((id, b)),
            Ok(None) => {}
            Err(e) => problems.push(e.to_string()),
        }
    }
    // A loaded machine can move the VIP mid-boot (the boot must survive that too); when it
    // stayed put, its holder served the boot.
    let holder_after = rig.vip_holder().map_err(|e| e.to_string())?;
    if records.is_empty()
        || (holder == holder_after && !records.iter().any(|(id, _)| *id == holder))
    {
        problems.push(format!(
            "the VIP holder (node {holder}, after: {holder_after}) recorded no boot of {}",
            v.mac
        ));
    }
    for (id, b) in &records {
        if b.last_addr.as_deref() != Some(ip.to_string().as_str()) {
            problems.push(format!(
                "node {id} recorded the stages from {:?}, want {ip}",
                b.last_addr
            ));
        }
    }
    let all: Vec<&BootStageView> = records.iter().flat_map(|(_, b)| &b.stages).collect();
    for (stage, path) in &v.expect {
        let seen: Vec<&&BootStageView> = all.iter().filter(|s| s.stage == *stage).collect();
        if seen.is_empty() {
            problems.push(format!("stage {stage} not recorded: {records:?}"));
        } else if !seen
            .iter()
            .any(|s| s.last_path.trim_start_matches('/') == path)
        {
            problems.push(format!("stage {stage}: paths {seen:?}, want {path:?}"));
        }
    }
    let mut stages = String::new();
    for s in &all {
        stages.push_str(&format!(
            " {}@{:.1}s",
            s.stage,
            s.first_ms.saturating_sub(start_ms) as f64 / 1000.0
        ));
    }
    if !problems.is_empty() {
        return Err(format!(
            "{}: {}\nconsole tail:\n{}",
            v.name,
            problems.join("; "),
            g.console_tail(3000)
        ));
    }
    Ok(format!(
        "{:<20} marker {:>5.1}s  power-off {:>5.1}s  stages (first fetch):{stages}",
        v.name,
        marker_at.as_secs_f64(),
        off_at.as_secs_f64()
    ))
}

#[test]
fn qemu_ipxe_boots_an_nfs_root_through_the_vip_via_pxelinux_and_ipxe_tftp_and_http() {
    if !Lan::available() {
        eprintln!("SKIP: network namespaces need root (CI runs as root)");
        return;
    }
    let t0 = std::time::Instant::now();
    let rig = BootRig::start().unwrap();
    let setup = t0.elapsed();
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    for v in variants(rig.vip) {
        match run(&rig, &v) {
            Ok(line) => {
                eprintln!("{line}");
                lines.push(line);
            }
            Err(e) => {
                eprintln!("FAILED {e}");
                failures.push(e);
            }
        }
    }
    eprintln!(
        "set-up (guest files, cluster, images) {setup:.1?}; kernel {}; {} router advertisements sent",
        rig.guest.kernel_release,
        rig.ras_sent()
    );
    for l in &lines {
        eprintln!("{l}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
