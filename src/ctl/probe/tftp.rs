//! TFTP probe: read one whole file (octet mode, 512-byte blocks, no options) from
//! `server:port`, accepting packets only from the server's address.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

/// Largest file the probe reads (it is meant for small generated configs).
pub const MAX_FILE: usize = 1024 * 1024;
const BLOCK: usize = 512;

/// A decoded server packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    Data { block: u16, data: &'a [u8] },
    Error { code: u16, message: String },
    Other(u16),
}

/// A read request for `path` in octet mode.
pub fn rrq(path: &str) -> Vec<u8> {
    let mut p = vec![0, 1];
    p.extend_from_slice(path.as_bytes());
    p.push(0);
    p.extend_from_slice(b"octet");
    p.push(0);
    p
}

/// An acknowledgement of `block`.
pub fn ack(block: u16) -> Vec<u8> {
    let mut p = vec![0, 4];
    p.extend_from_slice(&block.to_be_bytes());
    p
}

/// Decode a packet from the server. Never panics.
pub fn decode(buf: &[u8]) -> Result<Packet<'_>, String> {
    let (op, rest) = match buf {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => return Err(format!("TFTP packet of {} bytes", buf.len())),
    };
    match (op, rest) {
        (3, [a, b, data @ ..]) if data.len() <= BLOCK => Ok(Packet::Data {
            block: u16::from_be_bytes([*a, *b]),
            data,
        }),
        (3, _) => Err("malformed TFTP DATA".into()),
        (5, [a, b, msg @ ..]) => Ok(Packet::Error {
            code: u16::from_be_bytes([*a, *b]),
            message: String::from_utf8_lossy(msg.split(|c| *c == 0).next().unwrap_or_default())
                .into_owned(),
        }),
        (5, _) => Err("malformed TFTP ERROR".into()),
        (op, _) => Ok(Packet::Other(op)),
    }
}

/// Read `path` from `server:port`; returns its bytes.
pub fn read(server: Ipv4Addr, port: u16, path: &str, wait: Duration) -> Result<Vec<u8>, String> {
    let io = |e: std::io::Error| format!("TFTP: {e}");
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(io)?;
    sock.set_read_timeout(Some(wait)).map_err(io)?;
    sock.send_to(&rrq(path), SocketAddrV4::new(server, port))
        .map_err(io)?;
    let mut file = Vec::new();
    let mut expect: u16 = 1;
    let mut tid: Option<SocketAddr> = None;
    let mut buf = [0u8; 4 + BLOCK + 64];
    loop {
        let (n, from) = sock.recv_from(&mut buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("TFTP: no answer from {server}:{port} within {wait:?}")
            }
            _ => io(e),
        })?;
        if from.ip() != server || tid.is_some_and(|t| t != from) {
            continue;
        }
        match decode(buf.get(..n).unwrap_or_default())? {
            Packet::Data { block, data } if block == expect => {
                tid = Some(from);
                file.extend_from_slice(data);
                if file.len() > MAX_FILE {
                    return Err(format!("TFTP: {path} is larger than {MAX_FILE} bytes"));
                }
                sock.send_to(&ack(block), from).map_err(io)?;
                if data.len() < BLOCK {
                    return Ok(file);
                }
                expect = expect.wrapping_add(1);
            }
            // A duplicate of the previous block: our ACK was lost.
            Packet::Data { block, .. } if block == expect.wrapping_sub(1) => {
                sock.send_to(&ack(block), from).map_err(io)?;
            }
            Packet::Data { block, .. } => {
                return Err(format!("TFTP: block {block} while expecting {expect}"))
            }
            Packet::Error { code, message } => {
                return Err(format!("TFTP error {code} for {path}: {message}"))
            }
            Packet::Other(op) => return Err(format!("TFTP: unexpected opcode {op}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn requests_and_acks_encode() {
        assert_eq!(rrq("a/b"), b"\x00\x01a/b\x00octet\x00".to_vec());
        assert_eq!(ack(258), vec![0, 4, 1, 2]);
    }

    #[test]
    fn packets_decode() {
        assert_eq!(
            decode(&[0, 3, 0, 7, b'x']),
            Ok(Packet::Data {
                block: 7,
                data: b"x"
            })
        );
        assert_eq!(
            decode(b"\x00\x05\x00\x01File not found\x00"),
            Ok(Packet::Error {
                code: 1,
                message: "File not found".into()
            })
        );
        assert!(decode(&[0]).is_err());
        assert!(decode(&[0, 3, 0]).is_err());
        assert_eq!(decode(&[0, 6, 0, 0]), Ok(Packet::Other(6)));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..700)) {
            let _ = decode(&b);
        }
    }
}
