//! The TFTP wire format (RFC 1350, RFC 2347 options): [`Request`] and [`ClientPacket`]
//! decoding from untrusted bytes, and the encoders for DATA, OACK and ERROR. Pure: no
//! sockets, never panics on any input.

/// Opcodes.
const RRQ: u16 = 1;
const WRQ: u16 = 2;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;

/// Longest accepted request (a request fits one 512-byte datagram in RFC 1350; options
/// make it longer, but nothing legitimate comes near this).
pub const MAX_REQUEST: usize = 1024;

/// TFTP error codes (RFC 1350 section 5, RFC 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum ErrorCode {
    /// Not defined, see message.
    Undefined = 0,
    /// File not found.
    FileNotFound = 1,
    /// Access violation.
    AccessViolation = 2,
    /// Illegal TFTP operation.
    IllegalOperation = 4,
    /// Unknown transfer ID.
    UnknownTid = 5,
    /// Option negotiation refused.
    BadOption = 8,
}

/// Why a datagram is not a valid request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than its fixed fields.
    #[error("truncated packet")]
    Truncated,
    /// Longer than [`MAX_REQUEST`].
    #[error("request too long")]
    TooLong,
    /// Not an opcode a server receives on its listening port.
    #[error("unexpected opcode {0}")]
    Opcode(u16),
    /// A string field without its terminating NUL.
    #[error("unterminated string")]
    Unterminated,
    /// A file name or option that is not UTF-8.
    #[error("string is not UTF-8")]
    NotUtf8,
    /// An empty file name.
    #[error("empty file name")]
    EmptyName,
}

/// Read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// RRQ.
    Read,
    /// WRQ.
    Write,
}

/// A decoded RRQ/WRQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Read or write.
    pub kind: Kind,
    /// The file name as sent.
    pub path: String,
    /// The transfer mode, lower-cased (`octet`, `netascii`; served as octets).
    pub mode: String,
    /// Options in request order, names lower-cased.
    pub options: Vec<(String, String)>,
}

/// What a client sends on a transfer port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientPacket {
    /// Acknowledges the block with this (16-bit, wrapping) number.
    Ack(u16),
    /// The client ended the transfer with this code.
    Error(u16),
    /// Anything else (ignored by a read transfer).
    Other,
}

fn opcode(b: &[u8]) -> Result<u16, PacketError> {
    match b {
        [h, l, ..] => Ok(u16::from_be_bytes([*h, *l])),
        _ => Err(PacketError::Truncated),
    }
}

/// Split NUL-terminated strings; the last one must be terminated.
fn strings(mut b: &[u8]) -> Result<Vec<&str>, PacketError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let end = b
            .iter()
            .position(|&c| c == 0)
            .ok_or(PacketError::Unterminated)?;
        let s = std::str::from_utf8(&b[..end]).map_err(|_| PacketError::NotUtf8)?;
        out.push(s);
        b = &b[end + 1..];
    }
    Ok(out)
}

impl Request {
    /// Decode a datagram received on the listening port.
    pub fn decode(b: &[u8]) -> Result<Request, PacketError> {
        if b.len() > MAX_REQUEST {
            return Err(PacketError::TooLong);
        }
        let kind = match opcode(b)? {
            RRQ => Kind::Read,
            WRQ => Kind::Write,
            op => return Err(PacketError::Opcode(op)),
        };
        let s = strings(&b[2..])?;
        let (path, mode) = match s.as_slice() {
            [p, m, ..] => (*p, *m),
            _ => return Err(PacketError::Truncated),
        };
        if path.is_empty() {
            return Err(PacketError::EmptyName);
        }
        // A trailing unpaired option name is ignored (some clients pad with an extra NUL).
        let options = s[2..]
            .chunks_exact(2)
            .map(|kv| (kv[0].to_ascii_lowercase(), kv[1].to_owned()))
            .collect();
        Ok(Request {
            kind,
            path: path.to_owned(),
            mode: mode.to_ascii_lowercase(),
            options,
        })
    }

    /// Encode (for tests and clients).
    pub fn encode(&self) -> Vec<u8> {
        let op = match self.kind {
            Kind::Read => RRQ,
            Kind::Write => WRQ,
        };
        let mut v = op.to_be_bytes().to_vec();
        for s in [&self.path, &self.mode] {
            v.extend_from_slice(s.as_bytes());
            v.push(0);
        }
        for (k, val) in &self.options {
            v.extend_from_slice(k.as_bytes());
            v.push(0);
            v.extend_from_slice(val.as_bytes());
            v.push(0);
        }
        v
    }
}

