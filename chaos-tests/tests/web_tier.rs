//! Issue 7, the web tier: two QEMU web nodes (real iPXE ROM, pxelinux or an iPXE script,
//! Debian's kernel, an initramfs-tools NFS root read-only from the VIP, the site copied to
//! tmpfs and served by busybox httpd) keep serving while boot servers are killed under
//! them: the leader is SIGKILLed, comes back, another boot server is SIGKILLed and one web
//! node is hard-rebooted during that outage. A poller in the client namespace polls both
//! pages every 100 ms. Must hold (see [`chaos_tests::web_tier`]): no poll of a running web
//! node fails, every page and console NFS round carries the image's checksums (the NFS
//! root keeps answering from the new VIP holder), and the rebooted node serves again
//! within the stated boot budget. The report (events, poll counts, timings) is printed;
//! the CSV of every poll is written to the path `WEB_TIER_CSV` names, when set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chaos_tests::lan::Lan;
use chaos_tests::web_tier::{self, WebTierOptions};

#[test]
fn web_tier_serves_through_boot_server_kills_and_a_reboot_during_an_outage() {
    if !Lan::available() {
        eprintln!("SKIP: network namespaces need root (CI runs as root)");
        return;
    }
    let opts = WebTierOptions::default();
    eprintln!(
        "boot budget (power-on or power cut -> serving): {:.0}s; poll every {} ms, timeout {} ms",
        opts.boot_budget.as_secs_f64(),
        opts.poll_every.as_millis(),
        opts.poll_timeout.as_millis()
    );
    let report = web_tier::run(&opts).unwrap();
    eprintln!("{report}");
    if let Some(path) = std::env::var_os("WEB_TIER_CSV") {
        std::fs::write(&path, report.polls_csv()).unwrap();
        eprintln!("polls written to {}", std::path::Path::new(&path).display());
    }
    let total: usize = report.nodes.iter().map(|n| n.polls).sum();
    assert!(
        total > 0 && report.nodes.iter().all(|n| n.ok > 0),
        "no successful polls recorded"
    );
    assert!(
        report.passed(),
        "{} violation(s), see the report above",
        report.violations.len()
    );
}
