//! The portmapper over UDP and TCP, MOUNT over UDP, and malformed input as counted drops.

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::time::Duration;

use raftboot::nfs::portmap::{
    decode_dump_reply, decode_getport_reply, encode_dump_call, encode_getport_call, IPPROTO_TCP,
    IPPROTO_UDP, MOUNT_PROG, NFS_PROG,
};
use raftboot::nfs::rpc::{frame_record, RecordReader};

use crate::nfs_support::client::RawClient;
use crate::nfs_support::{Image, Server};

#[test]
fn the_portmapper_answers_over_udp_and_tcp_and_bad_input_is_a_counted_drop() {
    let img = Image::build_small();
    let srv = Server::start(&img.state, &img.store_dir);
    let nfs_port = u32::from(srv.nfs.port());
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let ask = |msg: &[u8], to| {
        let mut buf = [0u8; 65536];
        udp.send_to(msg, to).unwrap();
        let (n, _) = udp.recv_from(&mut buf).unwrap();
        buf[..n].to_vec()
    };
    let mut buf = [0u8; 65536];
    // klibc nfsmount: GETPORT(MOUNT v3) over UDP.
    for (xid, prog, prot) in [
        (1, MOUNT_PROG, IPPROTO_UDP),
        (2, MOUNT_PROG, IPPROTO_TCP),
        (3, NFS_PROG, IPPROTO_TCP),
        (4, NFS_PROG, IPPROTO_UDP),
    ] {
        let r = ask(&encode_getport_call(xid, prog, 3, prot), srv.portmap);
        assert_eq!(decode_getport_reply(&r).unwrap(), (xid, nfs_port));
    }
    let (_, maps) = decode_dump_reply(&ask(&encode_dump_call(9), srv.portmap)).unwrap();
    assert_eq!(maps.len(), 6);

    // Garbage datagram: no reply, counted; the next call is still answered.
    udp.send_to(b"\x00\x01garbage", srv.portmap).unwrap();
    let r = ask(
        &encode_getport_call(5, MOUNT_PROG, 3, IPPROTO_UDP),
        srv.portmap,
    );
    assert_eq!(decode_getport_reply(&r).unwrap(), (5, nfs_port));
    assert_eq!(srv.counters.bad_rpc.load(Ordering::Relaxed), 1);

    // GETPORT over TCP.
    let mut tcp = std::net::TcpStream::connect(srv.portmap).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(&frame_record(&encode_getport_call(
        6,
        NFS_PROG,
        3,
        IPPROTO_TCP,
    )))
    .unwrap();
    let mut rr = RecordReader::new(1 << 16);
    let reply = loop {
        if let Some(r) = rr.next_record().unwrap() {
            break r;
        }
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0);
        rr.push(&buf[..n]);
    };
    assert_eq!(decode_getport_reply(&reply).unwrap(), (6, nfs_port));

    // MOUNT over UDP on the NFS port, as a UDP-only mount client would do it.
    let mut args = raftboot::nfs::xdr::XdrWriter::new();
    args.opaque(b"/images/demo");
    let msg = raftboot::nfs::rpc::encode_call(7, MOUNT_PROG, 3, 1, None, &args.into_bytes());
    let r = ask(&msg, srv.nfs);
    let h = raftboot::nfs::rpc::decode_reply(&r).unwrap();
    let mut rd = raftboot::nfs::xdr::XdrReader::new(&r[h.results_at..]);
    let fh_udp = raftboot::nfs::mount::decode_mnt_result(&mut rd)
        .unwrap()
        .unwrap();
    let mut cl = RawClient::connect(srv.nfs);
    assert_eq!(cl.mnt("/images/demo").unwrap(), fh_udp);

    // An oversized record closes that connection only; garbage calls get no reply.
    let mut evil = RawClient::connect(srv.nfs);
    evil.send_raw(&0xffff_ffffu32.to_be_bytes());
    let mut s = std::net::TcpStream::connect(srv.nfs).unwrap();
    s.write_all(&frame_record(b"\x00\x00\x00\x01\x00\x00\x00\x01"))
        .unwrap(); // a "reply"
    drop(s);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while srv.counters.bad_rpc.load(Ordering::Relaxed) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "bad input not counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        cl.mnt("/images/demo").unwrap(),
        fh_udp,
        "server still serves"
    );
}
