//! Property tests: no bytes panic the decoder or the request path, replies round-trip,
//! and the strict option walk agrees with what was encoded.

use std::net::{Ipv4Addr, SocketAddrV4};

use proptest::prelude::*;
use raftboot_raft::Mac;

use super::fixture::Fixture;
use crate::dhcp::client::ClientMessage;
use crate::dhcp::raw_options::{code, RawOptions};
use crate::dhcp::request::{DhcpRequest, Kind, MAGIC};
use crate::dhcp::{ParseError, Reply, ReplyKind};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// A valid DISCOVER with PXE options, as a base to mutate.
fn base_packet() -> Vec<u8> {
    let mut m = ClientMessage::new(Kind::Discover, Mac([2, 0, 0, 0, 0, 9]), 42);
    m.archs = vec![7, 0];
    m.vendor_class = Some("PXEClient:Arch:00007".into());
    m.ipxe = true;
    m.hostname = Some("box".into());
    m.encode()
}

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[a-zA-Z0-9./:_-]{{1,{max}}}")).unwrap()
}

fn reply() -> impl Strategy<Value = Reply> {
    let kind = prop_oneof![
        Just(ReplyKind::Offer),
        Just(ReplyKind::Ack),
        Just(ReplyKind::Nak)
    ];
    let head = (
        kind,
        any::<u32>(),
        any::<bool>(),
        any::<[u8; 6]>(),
        ipv4(),
        ipv4(),
        ipv4(),
    );
    let net = (
        proptest::option::of(1u32..u32::MAX),
        proptest::option::of(ipv4()),
        proptest::option::of(ipv4()),
        proptest::collection::vec(ipv4(), 0..4),
        proptest::option::of(text(40)),
        proptest::option::of(text(40)),
    );
    let boot = (
        proptest::option::of(text(250)),
        proptest::option::of(prop_oneof![
            Just("PXEClient".to_string()),
            Just("HTTPClient".to_string())
        ]),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(text(60)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 1..300)),
    );
    (head, net, boot).prop_map(|(h, n, b)| {
        let mut r = Reply::new(h.0, h.1, Mac(h.3), h.4);
        r.broadcast = h.2;
        r.yiaddr = h.5;
        r.siaddr = h.6;
        r.giaddr = h.4;
        (
            r.lease_secs,
            r.subnet_mask,
            r.router,
            r.dns,
            r.domain,
            r.hostname,
        ) = n;
        r.tftp_server = b.0.as_ref().map(|_| h.6.to_string());
        (
            r.boot_file,
            r.vendor_class,
            r.pxe_discovery_control,
            r.ipxe_no_proxydhcp,
        ) = (b.0, b.1, b.2, b.3);
        (r.message, r.relay_agent) = (b.4, b.5);
        r
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        let _ = DhcpRequest::parse(&bytes);
        let _ = RawOptions::parse(&bytes);
        let _ = Reply::decode(&bytes);
    }

    #[test]
    fn arbitrary_options_after_a_valid_header_never_panic(
        opts in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut p = base_packet();
        p.truncate(240);
        p.extend_from_slice(&opts);
        let _ = DhcpRequest::parse(&p);
    }

    #[test]
    fn mutated_requests_never_panic_the_request_path(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut p = base_packet();
        for (i, v) in &edits {
            let at = i.index(p.len());
            p[at] = *v;
        }
        if truncate {
            p.truncate(cut.index(p.len() + 1));
        }
        let f = Fixture::new();
        let src = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68);
        if let Some(out) = rt().block_on(f.handler.handle(&p, src)) {
            prop_assert!(Reply::decode(&out.bytes).is_ok());
        }
    }

    #[test]
    fn replies_round_trip(r in reply()) {
        let bytes = r.encode().unwrap();
        prop_assert!(bytes.len() >= 300);
        let back = Reply::decode(&bytes).unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn split_options_are_concatenated(value in proptest::collection::vec(any::<u8>(), 0..700)) {
        let mut m = ClientMessage::new(Kind::Discover, Mac([2, 0, 0, 0, 0, 1]), 1);
        m.raw = vec![(224, value.clone())];
        let raw = RawOptions::parse(&m.encode()).unwrap();
        let expected = if value.is_empty() { None } else { Some(value.as_slice()) };
        prop_assert_eq!(raw.get(224), expected);
    }
}

