//! A UDP prober for failover measurements: a thread inside a client namespace sends a
//! numbered request every period (a DHCPDISCOVER by broadcast, an RPC NULL call to the VIP,
//! ...) and records when each request left and when an answer naming it came back. "The
//! service answers again" after a fault is then the first answer to a request sent after the
//! fault, so an answer a dead server had already queued never counts.
//!
//! The request builders and reply parsers here are pure: [`dhcp_discover`] /
//! [`dhcp_reply_xid`] and [`rpc_null_call`] / [`rpc_reply_xid`].

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

/// What to send back to the sender of an answer, if anything.
pub type AnswerBack = fn(&[u8]) -> Option<Vec<u8>>;

/// How a prober builds requests and recognizes answers.
#[derive(Clone)]
pub struct ProbeKind {
    /// Local address to bind inside the namespace.
    pub bind: SocketAddr,
    /// Where requests go.
    pub dest: SocketAddr,
    /// Broadcast socket bound to this device (for 255.255.255.255 without a route).
    pub device: Option<String>,
    /// The request carrying id `n`.
    pub request: fn(u32) -> Vec<u8>,
    /// The id an answer names, if it is an answer.
    pub reply_id: fn(&[u8]) -> Option<u32>,
    /// Ids are taken modulo this (a protocol that can carry only a few distinct ids).
    pub ids: u32,
    /// What to send back to an answer's sender (e.g. a TFTP error ending the transfer).
    pub answer: Option<AnswerBack>,
}

#[derive(Default)]
struct Log {
    sent: BTreeMap<u32, Instant>,
    /// (id, when the answer came)
    answers: Vec<(u32, Instant)>,
}

/// A running prober.
pub struct UdpProber {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl UdpProber {
    /// Start probing from network namespace `ns` (a name under /run/netns) every `period`.
    pub fn start(ns: &str, kind: ProbeKind, period: Duration) -> anyhow::Result<UdpProber> {
        let file = std::fs::File::open(format!("/run/netns/{ns}"))
            .with_context(|| format!("namespace {ns}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Log::default()));
        let (s, l) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || -> anyhow::Result<()> {
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
            let sock = UdpSocket::bind(kind.bind).with_context(|| format!("bind {}", kind.bind))?;
            if let Some(dev) = &kind.device {
                sock.set_broadcast(true)?;
                nix::sys::socket::setsockopt(
                    &sock,
                    nix::sys::socket::sockopt::BindToDevice,
                    &std::ffi::OsString::from(dev),
                )?;
            }
            sock.set_read_timeout(Some(Duration::from_millis(2)))?;
            let ids = kind.ids.max(1);
            let mut id: u32 = rand::random::<u32>() % ids;
            let mut next = Instant::now();
            let mut buf = vec![0u8; 2048];
            while !s.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    id = id.wrapping_add(1) % ids;
                    let at = Instant::now();
                    // A send error (no route yet, ...) is just a probe nobody answers.
                    let _ = sock.send_to(&(kind.request)(id), kind.dest);
                    if let Ok(mut g) = l.lock() {
                        g.sent.insert(id, at);
                    }
                    next += period;
                }
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let reply = buf.get(..n).unwrap_or_default();
                    if let Some(back) = kind.answer.and_then(|f| f(reply)) {
                        let _ = sock.send_to(&back, from);
                    }
                    if let Some(r) = (kind.reply_id)(reply) {
                        if let Ok(mut g) = l.lock() {
                            if g.sent.contains_key(&r) {
                                g.answers.push((r, Instant::now()));
                            }
                        }
                    }
                }
            }
            Ok(())
        });
        Ok(UdpProber {
            stop,
            log,
            thread: Some(thread),
        })
    }

    /// The first answer to a request sent after `t`: (request sent, answer received).
    pub fn first_answer_after(&self, t: Instant) -> Option<(Instant, Instant)> {
        let g = self.log.lock().ok()?;
        g.answers
            .iter()
            .filter_map(|(id, at)| g.sent.get(id).map(|s| (*s, *at)))
            .filter(|(s, _)| *s > t)
            .min_by_key(|(_, at)| *at)
    }

    /// Requests sent and answers received so far.
    pub fn counts(&self) -> (usize, usize) {
        self.log
            .lock()
            .map(|g| (g.sent.len(), g.answers.len()))
            .unwrap_or_default()
    }

    /// Stop the prober; errors from its thread are returned.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(h) => h.join().map_err(|_| anyhow::anyhow!("prober panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for UdpProber {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// TFTP ids: a read request carries its id as `blksize` 512 + id, which the server's
/// option acknowledgement (OACK) echoes.
pub const TFTP_IDS: u32 = 8192;

