//! NFS probe: GETPORT for NFS v3 over TCP from the portmapper (UDP) on the server, then an
//! NFS NULL call over TCP to the port it named. Uses the server's own XDR/RPC codecs.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::time::Duration;

use crate::nfs::portmap::{decode_getport_reply, encode_getport_call, IPPROTO_TCP, NFS_PROG};
use crate::nfs::rpc::{decode_reply, encode_call, frame_record, AcceptStat, RecordReader};

/// Ask the portmapper at `server:portmap_port` for the NFS v3 TCP port.
pub fn getport(server: Ipv4Addr, portmap_port: u16, wait: Duration) -> Result<u16, String> {
    let io = |e: std::io::Error| format!("portmapper: {e}");
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(io)?;
    sock.set_read_timeout(Some(wait)).map_err(io)?;
    let xid: u32 = rand::random();
    sock.send_to(
        &encode_getport_call(xid, NFS_PROG, 3, IPPROTO_TCP),
        SocketAddrV4::new(server, portmap_port),
    )
    .map_err(io)?;
    let mut buf = [0u8; 512];
    loop {
        let (n, from) = sock.recv_from(&mut buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("portmapper: no answer from {server}:{portmap_port} within {wait:?}")
            }
            _ => io(e),
        })?;
        if from.ip() != server {
            continue;
        }
        let (rxid, port) = decode_getport_reply(buf.get(..n).unwrap_or_default())
            .map_err(|e| format!("portmapper: {e}"))?;
        if rxid != xid {
            continue;
        }
        return match u16::try_from(port) {
            Ok(p) if p != 0 => Ok(p),
            _ => Err(format!(
                "portmapper: NFS v3/TCP not registered (port {port})"
            )),
        };
    }
}

/// An NFS v3 NULL call to `server:port` over TCP.
pub fn null(server: Ipv4Addr, port: u16, wait: Duration) -> Result<(), String> {
    let io = |e: std::io::Error| format!("NFS NULL to {server}:{port}: {e}");
    let addr = SocketAddr::V4(SocketAddrV4::new(server, port));
    let mut s = TcpStream::connect_timeout(&addr, wait).map_err(io)?;
    s.set_read_timeout(Some(wait)).map_err(io)?;
    s.set_write_timeout(Some(wait)).map_err(io)?;
    let xid: u32 = rand::random();
    s.write_all(&frame_record(&encode_call(xid, NFS_PROG, 3, 0, None, &[])))
        .map_err(io)?;
    let mut records = RecordReader::new(64 * 1024);
    let mut buf = [0u8; 1024];
    loop {
        if let Some(msg) = records.next_record().map_err(|e| e.to_string())? {
            let h = decode_reply(&msg).map_err(|e| format!("NFS NULL: {e}"))?;
            if h.xid != xid {
                continue;
            }
            return match h.accept {
                Some(AcceptStat::Success) => Ok(()),
                other => Err(format!("NFS NULL answered {other:?}")),
            };
        }
        let n = s.read(&mut buf).map_err(io)?;
        if n == 0 {
            return Err(format!("NFS NULL to {server}:{port}: connection closed"));
        }
        records.push(buf.get(..n).unwrap_or_default());
    }
}
