//! [`RaSender`]: IPv6 router advertisements on a test LAN, so PXE firmware does not wait
//! for them. iPXE waits ~13 s for IPv6 autoconfiguration when no router advertises; an RA
//! with no flags, no prefix and router lifetime 0 (not a default router) ends that wait at
//! once and configures nothing, on iPXE and on the Linux hosts of the LAN alike.
//!
//! Why a frame sender of our own and not dnsmasq's `--enable-ra`: it needs no extra
//! package, no IPv6 address on the sender and no process to reap; a thread in a namespace
//! writes one 70-byte frame (Ethernet, IPv6, ICMPv6 type 134) every [`PERIOD`] through the
//! same raw-socket layer the ARP sampler uses.

use std::net::Ipv6Addr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pnet_datalink::Channel;

/// Time between unsolicited advertisements.
pub const PERIOD: Duration = Duration::from_millis(300);

/// A thread sending router advertisements on one interface of one namespace.
pub struct RaSender {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

/// The link-local address of `mac` (modified EUI-64).
pub fn link_local(mac: [u8; 6]) -> Ipv6Addr {
    let b = [
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        mac[0] ^ 0x02,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ];
    Ipv6Addr::from(b)
}

/// The one's-complement sum used by ICMPv6 checksums.
fn sum16(acc: u32, bytes: &[u8]) -> u32 {
    bytes.chunks(2).fold(acc, |a, c| {
        let w = u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]);
        a + u32::from(w)
    })
}

/// An Ethernet frame carrying a router advertisement from `mac` to all nodes (ff02::1):
/// hop limit 255, no flags, router lifetime 0, no options.
pub fn router_advertisement(mac: [u8; 6]) -> Vec<u8> {
    let src = link_local(mac).octets();
    let dst = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets();
    // type 134, code 0, checksum, cur hop limit 64, flags 0, router lifetime 0,
    // reachable time 0, retrans timer 0.
    let mut icmp = vec![134u8, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let len = icmp.len() as u32;
    let mut acc = sum16(0, &src);
    acc = sum16(acc, &dst);
    acc = sum16(acc, &len.to_be_bytes());
    acc = sum16(acc, &[0, 0, 0, 58]);
    acc = sum16(acc, &icmp);
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    let ck = !(acc as u16);
    icmp[2..4].copy_from_slice(&ck.to_be_bytes());
    let mut f = Vec::with_capacity(14 + 40 + icmp.len());
    f.extend_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&icmp);
    f
}

impl RaSender {
    /// Start advertising on interface `iface` of namespace `ns` (one the caller made).
    pub fn start(ns: &str, iface: &str) -> anyhow::Result<RaSender> {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
        let (s, n, name) = (stop.clone(), sent.clone(), iface.to_string());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || -> anyhow::Result<()> {
            let opened = (|| -> anyhow::Result<_> {
                nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
                let iface = pnet_datalink::interfaces()
                    .into_iter()
                    .find(|i| i.name == name)
                    .ok_or_else(|| anyhow::anyhow!("no interface {name}"))?;
                let mac = iface
                    .mac
                    .map(|m| m.octets())
                    .ok_or_else(|| anyhow::anyhow!("{name} has no MAC"))?;
                match pnet_datalink::channel(&iface, pnet_datalink::Config::default())? {
                    Channel::Ethernet(tx, _rx) => Ok((tx, mac)),
                    _ => anyhow::bail!("not an Ethernet channel"),
                }
            })();
            let (mut tx, mac) = match opened {
                Ok(v) => {
                    let _ = ready_tx.send(Ok(()));
                    v
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return Err(e);
                }
            };
            let frame = router_advertisement(mac);
            while !s.load(Ordering::Relaxed) {
                if let Some(Ok(())) = tx.send_to(&frame, None) {
                    n.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(PERIOD);
            }
            Ok(())
        });
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => anyhow::bail!("router advertisements in {ns}: {e}"),
            Err(e) => anyhow::bail!("router advertisements in {ns}: {e}"),
        }
        Ok(RaSender {
            stop,
            sent,
            thread: Some(thread),
        })
    }

    /// Advertisements sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for RaSender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eui64_link_local() {
        let ll = link_local([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert_eq!(
            ll,
            "fe80::5054:ff:fe12:3456".parse::<Ipv6Addr>().unwrap_or(ll)
        );
        assert_eq!(ll.to_string(), "fe80::5054:ff:fe12:3456");
    }

    #[test]
    fn advertisement_checksum_verifies() {
        let f = router_advertisement([0x02, 0, 0, 0, 0, 1]);
        assert_eq!(f.len(), 14 + 40 + 16);
        // Summing the pseudo-header and the message including its checksum gives 0xffff.
        let mut acc = sum16(0, &f[22..38]);
        acc = sum16(acc, &f[38..54]);
        acc = sum16(acc, &16u32.to_be_bytes());
        acc = sum16(acc, &[0, 0, 0, 58]);
        acc = sum16(acc, &f[54..]);
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        assert_eq!(acc, 0xffff);
        assert_eq!(f[54], 134);
        assert_eq!(f[21], 255, "hop limit");
    }
}
