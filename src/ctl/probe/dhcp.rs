//! DHCP probe: a DHCPINFORM sent to the directed broadcast of the VIP's subnet from this
//! host's address on it; good when the expected node (the VIP holder) answers with an ACK
//! whose server identifier is the VIP, and no other node answers the same request. Replies
//! come back to our source port (the server answers a client port other than 68 there).

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use raftboot_raft::Mac;

use super::{Answer, Failure};
use crate::dhcp::client::ClientMessage;
use crate::dhcp::raw_options::{code, RawOptions};
use crate::dhcp::request::Kind;

/// DHCP magic cookie.
const COOKIE: [u8; 4] = [99, 130, 83, 99];
/// DHCPACK.
const ACK: u8 = 5;
/// Retransmission interval of the INFORM within one round.
pub const RESEND: Duration = Duration::from_millis(20);

/// What a reply said, as far as the probe cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyInfo {
    pub xid: u32,
    pub message_type: Option<u8>,
    pub server_id: Option<Ipv4Addr>,
}

/// Decode a BOOTREPLY's transaction id, message type and server identifier. Never panics.
pub fn decode_reply(packet: &[u8]) -> Result<ReplyInfo, String> {
    if packet.len() < 240 || packet.first() != Some(&2) {
        return Err("not a BOOTREPLY".into());
    }
    if packet.get(236..240) != Some(&COOKIE[..]) {
        return Err("no DHCP magic cookie".into());
    }
    let xid = packet
        .get(4..8)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .ok_or("short header")?;
    let opts = RawOptions::parse(packet).map_err(|e| e.to_string())?;
    Ok(ReplyInfo {
        xid,
        message_type: opts.u8(code::MESSAGE_TYPE),
        server_id: opts.ipv4(code::SERVER_ID),
    })
}

/// The directed broadcast address of `ip/prefix`.
pub fn broadcast(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let host_bits = 32u32.saturating_sub(u32::from(prefix.min(32)));
    let mask = u32::MAX.checked_shl(host_bits).unwrap_or(0);
    Ipv4Addr::from(u32::from(ip) | !mask)
}

/// This host's address towards `dest` (no packet is sent).
pub fn local_addr_towards(dest: Ipv4Addr) -> Result<Ipv4Addr, String> {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(|e| e.to_string())?;
    s.connect((dest, 67))
        .map_err(|e| format!("no route to {dest}: {e}"))?;
    match s.local_addr().map_err(|e| e.to_string())?.ip() {
        std::net::IpAddr::V4(v4) => Ok(v4),
        other => Err(format!("local address {other} is not IPv4")),
    }
}

/// One INFORM round: send (again every [`RESEND`] until answered, so the answer comes
/// close to when the server started answering), wait up to `wait` for the first answer,
/// then `linger` more for others. Ok when `expected` answered with an ACK naming `vip` (stamped when it arrived)
/// and nobody else answered; an answer from another node or a wrong answer is
/// [`Failure::Fatal`].
pub fn inform_once(
    vip: Ipv4Addr,
    prefix: u8,
    port: u16,
    mac: Mac,
    expected: Ipv4Addr,
    wait: Duration,
    linger: Duration,
) -> Result<Answer, Failure> {
    let io = |e: std::io::Error| Failure::Retry(format!("DHCP: {e}"));
    let me = local_addr_towards(vip)?;
    let sock = UdpSocket::bind((me, 0)).map_err(io)?;
    sock.set_broadcast(true).map_err(io)?;
    let xid: u32 = rand::random();
    let mut msg = ClientMessage::new(Kind::Inform, mac, xid);
    msg.ciaddr = me;
    let dest = SocketAddrV4::new(broadcast(vip, prefix), port);
    let packet = msg.encode();
    sock.send_to(&packet, dest).map_err(io)?;
    let mut next_send = Instant::now() + RESEND;
    let mut until = Instant::now() + wait;
    let mut good: Option<Answer> = None;
    let mut buf = [0u8; 1500];
    loop {
        let now = Instant::now();
        let left = until.saturating_duration_since(now);
        if left.is_zero() {
            break;
        }
        if good.is_none() && now >= next_send {
            sock.send_to(&packet, dest).map_err(io)?;
            next_send = now + RESEND;
        }
        let step = if good.is_none() {
            left.min(next_send.saturating_duration_since(now))
        } else {
            left
        };
        sock.set_read_timeout(Some(step.max(Duration::from_millis(1))))
            .map_err(io)?;
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(io(e)),
        };
        let Ok(info) = decode_reply(buf.get(..n).unwrap_or_default()) else {
            continue;
        };
        if info.xid != xid {
            continue;
        }
        let std::net::IpAddr::V4(src) = from.ip() else {
            continue;
        };
        if src != expected {
            return Err(Failure::Fatal(format!(
                "DHCP answered by {src}, not only by the VIP holder {expected}"
            )));
        }
        if info.message_type != Some(ACK) || info.server_id != Some(vip) {
            return Err(Failure::Fatal(format!(
                "DHCP answer from {src}: message type {:?}, server id {:?} (want ACK, {vip})",
                info.message_type, info.server_id
            )));
        }
        if good.is_none() {
            good = Some(Answer::now(format!("ACK from {src}, server id {vip}")));
            until = Instant::now() + linger;
        }
    }
    good.ok_or_else(|| {
        Failure::Retry(format!(
            "no DHCP answer to INFORM on {dest} within {wait:?}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn directed_broadcast() {
        let ip = Ipv4Addr::new(10, 1, 2, 10);
        assert_eq!(broadcast(ip, 24), Ipv4Addr::new(10, 1, 2, 255));
        assert_eq!(broadcast(ip, 16), Ipv4Addr::new(10, 1, 255, 255));
        assert_eq!(broadcast(ip, 32), ip);
        assert_eq!(broadcast(ip, 0), Ipv4Addr::BROADCAST);
    }

    #[test]
    fn decodes_a_reply() {
        let mut p = vec![0u8; 240];
        p[0] = 2;
        p[4..8].copy_from_slice(&7u32.to_be_bytes());
        p[236..240].copy_from_slice(&COOKIE);
        p.extend_from_slice(&[53, 1, 5, 54, 4, 10, 0, 0, 10, 255]);
        assert_eq!(
            decode_reply(&p),
            Ok(ReplyInfo {
                xid: 7,
                message_type: Some(5),
                server_id: Some(Ipv4Addr::new(10, 0, 0, 10)),
            })
        );
        p[0] = 1;
        assert!(decode_reply(&p).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_replies_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut p = b.clone();
            if p.len() > 240 {
                p[0] = 2;
                p[236..240].copy_from_slice(&COOKIE);
            }
            let _ = decode_reply(&b);
            let _ = decode_reply(&p);
        }
    }
}
