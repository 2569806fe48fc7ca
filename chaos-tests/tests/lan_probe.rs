//! The LAN harness itself: code run with `Lan::in_ns` really is inside the namespace (its
//! sockets use the namespace's addresses), and hosts on the bridge reach each other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chaos_tests::lan::Lan;

#[test]
fn in_ns_threads_use_the_namespace_network() {
    if !Lan::available() {
        eprintln!("SKIP: needs root");
        return;
    }
    let mut lan = Lan::new().unwrap();
    let a = lan.add_host("a", 11).unwrap();
    let b = lan.add_host("b", 12).unwrap();
    let b_ip = lan.ip(12);
    // A listener inside b.
    let listener = lan
        .in_ns(&b, move || {
            std::net::TcpListener::bind((b_ip, 7777)).unwrap()
        })
        .unwrap();
    let a_ip = lan.ip(11);
    let local = lan
        .in_ns(&a, move || {
            let s = std::net::TcpStream::connect_timeout(
                &(b_ip, 7777).into(),
                std::time::Duration::from_secs(2),
            )
            .unwrap();
            s.local_addr().unwrap()
        })
        .unwrap();
    assert_eq!(
        local.ip(),
        std::net::IpAddr::V4(a_ip),
        "the socket did not come from a's address"
    );
    let (_, peer) = listener.accept().unwrap();
    assert_eq!(peer.ip(), std::net::IpAddr::V4(a_ip));
}
