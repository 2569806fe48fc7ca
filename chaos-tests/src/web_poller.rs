//! [`WebPoller`]: HTTP clients in a client namespace that poll each web node's page on a
//! fixed period and record every poll (when it started, how long it took, which node, and
//! the parsed [`Page`] or why it failed). One thread per node enters the namespace (setns)
//! and runs until [`WebPoller::stop`]; a poll is a fresh TCP connection and an HTTP/1.0
//! `GET /` with one overall timeout, so a stalled node shows up as a failed poll, never as
//! a stuck poller. Polls of one node never overlap: the next one starts on the next period
//! boundary, or at once when the previous poll overran it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::web_guest::Page;

/// One node to poll.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub addr: Ipv4Addr,
}

/// One recorded poll.
#[derive(Debug, Clone)]
pub struct Poll {
    /// Index of the target polled.
    pub node: usize,
    /// When the poll started, since the poller started.
    pub at: Duration,
    /// How long it took (to the answer or the failure).
    pub took: Duration,
    /// The page, or why the poll failed (connect/read error, timeout, status, bad body,
    /// a page naming another node).
    pub outcome: Result<Page, String>,
}

impl Poll {
    pub fn ok(&self) -> bool {
        self.outcome.is_ok()
    }

    /// When the poll ended, since the poller started.
    pub fn end(&self) -> Duration {
        self.at + self.took
    }
}

/// The running pollers.
pub struct WebPoller {
    pub targets: Vec<Target>,
    /// Time zero of every [`Poll::at`].
    pub started: Instant,
    stop: Arc<AtomicBool>,
    polls: Arc<Mutex<Vec<Poll>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Fetch `http://addr/` (from the calling thread's namespace) within `timeout` and parse
/// the page; fails when it names another node than `name`.
pub fn fetch(addr: Ipv4Addr, name: &str, timeout: Duration) -> Result<Page, String> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("timed out after {timeout:?}"))
    };
    let sa = SocketAddr::from((addr, 80));
    let mut s = TcpStream::connect_timeout(&sa, left()?).map_err(|e| format!("connect: {e}"))?;
    s.set_write_timeout(Some(left()?))
        .map_err(|e| e.to_string())?;
    s.write_all(format!("GET / HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut body = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        s.set_read_timeout(Some(left()?))
            .map_err(|e| e.to_string())?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                body.extend_from_slice(&buf[..n]);
                if body.len() > 1 << 20 {
                    return Err("answer larger than 1 MiB".into());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&body);
    let (head, page) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP header end in {} bytes", body.len()))?;
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("status {status:?}"));
    }
    let p = Page::parse(page)?;
    if p.name != name {
        return Err(format!("page names {:?}, polled {name:?}", p.name));
    }
    Ok(p)
}

impl WebPoller {
    /// Start one polling thread per target inside namespace `ns`, a poll every `every`,
    /// each within `timeout`.
    pub fn start(
        ns: &str,
        targets: Vec<Target>,
        every: Duration,
        timeout: Duration,
    ) -> anyhow::Result<WebPoller> {
        let path = format!("/run/netns/{ns}");
        let stop = Arc::new(AtomicBool::new(false));
        let polls = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let mut threads = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            let file = std::fs::File::open(&path).with_context(|| path.clone())?;
            let (stop, polls, t) = (stop.clone(), polls.clone(), t.clone());
            threads.push(std::thread::spawn(move || {
                if let Err(e) =
                    nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                {
                    if let Ok(mut p) = polls.lock() {
                        p.push(Poll {
                            node: i,
                            at: started.elapsed(),
                            took: Duration::ZERO,
                            outcome: Err(format!("setns: {e}")),
                        });
                    }
                    return;
                }
                poll_loop(i, &t, started, every, timeout, &stop, &polls);
            }));
        }
        Ok(WebPoller {
            targets,
            started,
            stop,
            polls,
            threads,
        })
    }

    /// Every poll recorded so far, in completion order.
    pub fn polls(&self) -> Vec<Poll> {
        self.polls.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Stop the pollers (each finishes its poll in flight) and return every poll.
    pub fn stop(mut self) -> Vec<Poll> {
        self.halt();
        self.polls()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for WebPoller {
    fn drop(&mut self) {
        self.halt();
    }
}

fn poll_loop(
    node: usize,
    t: &Target,
    started: Instant,
    every: Duration,
    timeout: Duration,
    stop: &AtomicBool,
    polls: &Mutex<Vec<Poll>>,
) {
    let mut next = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let begin = Instant::now();
        let outcome = fetch(t.addr, &t.name, timeout);
        let poll = Poll {
            node,
            at: begin.duration_since(started),
            took: begin.elapsed(),
            outcome,
        };
        if let Ok(mut p) = polls.lock() {
            p.push(poll);
        }
        next += every;
        if next < Instant::now() {
            next = Instant::now();
        }
    }
}
