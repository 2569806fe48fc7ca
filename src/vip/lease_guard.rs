//! [`LeaseGuard`]: the VIP must also go when bootd is alive but not running. A process
//! stopped by SIGSTOP (or hung in the kernel, or paused by a debugger) keeps its VIP
//! namespace, so its kernel keeps answering ARP for the VIP while a new leader claims it:
//! two holders. The controller cannot release what it cannot run to release, so a small
//! helper process (`bootd vip-guard`, started once by the node) holds a lease: each time the
//! controller re-checks the hold rule it renews the lease until the instant the rule would
//! stop allowing the hold (the quorum acknowledgement's age + the hold window), as an
//! absolute `CLOCK_MONOTONIC` time, so a delayed message can never extend it. If no renewal
//! arrives in time the guard sets the macvlan down (through `nsenter` into the VIP
//! namespace; the guard itself never enters it, so it never keeps the namespace alive) and
//! reports "expired"; the controller then releases for real and claims again if the rule
//! allows. The guard exits when its stdin closes, which happens when bootd dies.
//!
//! The guard's loop is [`GuardState`] (pure: messages and deadlines in, actions out) plus
//! [`run_guard`] (threads and the `nsenter` call).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Nanoseconds of `CLOCK_MONOTONIC` (shared by every process on the machine).
pub fn mono_now_ns() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => {
            let s = u64::try_from(ts.tv_sec()).unwrap_or(0);
            let n = u64::try_from(ts.tv_nsec()).unwrap_or(0);
            s.saturating_mul(1_000_000_000).saturating_add(n)
        }
        Err(_) => 0,
    }
}

/// What the guard should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardAction {
    /// Nothing; wait at most this long for the next message (`None`: no lease held).
    Wait(Option<Duration>),
    /// The lease ran out: take the VIP down and report it.
    Expire,
}

/// The guard's lease: the deadline (monotonic ns) of the current hold, if any.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GuardState {
    deadline_ns: Option<u64>,
}

impl GuardState {
    /// A message from the controller: `0` = not holding (release), else the new deadline.
    pub fn on_message(&mut self, deadline_ns: u64) {
        self.deadline_ns = (deadline_ns != 0).then_some(deadline_ns);
    }

    /// What to do at `now_ns`.
    pub fn poll(&mut self, now_ns: u64) -> GuardAction {
        match self.deadline_ns {
            None => GuardAction::Wait(None),
            Some(d) if now_ns >= d => {
                self.deadline_ns = None;
                GuardAction::Expire
            }
            Some(d) => GuardAction::Wait(Some(Duration::from_nanos(d - now_ns))),
        }
    }
}

/// The guard process's main loop: read deadlines (one decimal per line) from stdin, take
/// `link` down inside the namespace at `netns` when one passes, print `expired` on stdout.
/// Returns when stdin closes (bootd exited or died).
pub fn run_guard(netns: &str, link: &str) -> std::io::Result<()> {
    let (tx, rx) = mpsc::channel::<u64>();
    std::thread::Builder::new()
        .name("vip-guard-in".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                let Ok(line) = line else { break };
                // A garbled line counts as "not holding": the guard never extends a lease
                // it cannot read.
                let d = line.trim().parse::<u64>().unwrap_or(0);
                if tx.send(d).is_err() {
                    break;
                }
            }
        })?;
    let mut state = GuardState::default();
    let mut out = std::io::stdout();
    loop {
        let msg = match state.poll(mono_now_ns()) {
            GuardAction::Expire => {
                let ns = format!("--net={netns}");
                let res =
                    super::netns::run_command(&["nsenter", &ns, "ip", "link", "set", link, "down"]);
                let _ = writeln!(
                    out,
                    "expired{}",
                    res.err().map(|e| format!(" {e}")).unwrap_or_default()
                );
                let _ = out.flush();
                continue;
            }
            GuardAction::Wait(None) => rx.recv().map_err(|_| ()),
            GuardAction::Wait(Some(d)) => match rx.recv_timeout(d) {
                Ok(v) => Ok(v),
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => Err(()),
            },
        };
        match msg {
            Ok(d) => state.on_message(d),
            Err(()) => return Ok(()),
        }
    }
}

/// The node's side: the guard process, its stdin, and whether it reported an expiry.
pub struct LeaseGuard {
    child: Child,
    stdin: ChildStdin,
    expired: Arc<AtomicBool>,
}

impl LeaseGuard {
    /// Start `bootd vip-guard` for `link` in the namespace at `netns`.
    pub fn spawn(netns: &str, link: &str) -> std::io::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(["vip-guard", "--netns", netns, "--link", link])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("guard pipes missing"));
        };
        let expired = Arc::new(AtomicBool::new(false));
        let flag = expired.clone();
        std::thread::Builder::new()
            .name("vip-guard-out".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    tracing::warn!(guard = %line, "VIP lease guard took the VIP down (this process did not renew in time)");
                    flag.store(true, Ordering::SeqCst);
                }
            })?;
        Ok(Self {
            child,
            stdin,
            expired,
        })
    }

    /// Hold until `valid_for` from now (`ZERO`: not holding).
    pub fn renew(&mut self, valid_for: Duration) -> std::io::Result<()> {
        let d = if valid_for.is_zero() {
            0
        } else {
            mono_now_ns().saturating_add(u64::try_from(valid_for.as_nanos()).unwrap_or(u64::MAX))
        };
        writeln!(self.stdin, "{d}")?;
        self.stdin.flush()
    }

    /// True (once) after the guard took the VIP down.
    pub fn take_expired(&self) -> bool {
        self.expired.swap(false, Ordering::SeqCst)
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        // Closing stdin ends the guard; wait for it so no zombie is left.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn no_lease_means_nothing_to_do() {
        let mut g = GuardState::default();
        assert_eq!(g.poll(5), GuardAction::Wait(None));
    }

    #[test]
    fn a_lease_expires_once_at_its_deadline() {
        let mut g = GuardState::default();
        g.on_message(100);
        assert_eq!(
            g.poll(40),
            GuardAction::Wait(Some(Duration::from_nanos(60)))
        );
        assert_eq!(g.poll(100), GuardAction::Expire);
        assert_eq!(g.poll(200), GuardAction::Wait(None));
    }

    #[test]
    fn a_release_message_cancels_the_lease() {
        let mut g = GuardState::default();
        g.on_message(100);
        g.on_message(0);
        assert_eq!(g.poll(1000), GuardAction::Wait(None));
    }

    proptest! {
        /// Whatever the messages, the guard never lets a lease outlive the last deadline
        /// it was given, and expires it at most once.
        #[test]
        fn never_holds_past_the_last_deadline(msgs in proptest::collection::vec(0u64..1000, 1..20), now in 0u64..2000) {
            let mut g = GuardState::default();
            for m in &msgs {
                g.on_message(*m);
            }
            let last = *msgs.last().unwrap_or(&0);
            match g.poll(now) {
                GuardAction::Expire => prop_assert!(last != 0 && now >= last),
                GuardAction::Wait(None) => prop_assert!(last == 0),
                GuardAction::Wait(Some(d)) => prop_assert!(now + d.as_nanos() as u64 == last),
            }
        }
    }
}
