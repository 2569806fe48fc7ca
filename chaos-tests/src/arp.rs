//! An ARP sampler for the VIP invariant: a thread inside a client namespace broadcasts a
//! numbered ARP request for the VIP every 20 ms on the client's `eth0` and records every
//! reply (which probe it answered, when, and the sender MAC). Two different MACs answering
//! the same probe means two VIP holders at that instant.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pnet_datalink::Channel;

use crate::lan::Lan;

/// Sampling period.
pub const PERIOD: Duration = Duration::from_millis(20);

/// One reply: the probe it answered, when it arrived and which MAC sent it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub probe: u64,
    pub at: Instant,
    pub mac: [u8; 6],
}

/// A running sampler.
pub struct ArpSampler {
    stop: Arc<AtomicBool>,
    replies: Arc<Mutex<Vec<Reply>>>,
    probes: Arc<Mutex<u64>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    pub started: Instant,
}

/// An Ethernet ARP request (who-has `target` tell `sender_ip`) from `mac`.
pub fn arp_request(mac: [u8; 6], sender_ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&sender_ip.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f
}

/// If `frame` is an ARP reply from `ip`, the sender's MAC.
pub fn arp_reply_from(frame: &[u8], ip: Ipv4Addr) -> Option<[u8; 6]> {
    if frame.len() < 42 || frame[12..14] != [0x08, 0x06] || frame[20..22] != [0x00, 0x02] {
        return None;
    }
    if frame[28..32] != ip.octets() {
        return None;
    }
    frame[22..28].try_into().ok()
}

impl ArpSampler {
    /// Start sampling `vip` from namespace `ns` (whose `eth0` has address `client_ip`).
    pub fn start(
        _lan: &Lan,
        ns: &str,
        client_ip: Ipv4Addr,
        vip: Ipv4Addr,
    ) -> anyhow::Result<ArpSampler> {
        let stop = Arc::new(AtomicBool::new(false));
        let replies = Arc::new(Mutex::new(Vec::new()));
        let probes = Arc::new(Mutex::new(0u64));
        let (s, r, p) = (stop.clone(), replies.clone(), probes.clone());
        let path = format!("/run/netns/{ns}");
        let file = std::fs::File::open(&path)?;
        let thread = std::thread::spawn(move || -> anyhow::Result<()> {
            use std::os::fd::AsFd;
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
            let iface = pnet_datalink::interfaces()
                .into_iter()
                .find(|i| i.name == "eth0")
                .ok_or_else(|| anyhow::anyhow!("no eth0 in the client namespace"))?;
            let mac = iface.mac.map(|m| m.octets()).unwrap_or([2, 0, 0, 0, 0, 1]);
            let cfg = pnet_datalink::Config {
                read_timeout: Some(Duration::from_millis(2)),
                ..Default::default()
            };
            let (mut tx, mut rx) = match pnet_datalink::channel(&iface, cfg)? {
                Channel::Ethernet(tx, rx) => (tx, rx),
                _ => anyhow::bail!("not an Ethernet channel"),
            };
            let req = arp_request(mac, client_ip, vip);
            let mut probe = 0u64;
            let mut next = Instant::now();
            while !s.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    probe += 1;
                    if let Some(Err(e)) = tx.send_to(&req, None) {
                        anyhow::bail!("sending ARP: {e}");
                    }
                    if let Ok(mut n) = p.lock() {
                        *n = probe;
                    }
                    next += PERIOD;
                }
                if let Ok(frame) = rx.next() {
                    if let Some(m) = arp_reply_from(frame, vip) {
                        if let Ok(mut v) = r.lock() {
                            v.push(Reply {
                                probe,
                                at: Instant::now(),
                                mac: m,
                            });
                        }
                    }
                }
            }
            Ok(())
        });
        Ok(ArpSampler {
            stop,
            replies,
            probes,
            thread: Some(thread),
            started: Instant::now(),
        })
    }

    /// Replies so far.
    pub fn replies(&self) -> Vec<Reply> {
        self.replies.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Probes sent so far.
    pub fn probes(&self) -> u64 {
        self.probes.lock().map(|n| *n).unwrap_or(0)
    }

    /// The first reply that arrived after `t`.
    pub fn first_after(&self, t: Instant) -> Option<Reply> {
        self.replies().into_iter().find(|r| r.at > t)
    }

    /// Probes answered by more than one MAC: moments with two VIP holders.
    pub fn double_holders(&self) -> Vec<(u64, Vec<[u8; 6]>)> {
        let mut by_probe: std::collections::BTreeMap<u64, Vec<[u8; 6]>> = Default::default();
        for r in self.replies() {
            let macs = by_probe.entry(r.probe).or_default();
            if !macs.contains(&r.mac) {
                macs.push(r.mac);
            }
        }
        by_probe.into_iter().filter(|(_, m)| m.len() > 1).collect()
    }

    /// Stop the sampler; errors from its thread are returned.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(h) => h.join().map_err(|_| anyhow::anyhow!("sampler panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for ArpSampler {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn request_and_reply_codec() {
        let mac = [2, 1, 2, 3, 4, 5];
        let req = arp_request(
            mac,
            Ipv4Addr::new(10, 0, 0, 100),
            Ipv4Addr::new(10, 0, 0, 10),
        );
        assert_eq!(req.len(), 42);
        assert_eq!(
            arp_reply_from(&req, Ipv4Addr::new(10, 0, 0, 10)),
            None,
            "a request is not a reply"
        );
        let mut reply = req.clone();
        reply[20..22].copy_from_slice(&[0, 2]);
        reply[22..28].copy_from_slice(&[9, 9, 9, 9, 9, 9]);
        reply[28..32].copy_from_slice(&[10, 0, 0, 10]);
        assert_eq!(
            arp_reply_from(&reply, Ipv4Addr::new(10, 0, 0, 10)),
            Some([9; 6])
        );
        assert_eq!(
            arp_reply_from(&reply[..30], Ipv4Addr::new(10, 0, 0, 10)),
            None
        );
    }
}