#[test]
fn decodes_what_the_client_sent() {
    let r = DhcpRequest::parse(&base_packet()).unwrap();
    assert_eq!(r.kind, Kind::Discover);
    assert_eq!(r.xid, 42);
    assert_eq!(r.mac, Mac([2, 0, 0, 0, 0, 9]));
    assert_eq!(r.archs, vec![7, 0]);
    assert!(r.ipxe);
    assert!(r.vendor_class_is("PXEClient"));
    assert_eq!(r.hostname.as_deref(), Some("box"));
}

#[test]
fn malformed_packets_are_refused_with_a_reason() {
    let good = base_packet();
    let reason = |p: &[u8]| DhcpRequest::parse(p).unwrap_err().reason();
    assert_eq!(reason(&good[..100]), "too_short");
    assert_eq!(reason(&vec![0u8; 1501]), "oversized");
    let mut p = good.clone();
    p[0] = 2;
    assert_eq!(reason(&p), "not_request");
    let mut p = good.clone();
    p[2] = 200; // hlen past chaddr: dhcproto's chaddr() would panic on it
    assert_eq!(reason(&p), "hardware");
    let mut p = good.clone();
    p[236] = 0;
    assert_eq!(reason(&p), "bad_magic");
    // An option whose length runs past the end.
    let mut p = good[..240].to_vec();
    p.extend_from_slice(&[code::MESSAGE_TYPE, 1, 1, code::HOSTNAME, 50, b'a']);
    assert_eq!(reason(&p), "bad_option");
    // Bad fixed lengths, including ones dhcproto would debug_assert on.
    for opts in [
        vec![code::MESSAGE_TYPE, 2, 1, 1, 255],
        vec![code::MESSAGE_TYPE, 1, 1, code::CLIENT_ARCH, 3, 0, 0, 7, 255],
        vec![
            code::MESSAGE_TYPE,
            1,
            1,
            code::REQUESTED_IP,
            3,
            1,
            2,
            3,
            255,
        ],
    ] {
        let mut p = good[..240].to_vec();
        p.extend_from_slice(&opts);
        assert_eq!(reason(&p), "bad_option", "{opts:?}");
    }
    // dhcproto debug_asserts on options 81 (len >= 3) and 94 (len == 3): never handed to it.
    let mut p = good[..240].to_vec();
    p.extend_from_slice(&[
        code::MESSAGE_TYPE,
        1,
        1,
        81,
        1,
        0,
        code::CLIENT_NDI,
        1,
        1,
        255,
    ]);
    assert!(DhcpRequest::parse(&p).is_ok());
    let mut p = good[..240].to_vec();
    p.extend_from_slice(&[code::MESSAGE_TYPE, 1, 2, 255]);
    assert_eq!(reason(&p), "message_type");
    let mut p = good.clone();
    p[28] = 1; // group bit
    assert_eq!(reason(&p), "bad_mac");
    assert_eq!(&good[236..240], &MAGIC);
    assert_eq!(ParseError::REASONS.len(), 9);
}

#[test]
fn file_names_lose_dhcprotos_trailing_nul() {
    let mut r = Reply::new(
        ReplyKind::Ack,
        1,
        Mac([2, 0, 0, 0, 0, 1]),
        Ipv4Addr::LOCALHOST,
    );
    r.boot_file = Some("pxelinux.0".into());
    let bytes = r.encode().unwrap();
    // The fixed `file` field alone (option 67 removed) also decodes without the NUL.
    let m = dhcproto::v4::Message::from_bytes(&bytes).unwrap();
    assert_eq!(m.fname(), Some(&b"pxelinux.0\0"[..]));
    assert_eq!(
        Reply::decode(&bytes).unwrap().boot_file.as_deref(),
        Some("pxelinux.0")
    );
}

use dhcproto::Decodable;
