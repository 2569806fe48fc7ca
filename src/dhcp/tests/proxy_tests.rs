//! proxyDHCP mode end to end over the in-memory backend: boot options only, no address,
//! no Raft, port 67 OFFER and port 4011 ACK.

use std::net::{Ipv4Addr, SocketAddrV4};

use cluster_config::{DhcpMode, UnknownClients};

use super::fixture::*;
use crate::dhcp::addressing::Destination;
use crate::dhcp::client::ClientMessage;
use crate::dhcp::proxy::Port;
use crate::dhcp::reply::Reply;
use crate::dhcp::request::Kind;
use crate::dhcp::stats::DROP_REASONS;
use crate::dhcp::ReplyKind;

fn proxy() -> Fixture {
    Fixture::with(|s| s.mode = DhcpMode::Proxy)
}

fn pxe(kind: Kind, n: u8) -> ClientMessage {
    let mut m = ClientMessage::new(kind, unknown_mac(n), 40 + u32::from(n));
    m.vendor_class = Some("PXEClient:Arch:00000:UNDI:002001".into());
    m.archs = vec![0];
    m
}

fn dropped(f: &Fixture, reason: &str) -> u64 {
    let i = DROP_REASONS.iter().position(|r| *r == reason).unwrap();
    count(&f.stats.dropped[i])
}

fn assert_boot_only(r: &Reply) {
    assert_eq!(
        r.yiaddr,
        Ipv4Addr::UNSPECIFIED,
        "a proxy never hands out an address"
    );
    assert_eq!((r.siaddr, r.server_id), (SERVER, SERVER));
    assert_eq!(r.vendor_class.as_deref(), Some("PXEClient"));
    assert!(r.pxe_discovery_control);
    assert!(!r.ipxe_no_proxydhcp);
    assert_eq!(r.tftp_server.as_deref(), Some("10.9.0.10"));
    assert_eq!(
        (
            r.lease_secs,
            r.subnet_mask,
            r.router,
            r.dns.len(),
            r.domain.as_deref()
        ),
        (None, None, None, 0, None)
    );
}

#[tokio::test]
async fn discover_gets_boot_options_without_an_address() {
    let f = proxy();
    let (offer, out) = f.send(&pxe(Kind::Discover, 1)).await.unwrap();
    assert_eq!(offer.kind, ReplyKind::Offer);
    assert_boot_only(&offer);
    assert_eq!(offer.boot_file.as_deref(), Some("pxelinux.0"));
    assert!(
        matches!(out.to, Destination::Broadcast(a) if a == SocketAddrV4::new(Ipv4Addr::BROADCAST, 68))
    );
    // iPXE gets its script, and no "skip proxyDHCP" flag.
    let mut d = pxe(Kind::Discover, 2);
    d.ipxe = true;
    let (offer, _) = f.send(&d).await.unwrap();
    assert_eq!(offer.boot_file.as_deref(), Some("boot.ipxe"));
    assert_boot_only(&offer);
    // A fixed host gets its boot file but not its address (the other server owns them).
    let mut d = pxe(Kind::Discover, 3);
    d.mac = FIXED_MAC;
    let (offer, _) = f.send(&d).await.unwrap();
    assert_eq!(offer.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(count(&f.stats.raft_commits), 0);
    assert!(f.handler.offers.is_empty());
    assert!(f.backend.snapshot().leases.is_empty());
}

#[tokio::test]
async fn only_pxe_clients_and_only_discover_on_67() {
    let f = proxy();
    let plain = ClientMessage::new(Kind::Discover, unknown_mac(4), 1);
    assert!(f.send(&plain).await.is_none());
    assert_eq!(dropped(&f, "not_pxe_client"), 1);
    // The REQUEST to the address server is not ours, on either port.
    let mut r = pxe(Kind::Request, 5);
    r.requested = Some(Ipv4Addr::new(10, 9, 0, 150));
    r.server_id = Some(Ipv4Addr::new(10, 9, 0, 1));
    assert!(f.send(&r).await.is_none());
    assert!(dropped(&f, "proxy_not_answered") >= 1);
    // DISCOVER on 4011 is not a boot-server request.
    let src = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);
    let out = f
        .handler
        .handle_on(&pxe(Kind::Discover, 6).encode(), src, Port::Pxe)
        .await;
    assert!(out.is_none());
    let f = Fixture::with(|s| {
        s.mode = DhcpMode::Proxy;
        s.unknown_clients = UnknownClients::Ignore;
    });
    assert!(f.send(&pxe(Kind::Discover, 7)).await.is_none());
    assert_eq!(dropped(&f, "unknown_client"), 1);
}

#[tokio::test]
async fn request_on_the_pxe_port_gets_an_ack_back_to_its_source() {
    let f = proxy();
    let client = Ipv4Addr::new(10, 9, 0, 150);
    let mut r = pxe(Kind::Request, 8);
    r.ciaddr = client;
    r.archs = vec![7];
    let src = SocketAddrV4::new(client, 68);
    let out = f
        .handler
        .handle_on(&r.encode(), src, Port::Pxe)
        .await
        .unwrap();
    let ack = Reply::decode(&out.bytes).unwrap();
    assert_eq!(ack.kind, ReplyKind::Ack);
    assert_boot_only(&ack);
    assert_eq!(ack.ciaddr, client);
    assert_eq!(ack.boot_file.as_deref(), Some("bootx64.efi"));
    assert_eq!(out.to, Destination::Source(src));
    assert_eq!(count(&f.stats.raft_commits), 0);
    // Not the answering node: silent on 4011 too.
    f.leader.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(f
        .handler
        .handle_on(&r.encode(), src, Port::Pxe)
        .await
        .is_none());
}