impl ClientPacket {
    /// Decode a datagram received on a transfer port.
    pub fn decode(b: &[u8]) -> ClientPacket {
        match (opcode(b), b.get(2..4)) {
            (Ok(ACK), Some([h, l])) => ClientPacket::Ack(u16::from_be_bytes([*h, *l])),
            (Ok(ERROR), Some([h, l])) => ClientPacket::Error(u16::from_be_bytes([*h, *l])),
            _ => ClientPacket::Other,
        }
    }
}

/// Write a DATA header for `block` into the first 4 bytes of `buf` (which must hold them).
pub fn put_data_header(buf: &mut [u8], block: u16) {
    if let Some(h) = buf.get_mut(..4) {
        h[..2].copy_from_slice(&DATA.to_be_bytes());
        h[2..].copy_from_slice(&block.to_be_bytes());
    }
}

/// An ACK (for tests and clients).
pub fn ack(block: u16) -> [u8; 4] {
    let mut b = [0u8; 4];
    b[..2].copy_from_slice(&ACK.to_be_bytes());
    b[2..].copy_from_slice(&block.to_be_bytes());
    b
}

/// An OACK carrying `options`.
pub fn oack(options: &[(&str, String)]) -> Vec<u8> {
    let mut v = OACK.to_be_bytes().to_vec();
    for (k, val) in options {
        v.extend_from_slice(k.as_bytes());
        v.push(0);
        v.extend_from_slice(val.as_bytes());
        v.push(0);
    }
    v
}

/// An ERROR packet.
pub fn error(code: ErrorCode, msg: &str) -> Vec<u8> {
    let mut v = ERROR.to_be_bytes().to_vec();
    v.extend_from_slice(&(code as u16).to_be_bytes());
    // A NUL inside the message would end it early: drop them.
    v.extend(msg.bytes().filter(|&c| c != 0).take(200));
    v.push(0);
    v
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_a_pxelinux_request() {
        let r =
            Request::decode(b"\0\x01/pxelinux.0\0octet\0tsize\0\x30\0BLKSIZE\0\x31408\0").unwrap();
        assert_eq!(r.kind, Kind::Read);
        assert_eq!(r.path, "/pxelinux.0");
        assert_eq!(r.mode, "octet");
        assert_eq!(
            r.options,
            vec![
                ("tsize".into(), "0".into()),
                ("blksize".into(), "1408".into())
            ]
        );
    }

    #[test]
    fn rejects_malformed_requests() {
        assert_eq!(Request::decode(b"\0"), Err(PacketError::Truncated));
        assert_eq!(Request::decode(b"\0\x03ab\0"), Err(PacketError::Opcode(3)));
        assert_eq!(Request::decode(b"\0\x01ab"), Err(PacketError::Unterminated));
        assert_eq!(Request::decode(b"\0\x01ab\0"), Err(PacketError::Truncated));
        assert_eq!(
            Request::decode(b"\0\x01\0octet\0"),
            Err(PacketError::EmptyName)
        );
        assert_eq!(
            Request::decode(b"\0\x01\xff\0octet\0"),
            Err(PacketError::NotUtf8)
        );
        assert_eq!(Request::decode(&[0u8; 2000]), Err(PacketError::TooLong));
    }

    #[test]
    fn client_packets() {
        assert_eq!(ClientPacket::decode(&ack(7)), ClientPacket::Ack(7));
        assert_eq!(
            ClientPacket::decode(b"\0\x05\0\x02x\0"),
            ClientPacket::Error(2)
        );
        assert_eq!(ClientPacket::decode(b"\0\x04\0"), ClientPacket::Other);
        let e = error(ErrorCode::FileNotFound, "a\0b");
        assert_eq!(e, b"\0\x05\0\x01ab\0");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let _ = Request::decode(&b);
            let _ = ClientPacket::decode(&b);
        }

        #[test]
        fn request_roundtrip(
            path in "[a-zA-Z0-9/._-]{1,40}",
            opts in proptest::collection::vec(("[a-z]{1,8}", "[0-9]{1,5}"), 0..4),
        ) {
            let r = Request { kind: Kind::Read, path, mode: "octet".into(), options: opts };
            prop_assert_eq!(Request::decode(&r.encode()), Ok(r));
        }
    }
}
