//! A real PXE firmware against the boot-file services: QEMU's iPXE ROM (BIOS) gets DHCP from
//! QEMU's user-mode network with the boot file `tftp://10.0.2.2:<port>/pxelinux.0`
//! (10.0.2.2 is the host's loopback as the guest sees it; QEMU answers port 69 itself, so
//! the test's server listens on another port and the URL carries it), loads Debian's
//! pxelinux.0, which loads ldlinux.c32 and its generated per-MAC config from the same
//! server (its path prefix is the URL's directory), then the kernel the config names. The kernel is synthetic, so the boot stops there: the test
//! checks the stages the server saw and pxelinux's own messages on the serial console.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod boot_fixture;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use boot_fixture::{Server, WEB1};
use raftboot::bootcfg::Stage;
use raftboot::bootfiles::BootKey;

const QEMU: &str = "qemu-system-x86_64";
const BUDGET: Duration = Duration::from_secs(120);

/// Boot QEMU (BIOS, iPXE ROM, user-mode network with `bootfile`) until `done(server)`
/// or [`BUDGET`]; returns whether `done` held, the console without escapes, the time.
fn boot(s: &Server, bootfile: &str, done: impl Fn(&Server) -> bool) -> (bool, String, Duration) {
    let netdev = format!("user,id=n0,bootfile={bootfile}");
    let mut child = Command::new(QEMU)
        .args([
            "-accel",
            "tcg",
            "-m",
            "256",
            "-nographic",
            "-serial",
            "stdio",
        ])
        .args(["-monitor", "none", "-no-reboot", "-boot", "n"])
        .args(["-netdev", &netdev])
        .args(["-device", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {QEMU} ({e}): install qemu-system-x86 ipxe-qemu"));
    let serial = Arc::new(Mutex::new(Vec::new()));
    let mut out = child.stdout.take().unwrap();
    let sink = serial.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let start = Instant::now();
    let mut ok = false;
    while start.elapsed() < BUDGET {
        if done(s) {
            ok = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let took = start.elapsed();
    // Give the firmware a moment to say what it thinks of the kernel, then stop QEMU.
    std::thread::sleep(Duration::from_secs(2));
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let console = strip_escapes(&String::from_utf8_lossy(&serial.lock().unwrap()));
    (ok, console, took)
}

fn tail(console: &str) -> String {
    let n = console.chars().count().saturating_sub(3000);
    console.chars().skip(n).collect()
}

fn local() -> BootKey {
    BootKey::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

#[test]
fn ipxe_rom_boots_pxelinux_and_fetches_config_kernel_and_initrd() {
    assert!(
        std::path::Path::new("/usr/lib/PXELINUX/pxelinux.0").exists(),
        "install pxelinux and syslinux-common"
    );
    let s = Server::start();
    let bootfile = format!("tftp://10.0.2.2:{}/pxelinux.0", s.tftp.port());
    let (done, console, took) = boot(&s, &bootfile, |s| {
        s.stages_of(local()).contains(&Stage::Initrd)
    });
    let tail = tail(&console);
    assert!(done, "no initrd fetch within {BUDGET:?}; console:\n{tail}");
    assert_eq!(
        s.stages_of(local()),
        vec![Stage::Loader, Stage::Kernel, Stage::Initrd],
        "{tail}"
    );
    assert!(console.contains("PXELINUX 6"), "{tail}");
    assert!(console.contains("Loading images/deb/vmlinuz"), "{tail}");
    assert_eq!(
        s.stages_of(BootKey::Mac(WEB1)),
        vec![Stage::Config],
        "{tail}"
    );
    let st = s.tftp_settled();
    assert_eq!(
        st.corrupt + st.traversal_refused + st.write_refused,
        0,
        "{st:?}"
    );
    eprintln!("pxelinux reached the initrd in {took:?}; console tail:\n{tail}");
}

/// iPXE runs `boot.ipxe` over HTTP, chains to its per-MAC script, and the script's retry
/// loop fetches the kernel again after it fails (the synthetic kernel is no bzImage).
#[test]
fn ipxe_chain_script_over_http_retries_a_failed_kernel() {
    let s = Server::start_for(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2)));
    let bootfile = format!("http://10.0.2.2:{}/boot.ipxe", s.http.port());
    let kernels = |s: &Server| {
        s.files
            .tracker()
            .get(&local())
            .and_then(|r| r.stages.get(&Stage::Kernel).map(|k| k.count))
            .unwrap_or(0)
    };
    let (done, console, took) = boot(&s, &bootfile, |s| kernels(s) >= 2);
    let tail = tail(&console);
    assert!(
        done,
        "no second kernel fetch within {BUDGET:?}; console:\n{tail}"
    );
    assert_eq!(
        s.stages_of(BootKey::Mac(WEB1)),
        vec![Stage::Config],
        "{tail}"
    );
    let port = s.http.port();
    assert!(
        console.contains(&format!("http://10.0.2.2:{port}/images/deb/vmlinuz")),
        "{tail}"
    );
    assert!(
        console.contains("raftboot: download or boot failed (try 1 of 10), retrying in 3 s"),
        "{tail}"
    );
    let st = s.http_stats.snapshot();
    assert_eq!(
        st.not_found + st.traversal_refused + st.corrupt,
        0,
        "{st:?}"
    );
    eprintln!("iPXE retried the kernel after {took:?}; console tail:\n{tail}");
}

/// The console text without ANSI escape sequences (SeaBIOS and pxelinux move the cursor
/// in the middle of words).
fn strip_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        }
    }
    out
}