/// A TFTP read request for `pxelinux.cfg/default` (always there: generated) with
/// `blksize` = 512 + (`id` mod [`TFTP_IDS`]).
pub fn tftp_rrq(id: u32) -> Vec<u8> {
    let mut p = vec![0, 1];
    for part in [
        "pxelinux.cfg/default".to_string(),
        "octet".into(),
        "blksize".into(),
        (512 + id % TFTP_IDS).to_string(),
    ] {
        p.extend_from_slice(part.as_bytes());
        p.push(0);
    }
    p
}

/// The id of a TFTP OACK answering [`tftp_rrq`] (its `blksize` - 512).
pub fn tftp_oack_id(p: &[u8]) -> Option<u32> {
    if p.get(..2)? != [0, 6] {
        return None;
    }
    let mut parts = p.get(2..)?.split(|b| *b == 0);
    while let Some(k) = parts.next() {
        let v = parts.next()?;
        if k.eq_ignore_ascii_case(b"blksize") {
            let n: u32 = std::str::from_utf8(v).ok()?.parse().ok()?;
            return n.checked_sub(512).filter(|i| *i < TFTP_IDS);
        }
    }
    None
}

/// A TFTP error ending the transfer an OACK or DATA packet started.
pub fn tftp_abort(p: &[u8]) -> Option<Vec<u8>> {
    match p.get(..2)? {
        [0, 6] | [0, 3] => Some(b"\0\x05\0\0probe done\0".to_vec()),
        _ => None,
    }
}

/// The MAC the DHCP prober uses (locally administered).
pub const PROBE_MAC: [u8; 6] = [0x02, 0x0f, 0xa1, 0x10, 0x00, 0x01];

/// A DHCPDISCOVER from [`PROBE_MAC`] with transaction id `xid` and the broadcast flag set
/// (so the server broadcasts its OFFER).
pub fn dhcp_discover(xid: u32) -> Vec<u8> {
    let mut p = vec![0u8; 300];
    p[0] = 1; // BOOTREQUEST
    p[1] = 1; // Ethernet
    p[2] = 6;
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[10] = 0x80; // broadcast flag
    p[28..34].copy_from_slice(&PROBE_MAC);
    p[236..240].copy_from_slice(&[99, 130, 83, 99]);
    p[240..243].copy_from_slice(&[53, 1, 1]); // DHCPDISCOVER
    p[243] = 255;
    p
}

/// The transaction id of a BOOTREPLY to [`PROBE_MAC`].
pub fn dhcp_reply_xid(p: &[u8]) -> Option<u32> {
    if p.len() < 240 || p[0] != 2 || p.get(28..34)? != PROBE_MAC || p[236..240] != [99, 130, 83, 99]
    {
        return None;
    }
    Some(u32::from_be_bytes(p[4..8].try_into().ok()?))
}

/// An ONC RPC call of procedure 0 (NULL) of NFS v3 with AUTH_NONE.
pub fn rpc_null_call(xid: u32) -> Vec<u8> {
    let words: [u32; 10] = [xid, 0, 2, 100_003, 3, 0, 0, 0, 0, 0];
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// The xid of an accepted RPC reply.
pub fn rpc_reply_xid(p: &[u8]) -> Option<u32> {
    let word = |i: usize| -> Option<u32> {
        Some(u32::from_be_bytes(
            p.get(i * 4..i * 4 + 4)?.try_into().ok()?,
        ))
    };
    // REPLY, MSG_ACCEPTED
    if word(1)? != 1 || word(2)? != 0 {
        return None;
    }
    word(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dhcp_probe_codec() {
        let d = dhcp_discover(0x0102_0304);
        assert_eq!(dhcp_reply_xid(&d), None, "a request is not a reply");
        let mut r = d.clone();
        r[0] = 2;
        assert_eq!(dhcp_reply_xid(&r), Some(0x0102_0304));
        r[30] ^= 1;
        assert_eq!(dhcp_reply_xid(&r), None, "another client's reply");
        assert_eq!(dhcp_reply_xid(&r[..100]), None);
    }

    #[test]
    fn tftp_probe_codec() {
        let r = tftp_rrq(TFTP_IDS + 5);
        assert!(r.ends_with(b"blksize\x00517\x00"));
        assert_eq!(tftp_oack_id(&r), None, "a request is not an OACK");
        let oack = b"\x00\x06tsize\x0099\x00blksize\x00517\x00";
        assert_eq!(tftp_oack_id(oack), Some(5));
        assert_eq!(tftp_oack_id(b"\x00\x06blksize\x00100\x00"), None);
        assert_eq!(tftp_oack_id(b"\x00\x06blksize"), None);
        assert!(tftp_abort(oack).is_some());
        assert!(tftp_abort(&r).is_none());
    }

    #[test]
    fn rpc_probe_codec() {
        let c = rpc_null_call(7);
        assert_eq!(c.len(), 40);
        assert_eq!(rpc_reply_xid(&c), None, "a call is not a reply");
        let reply: Vec<u8> = [7u32, 1, 0, 0, 0, 0]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        assert_eq!(rpc_reply_xid(&reply), Some(7));
        assert_eq!(rpc_reply_xid(&reply[..6]), None);
    }
}
