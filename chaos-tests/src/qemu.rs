//! [`QemuBoot`]: one QEMU guest (BIOS, stock iPXE ROM, TCG) network-booting on a test
//! [`Lan`]: its NIC is a tap on the LAN's bridge (created in the bridge namespace, which
//! the LAN owns), QEMU runs in that namespace (`ip netns exec` execs it in place, so the
//! PID we hold is QEMU's), the serial console is collected by a thread, and dropping the
//! guest SIGKILLs QEMU by that PID and deletes the tap. Tests watch the console
//! ([`QemuBoot::wait_for`]) and wait for the guest to power off ([`QemuBoot::wait_exit`]).
//!
//! Flags: `-accel tcg` (KVM does not work on these machines), `-nographic -serial stdio
//! -monitor none -no-reboot` (firmware, loader and kernel on the console; QEMU exits when
//! the guest powers off or panics with `panic=-1`), `-boot n`.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use crate::lan::Lan;

/// The QEMU binary (Debian package `qemu-system-x86`, ROMs from `ipxe-qemu`).
pub const QEMU: &str = "qemu-system-x86_64";

/// A running (or finished) guest.
pub struct QemuBoot {
    child: Option<Child>,
    serial: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    bridge_ns: String,
    tap: String,
    /// The guest's MAC (`52:54:00:..`).
    pub mac: String,
    /// When QEMU was started (monotonic and wall clock, to line up with boot stages).
    pub started: Instant,
    pub started_wall: SystemTime,
    exit: Option<ExitStatus>,
}

fn run(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("{args:?}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

impl QemuBoot {
    /// Start a guest with NIC `mac` (virtio-net) on `lan`'s bridge; `tag` (a few letters,
    /// unique per guest of this LAN) names its tap.
    pub fn start(lan: &Lan, tag: &str, mac: &str) -> anyhow::Result<QemuBoot> {
        let bridge_ns = lan.bridge_ns();
        let tap = format!("{}t{tag}", lan.prefix);
        anyhow::ensure!(tap.len() <= 15, "tap name {tap} too long");
        run(&[
            "ip", "-n", &bridge_ns, "tuntap", "add", "dev", &tap, "mode", "tap",
        ])?;
        let mut guest = QemuBoot {
            child: None,
            serial: Arc::new(Mutex::new(Vec::new())),
            reader: None,
            bridge_ns: bridge_ns.clone(),
            tap: tap.clone(),
            mac: mac.to_string(),
            started: Instant::now(),
            started_wall: SystemTime::now(),
            exit: None,
        };
        run(&[
            "ip", "-n", &bridge_ns, "link", "set", &tap, "master", "br0", "up",
        ])?;
        let netdev = format!("tap,id=n0,ifname={tap},script=no,downscript=no");
        let device = format!("virtio-net-pci,netdev=n0,mac={mac}");
        guest.started = Instant::now();
        guest.started_wall = SystemTime::now();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &bridge_ns, QEMU])
            .args(["-accel", "tcg", "-m", "512", "-smp", "1"])
            .args(["-nographic", "-serial", "stdio", "-monitor", "none"])
            .args(["-no-reboot", "-boot", "n"])
            .args(["-netdev", &netdev, "-device", &device])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("{QEMU}: apt-get install qemu-system-x86 ipxe-qemu"))?;
        let mut out = child.stdout.take().context("QEMU stdout")?;
        let mut err = child.stderr.take().context("QEMU stderr")?;
        guest.child = Some(child);
        let sink = guest.serial.clone();
        guest.reader = Some(std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.extend_from_slice(&buf[..n]);
                }
            }
            // QEMU's own complaints (bad tap, missing ROM) after the console.
            let mut e = Vec::new();
            let _ = err.read_to_end(&mut e);
            if !e.is_empty() {
                if let Ok(mut s) = sink.lock() {
                    s.extend_from_slice(b"\n[qemu stderr] ");
                    s.extend_from_slice(&e);
                }
            }
        }));
        Ok(guest)
    }

    /// The guest's tap (its port on the LAN bridge, in [`Lan::bridge_ns`]): shape it with
    /// `tc` to slow what the guest receives.
    pub fn tap(&self) -> &str {
        &self.tap
    }

    /// QEMU's PID (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The console so far, without ANSI escape sequences.
    pub fn console(&self) -> String {
        let raw = self
            .serial
            .lock()
            .map(|s| String::from_utf8_lossy(&s).to_string())
            .unwrap_or_default();
        strip_escapes(&raw)
    }

    /// The last `chars` characters of the console.
    pub fn console_tail(&self, chars: usize) -> String {
        let c = self.console();
        let n = c.chars().count().saturating_sub(chars);
        c.chars().skip(n).collect()
    }

    /// Whether QEMU has exited (reaps it).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.exit = Some(st);
                }
            }
        }
        self.exit
    }

    /// Wait until the console contains `needle`; returns the time since QEMU started.
    /// Fails (with the console tail) on timeout or when QEMU exits first.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<Duration> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.console().contains(needle) {
                return Ok(self.started.elapsed());
            }
            if let Some(st) = self.exited() {
                // The reader may still hold the last bytes.
                std::thread::sleep(Duration::from_millis(100));
                if self.console().contains(needle) {
                    return Ok(self.started.elapsed());
                }
                anyhow::bail!(
                    "QEMU exited ({st}) before {needle:?}; console tail:\n{}",
                    self.console_tail(4000)
                );
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "no {needle:?} within {timeout:?}; console tail:\n{}",
                    self.console_tail(4000)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait for QEMU to exit by itself (the guest powered off); returns the time since start.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<Duration> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return Ok(self.started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        anyhow::bail!(
            "QEMU still running after {timeout:?}; console tail:\n{}",
            self.console_tail(2000)
        )
    }

    /// SIGKILL QEMU (by its PID) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if self.exit.is_none() {
                if let Ok(pid) = i32::try_from(c.id()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            let _ = c.wait();
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

impl Drop for QemuBoot {
    fn drop(&mut self) {
        self.kill();
        let _ = Command::new("ip")
            .args(["-n", &self.bridge_ns, "link", "del", &self.tap])
            .output();
        if std::thread::panicking() {
            eprintln!(
                "---- QEMU {} console (tail) ----\n{}",
                self.mac,
                self.console_tail(3000)
            );
        }
    }
}

/// The console text without ANSI escape sequences (SeaBIOS and pxelinux move the cursor
/// in the middle of words).
pub fn strip_escapes(s: &str) -> String {
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
