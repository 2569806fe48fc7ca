//! [`DhcpHub`]: one DHCP client socket (`0.0.0.0:68` in the client namespace) shared by
//! many simulated firmware clients. Only one socket can own port 68 per namespace, so a
//! receiver thread reads every reply and hands it to the client whose transaction id
//! (`xid`, bytes 4..8 of every DHCP message) it carries; each client still checks `chaddr`
//! itself. Replies for no registered xid (another client's retransmission answered late)
//! are counted and dropped.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::bootsim::dhcp::Link;

struct Inner {
    sock: UdpSocket,
    to: SocketAddr,
    routes: Mutex<HashMap<u32, Sender<Vec<u8>>>>,
    stop: AtomicBool,
    unrouted: AtomicU64,
}

/// The shared socket and its receiver thread (stopped on drop).
pub struct DhcpHub {
    inner: Arc<Inner>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// One client's view of the hub: sends go to the servers, receives are the replies that
/// carry its xid.
pub struct HubPort {
    inner: Arc<Inner>,
    xid: u32,
    rx: Receiver<Vec<u8>>,
}

impl DhcpHub {
    /// Bind `bind` (normally `0.0.0.0:68`; call this on a thread inside the client
    /// namespace) and send every request to `to` (normally `255.255.255.255:67`).
    pub fn bind(bind: SocketAddr, to: SocketAddr) -> anyhow::Result<DhcpHub> {
        let sock = UdpSocket::bind(bind).with_context(|| format!("binding {bind}"))?;
        sock.set_broadcast(true)?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        let inner = Arc::new(Inner {
            sock,
            to,
            routes: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            unrouted: AtomicU64::new(0),
        });
        let i = inner.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !i.stop.load(Ordering::Relaxed) {
                let n = match i.sock.recv_from(&mut buf) {
                    Ok((n, _)) => n,
                    Err(_) => continue, // timeout: check the stop flag
                };
                let Some(xid) = buf.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
                    i.unrouted.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let xid = u32::from_be_bytes(xid);
                let tx = i.routes.lock().ok().and_then(|r| r.get(&xid).cloned());
                match tx {
                    Some(tx) if tx.send(buf[..n].to_vec()).is_ok() => {}
                    _ => {
                        i.unrouted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        Ok(DhcpHub {
            inner,
            thread: Some(thread),
        })
    }

    /// A port for a new transaction `xid` (replaces an older port with the same xid).
    pub fn port(&self, xid: u32) -> HubPort {
        let (tx, rx) = std::sync::mpsc::channel();
        if let Ok(mut r) = self.inner.routes.lock() {
            r.insert(xid, tx);
        }
        HubPort {
            inner: self.inner.clone(),
            xid,
            rx,
        }
    }

    /// Replies that matched no registered transaction.
    pub fn unrouted(&self) -> u64 {
        self.inner.unrouted.load(Ordering::Relaxed)
    }
}

impl Drop for DhcpHub {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HubPort {
    fn drop(&mut self) {
        if let Ok(mut r) = self.inner.routes.lock() {
            r.remove(&self.xid);
        }
    }
}

impl Link for HubPort {
    fn send(&self, msg: &[u8]) -> anyhow::Result<()> {
        self.inner
            .sock
            .send_to(msg, self.inner.to)
            .context("sending a DHCP request")?;
        Ok(())
    }

    fn recv(&self, deadline: Instant) -> anyhow::Result<Option<Vec<u8>>> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        match self.rx.recv_timeout(left) {
            Ok(b) => Ok(Some(b)),
            Err(_) => Ok(None),
        }
    }
}
