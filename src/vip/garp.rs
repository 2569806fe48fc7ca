//! Gratuitous ARP for a freshly claimed VIP, sent from a thread of this process inside the
//! VIP namespace. No helper process is started there: a child would outlive a SIGKILLed
//! bootd and keep the namespace (and the VIP) alive until it exited.

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::time::Duration;

use pnet_datalink::Channel;

/// A gratuitous ARP frame: `op` 1 (request) or 2 (reply), sender = target = `ip`.
pub fn frame(mac: [u8; 6], ip: Ipv4Addr, op: u8) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, op]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&if op == 2 { [0xff; 6] } else { [0; 6] });
    f.extend_from_slice(&ip.octets());
    f
}

/// Announce `ip` on `link` (inside the namespace `ns_file`) `count` times, 100 ms apart,
/// from a detached thread.
pub fn announce(ns_file: std::fs::File, link: String, ip: Ipv4Addr, count: usize) {
    let spawned = std::thread::Builder::new()
        .name("vip-garp".into())
        .spawn(move || {
            if let Err(e) = nix::sched::setns(ns_file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            {
                tracing::warn!(error = %e, "gratuitous ARP: cannot enter the VIP namespace");
                return;
            }
            let Some(iface) = pnet_datalink::interfaces()
                .into_iter()
                .find(|i| i.name == link)
            else {
                tracing::warn!(%link, "gratuitous ARP: link not found");
                return;
            };
            let Some(mac) = iface.mac.map(|m| m.octets()) else {
                return;
            };
            let mut tx = match pnet_datalink::channel(&iface, pnet_datalink::Config::default()) {
                Ok(Channel::Ethernet(tx, _)) => tx,
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "gratuitous ARP: no raw channel");
                    return;
                }
            };
            for i in 0..count {
                for op in [1u8, 2u8] {
                    let _ = tx.send_to(&frame(mac, ip, op), None);
                }
                if i + 1 < count {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "gratuitous ARP thread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn garp_frames_name_the_vip_as_sender_and_target() {
        let f = frame([2, 0, 0, 0, 0, 9], Ipv4Addr::new(10, 0, 0, 10), 1);
        assert_eq!(f.len(), 42);
        assert_eq!(&f[28..32], &[10, 0, 0, 10]);
        assert_eq!(&f[38..42], &[10, 0, 0, 10]);
        assert_eq!(f[21], 1);
    }
}
