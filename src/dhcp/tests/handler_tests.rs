//! The request path end to end: datagram in, reply datagram out, leases in the state.

use std::net::{Ipv4Addr, SocketAddrV4};

use cluster_config::UnknownClients;

use super::fixture::*;
use crate::dhcp::addressing::Destination;
use crate::dhcp::client::ClientMessage;
use crate::dhcp::policy::declined_mac;
use crate::dhcp::request::Kind;
use crate::dhcp::ReplyKind;

#[tokio::test]
async fn unknown_client_gets_a_pool_lease_committed_before_the_ack() {
    let f = Fixture::new();
    let mac = unknown_mac(1);
    let addr = first_offer(mac);
    let (offer, out) = f
        .send(&ClientMessage::new(Kind::Discover, mac, 7))
        .await
        .unwrap();
    assert_eq!(offer.kind, ReplyKind::Offer);
    assert_eq!(offer.xid, 7);
    assert_eq!(offer.yiaddr, addr);
    assert_eq!(offer.server_id, SERVER);
    assert_eq!(offer.siaddr, SERVER);
    assert_eq!(offer.tftp_server.as_deref(), Some("10.9.0.10"));
    assert_eq!(offer.boot_file.as_deref(), Some("pxelinux.0"));
    assert_eq!(offer.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(offer.router, Some(Ipv4Addr::new(10, 9, 0, 1)));
    assert_eq!(offer.dns, vec![Ipv4Addr::new(10, 9, 0, 2)]);
    assert_eq!(offer.domain.as_deref(), Some("boot.test"));
    assert_eq!(offer.lease_secs, Some(600));
    assert_eq!(offer.hostname, None);
    assert!(
        matches!(out.to, Destination::Broadcast(a) if a == SocketAddrV4::new(Ipv4Addr::BROADCAST, 68))
    );
    // The offer is an in-memory reservation: nothing committed yet.
    assert_eq!(count(&f.stats.raft_commits), 0);
    assert!(f.backend.snapshot().lease_of(&mac).is_none());
    assert_eq!(f.handler.offers.len(), 1);
    // A retransmitted DISCOVER gets the same address; another client another one.
    let (again, _) = f
        .send(&ClientMessage::new(Kind::Discover, mac, 8))
        .await
        .unwrap();
    assert_eq!(again.yiaddr, addr);
    let (other, _) = f
        .send(&ClientMessage::new(Kind::Discover, unknown_mac(2), 8))
        .await
        .unwrap();
    assert_ne!(other.yiaddr, addr);
    // Another MAC asking for the reserved address is refused.
    let mut grab = ClientMessage::new(Kind::Request, unknown_mac(3), 9);
    grab.requested = Some(addr);
    let (nak, _) = f.send(&grab).await.unwrap();
    assert_eq!(nak.kind, ReplyKind::Nak);
    assert_eq!(count(&f.stats.raft_commits), 0);

    // The ACK commits the lease (one commit per DORA) before it is sent.
    let ack = f.dora(mac).await;
    assert_eq!(ack.kind, ReplyKind::Ack);
    assert_eq!(ack.yiaddr, addr);
    assert_eq!(count(&f.stats.raft_commits), 1);
    let st = f.backend.snapshot();
    assert_eq!(st.lease_of(&mac).map(|l| l.ip), Some(addr));
    assert_eq!(
        f.handler.offers.len(),
        1,
        "only the other client's offer is held"
    );
    // Offer of an existing live lease and a fresh ACK: no further commits.
    let commits = count(&f.stats.raft_commits);
    let ack = f.dora(mac).await;
    assert_eq!((ack.kind, ack.yiaddr), (ReplyKind::Ack, addr));
    assert_eq!(count(&f.stats.raft_commits), commits);
    // A renewal later (ciaddr, unicast) commits and extends.
    f.advance(400_000);
    let mut renew = ClientMessage::new(Kind::Request, mac, 9);
    renew.ciaddr = addr;
    let (ack, out) = f.send(&renew).await.unwrap();
    assert_eq!(
        (ack.kind, ack.yiaddr, ack.ciaddr),
        (ReplyKind::Ack, addr, addr)
    );
    assert!(matches!(out.to, Destination::Unicast(a) if a == SocketAddrV4::new(addr, 68)));
    assert_eq!(count(&f.stats.raft_commits), commits + 1);
    let l = f.backend.snapshot().lease_of(&mac).cloned().unwrap();
    assert_eq!(l.expires_ms, NOW + 400_000 + 600_000);
}

#[tokio::test]
async fn fixed_host_gets_its_address_without_raft() {
    let f = Fixture::new();
    let ack = f.dora(FIXED_MAC).await;
    assert_eq!(ack.yiaddr, FIXED_IP);
    assert_eq!(ack.hostname.as_deref(), Some("web-01"));
    // Group override.
    assert_eq!(ack.boot_file.as_deref(), Some("web.efi"));
    // In the pool's subnet? No: the pool does not contain it, so the default prefix.
    assert_eq!(ack.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(count(&f.stats.raft_commits), 0);
    assert!(f.backend.snapshot().leases.is_empty());
    // Asking for another address is refused.
    let mut req = ClientMessage::new(Kind::Request, FIXED_MAC, 3);
    req.requested = Some(POOL_START);
    let (nak, out) = f.send(&req).await.unwrap();
    assert_eq!(nak.kind, ReplyKind::Nak);
    assert!(matches!(out.to, Destination::Broadcast(_)));
}

#[tokio::test]
async fn known_host_without_ip_uses_pool_and_host_boot_file() {
    let f = Fixture::new();
    let ack = f.dora(DYN_HOST_MAC).await;
    assert_eq!(ack.yiaddr, first_offer(DYN_HOST_MAC));
    assert_eq!(ack.hostname.as_deref(), Some("db-01"));
    assert_eq!(ack.boot_file.as_deref(), Some("db.0"));
}

#[tokio::test]
async fn unknown_client_modes() {
    let f = Fixture::with(|s| s.unknown_clients = UnknownClients::Ignore);
    assert!(f
        .send(&ClientMessage::new(Kind::Discover, unknown_mac(1), 1))
        .await
        .is_none());
    assert_eq!(count(&f.stats.dropped[0]), 1);
    // Known hosts are still served.
    assert_eq!(f.dora(FIXED_MAC).await.yiaddr, FIXED_IP);

    let f = Fixture::with(|s| s.unknown_clients = UnknownClients::Register);
    let mut d = ClientMessage::new(Kind::Discover, unknown_mac(2), 1);
    d.archs = vec![7];
    let (offer, _) = f.send(&d).await.unwrap();
    assert_eq!(offer.boot_file.as_deref(), Some("register.ipxe"));
    let f = Fixture::with(|s| {
        s.unknown_clients = UnknownClients::Register;
        s.registration_group = Some("missing".into());
    });
    assert!(f.send(&d).await.is_none());
}

#[tokio::test]
async fn pxe_and_ipxe_clients() {
    let f = Fixture::new();
    let mut d = ClientMessage::new(Kind::Discover, unknown_mac(3), 1);
    d.vendor_class = Some("PXEClient:Arch:00007:UNDI:003016".into());
    d.archs = vec![7];
    let (r, _) = f.send(&d).await.unwrap();
    assert_eq!(r.boot_file.as_deref(), Some("bootx64.efi"));
    assert_eq!(r.vendor_class.as_deref(), Some("PXEClient"));
    assert!(r.pxe_discovery_control);
    assert!(!r.ipxe_no_proxydhcp);
    // The same machine once iPXE runs: the script, and no proxyDHCP wait.
    d.ipxe = true;
    let (r, _) = f.send(&d).await.unwrap();
    assert_eq!(r.boot_file.as_deref(), Some("boot.ipxe"));
    assert!(r.ipxe_no_proxydhcp);
    assert!(!r.pxe_discovery_control);
    // Several architectures in option 93 (dhcproto would keep only the first).
    let mut d = ClientMessage::new(Kind::Discover, unknown_mac(4), 1);
    d.archs = vec![0x99, 11];
    let (r, _) = f.send(&d).await.unwrap();
    assert_eq!(r.boot_file.as_deref(), Some("bootaa64.efi"));
    // HTTP boot.
    let mut d = ClientMessage::new(Kind::Discover, unknown_mac(5), 1);
    d.archs = vec![16];
    d.vendor_class = Some("HTTPClient:Arch:00016:UNDI:003001".into());
    let (r, _) = f.send(&d).await.unwrap();
    assert_eq!(r.vendor_class.as_deref(), Some("HTTPClient"));
    assert!(r.boot_file.unwrap().starts_with("http://"));
}

#[tokio::test]
async fn request_states_and_naks() {
    let f = Fixture::new();
    let mac = unknown_mac(6);
    let ack = f.dora(mac).await;
    // SELECTING another server: silent.
    let mut other = ClientMessage::new(Kind::Request, mac, 3);
    other.requested = Some(ack.yiaddr);
    other.server_id = Some(Ipv4Addr::new(10, 9, 0, 99));
    assert!(f.send(&other).await.is_none());
    // INIT-REBOOT with its own address: ACK; with another MAC's address: NAK.
    let mut reboot = ClientMessage::new(Kind::Request, mac, 4);
    reboot.requested = Some(ack.yiaddr);
    assert_eq!(f.send(&reboot).await.unwrap().0.kind, ReplyKind::Ack);
    let other_ack = f.dora(unknown_mac(7)).await;
    reboot.requested = Some(other_ack.yiaddr);
    let (r, _) = f.send(&reboot).await.unwrap();
    assert_eq!(r.kind, ReplyKind::Nak);
    assert_eq!(r.message.as_deref(), Some("address in use"));
    // Outside the pool: NAK.
    reboot.requested = Some(Ipv4Addr::new(192, 168, 1, 5));
    assert_eq!(f.send(&reboot).await.unwrap().0.kind, ReplyKind::Nak);
    // INIT-REBOOT of a free pool address by a client we forgot: granted.
    let st = f.backend.snapshot();
    let free = (u32::from(POOL_START)..=u32::from(POOL_END))
        .map(Ipv4Addr::from)
        .find(|ip| !st.leases.contains_key(ip))
        .expect("a free pool address");
    let mut lost = ClientMessage::new(Kind::Request, unknown_mac(8), 5);
    lost.requested = Some(free);
    let (r, _) = f.send(&lost).await.unwrap();
    assert_eq!((r.kind, r.yiaddr), (ReplyKind::Ack, free));
    assert!(count(&f.stats.naks) >= 2);
}

#[tokio::test]
async fn release_decline_inform() {
    let f = Fixture::new();
    let mac = unknown_mac(9);
    let ack = f.dora(mac).await;
    let mut decline = ClientMessage::new(Kind::Decline, mac, 3);
    decline.requested = Some(ack.yiaddr);
    decline.server_id = Some(SERVER);
    assert!(f.send(&decline).await.is_none());
    let st = f.backend.snapshot();
    assert_eq!(st.leases[&ack.yiaddr].mac, declined_mac(ack.yiaddr));
    assert!(st.lease_of(&mac).is_none());
    // The next DORA gets another address.
    let ack2 = f.dora(mac).await;
    assert_ne!(ack2.yiaddr, ack.yiaddr);
    let mut release = ClientMessage::new(Kind::Release, mac, 4);
    release.ciaddr = ack2.yiaddr;
    release.server_id = Some(SERVER);
    assert!(f.send(&release).await.is_none());
    assert!(f.backend.snapshot().lease_of(&mac).is_none());
    assert_eq!(count(&f.stats.releases), 1);
    let mut inform = ClientMessage::new(Kind::Inform, mac, 5);
    inform.ciaddr = Ipv4Addr::new(10, 9, 0, 77);
    let (r, out) = f.send(&inform).await.unwrap();
    assert_eq!(
        (r.kind, r.yiaddr, r.lease_secs),
        (ReplyKind::Ack, Ipv4Addr::UNSPECIFIED, None)
    );
    assert!(matches!(out.to, Destination::Unicast(a) if *a.ip() == inform.ciaddr));
}

#[tokio::test]
async fn relays_sources_gate_and_failures() {
    let f = Fixture::new();
    let mut d = ClientMessage::new(Kind::Discover, unknown_mac(10), 1);
    d.giaddr = Ipv4Addr::new(10, 9, 5, 1);
    let (_, out) = f.send(&d).await.unwrap();
    assert_eq!(out.to, Destination::Relay(SocketAddrV4::new(d.giaddr, 67)));
    let src = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40000);
    let d = ClientMessage::new(Kind::Discover, unknown_mac(11), 1);
    let (_, out) = f.send_from(&d, src).await.unwrap();
    assert_eq!(out.to, Destination::Source(src));
    // Not the answering node: counted, silent.
    f.leader.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(f.send(&d).await.is_none());
    assert_eq!(count(&f.stats.dropped_not_leader), 1);
    f.leader.store(true, std::sync::atomic::Ordering::Relaxed);
    // A failed commit (of the ACK): no reply, counted; the offer stays reserved.
    *f.backend.fail.lock().unwrap() = Some("no leader".into());
    let (offer, _) = f
        .send(&ClientMessage::new(Kind::Discover, unknown_mac(12), 1))
        .await
        .unwrap();
    let mut r = ClientMessage::new(Kind::Request, unknown_mac(12), 2);
    r.requested = Some(offer.yiaddr);
    r.server_id = Some(SERVER);
    assert!(f.send(&r).await.is_none());
    assert_eq!(count(&f.stats.raft_errors), 1);
    *f.backend.fail.lock().unwrap() = None;
    // Pool exhausted (4 addresses, 3 offered above): one more client, then nothing.
    let mut offered = std::collections::BTreeSet::new();
    for n in 13..20 {
        if let Some((o, _)) = f
            .send(&ClientMessage::new(Kind::Discover, unknown_mac(n), 1))
            .await
        {
            offered.insert(o.yiaddr);
        }
    }
    assert_eq!(offered.len(), 1, "{offered:?}");
    assert!(count(&f.stats.dropped[8]) >= 1, "pool_exhausted counted");
    // The retried REQUEST now commits; reservations expire after their hold time.
    assert_eq!(f.send(&r).await.unwrap().0.kind, ReplyKind::Ack);
    f.advance(crate::dhcp::offers::OFFER_HOLD_MS + 1);
    let (late, _) = f
        .send(&ClientMessage::new(Kind::Discover, unknown_mac(30), 1))
        .await
        .unwrap();
    assert_eq!(late.kind, ReplyKind::Offer);
}

#[tokio::test]
async fn no_address_is_given_to_two_macs() {
    let f = Fixture::new();
    let mut seen = std::collections::HashMap::new();
    for n in 0..4 {
        let mac = unknown_mac(100 + n);
        let ack = f.dora(mac).await;
        assert_eq!(ack.kind, ReplyKind::Ack);
        assert!(
            seen.insert(ack.yiaddr, mac).is_none(),
            "{} twice",
            ack.yiaddr
        );
    }
}

#[tokio::test]
async fn a_failover_does_not_nak_clients_the_old_node_made_offers_to() {
    // Three unknown clients whose hashed starting points differ (the fixture's pool has
    // four addresses, so this picks the MACs; it is a precondition, not the result).
    let macs: Vec<_> = (10..=255)
        .map(unknown_mac)
        .fold(Vec::new(), |mut v: Vec<_>, m| {
            if v.len() < 3 && v.iter().all(|o| first_offer(*o) != first_offer(m)) {
                v.push(m);
            }
            v
        });
    assert_eq!(macs.len(), 3, "three MACs with distinct starting points");
    let (x, y, z) = (macs[0], macs[1], macs[2]);
    // The old node offers to X and Y, then dies before their REQUESTs.
    let old = Fixture::new();
    let mut offered = Vec::new();
    for mac in [x, y] {
        let (o, _) = old
            .send(&ClientMessage::new(Kind::Discover, mac, 1))
            .await
            .unwrap();
        assert_eq!(o.kind, ReplyKind::Offer);
        offered.push((mac, o.yiaddr));
    }
    // The new node (same committed state, no reservations) first hears a DISCOVER from Z,
    // then the REQUESTs X and Y send for their offers: both are granted.
    let new = Fixture::new();
    let (oz, _) = new
        .send(&ClientMessage::new(Kind::Discover, z, 1))
        .await
        .unwrap();
    assert_eq!(oz.kind, ReplyKind::Offer);
    for (mac, ip) in offered {
        assert_ne!(oz.yiaddr, ip, "Z was offered {mac}'s address");
        let mut req = ClientMessage::new(Kind::Request, mac, 2);
        req.requested = Some(ip);
        req.server_id = Some(SERVER);
        let (r, _) = new.send(&req).await.unwrap();
        assert_eq!((r.kind, r.yiaddr), (ReplyKind::Ack, ip), "{mac}");
    }
    assert_eq!(count(&new.stats.naks), 0);
}
