//! A real PXE firmware against the TFTP server: QEMU's iPXE ROM (BIOS) gets DHCP from
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

#[test]
fn ipxe_rom_boots_pxelinux_and_fetches_config_and_kernel() {
    assert!(
        std::path::Path::new("/usr/lib/PXELINUX/pxelinux.0").exists(),
        "install pxelinux and syslinux-common"
    );
    let s = Server::start();
    let netdev = format!(
        "user,id=n0,bootfile=tftp://10.0.2.2:{}/pxelinux.0",
        s.tftp.port()
    );
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
    let local = BootKey::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let start = Instant::now();
    let mut done = false;
    while start.elapsed() < BUDGET {
        if s.stages_of(local).contains(&Stage::Initrd) {
            done = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Give pxelinux a moment to say what it thinks of the kernel, then stop QEMU.
    std::thread::sleep(Duration::from_secs(2));
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    let console = strip_escapes(&String::from_utf8_lossy(&serial.lock().unwrap()));
    let tail: String = console
        .chars()
        .rev()
        .take(3000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert!(done, "no initrd fetch within {BUDGET:?}; console:\n{tail}");
    assert_eq!(
        s.stages_of(local),
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
    let st = s.tftp_stats.snapshot();
    assert_eq!(
        st.corrupt + st.traversal_refused + st.write_refused,
        0,
        "{st:?}"
    );
    eprintln!(
        "PXE boot reached the kernel in {:?}; console tail:\n{tail}",
        start.elapsed()
    );
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
