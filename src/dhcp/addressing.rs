//! Where a reply goes: RFC 2131 section 4.1, as a pure function of the request, the
//! reply and the datagram's source.
//!
//! 1. `giaddr` set: to the relay, at the server port (67).
//! 2. A source on a port other than the client port (a test tool, a client that is
//!    not a standard DHCP client): back to the source.
//! 3. A NAK: broadcast.
//! 4. `ciaddr` set (RENEWING, INFORM): unicast to `ciaddr` at the client port.
//! 5. Otherwise broadcast. RFC 2131 allows unicasting to `yiaddr` when the broadcast bit
//!    is clear, but that needs an ARP entry planted for a client that has no address
//!    yet (a raw socket or `SIOCSARP`); every client listens for broadcasts in this
//!    state, so broadcasting is always correct, if louder.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::reply::{Reply, ReplyKind};
use super::request::DhcpRequest;

/// How a reply is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// To a relay agent (`giaddr`).
    Relay(SocketAddrV4),
    /// Back to whoever sent the request, from a non-standard port.
    Source(SocketAddrV4),
    /// To the client's own address.
    Unicast(SocketAddrV4),
    /// To 255.255.255.255 at the client port.
    Broadcast(SocketAddrV4),
}

impl Destination {
    /// The socket address to send to.
    pub fn addr(self) -> SocketAddrV4 {
        match self {
            Destination::Relay(a)
            | Destination::Source(a)
            | Destination::Unicast(a)
            | Destination::Broadcast(a) => a,
        }
    }

    /// A short label for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Destination::Relay(_) => "relay",
            Destination::Source(_) => "source",
            Destination::Unicast(_) => "unicast",
            Destination::Broadcast(_) => "broadcast",
        }
    }
}

/// Where `reply` to `req` (received from `source`) goes.
pub fn destination(
    req: &DhcpRequest,
    reply: &Reply,
    source: SocketAddrV4,
    relay_port: u16,
    client_port: u16,
) -> Destination {
    if !req.giaddr.is_unspecified() {
        return Destination::Relay(SocketAddrV4::new(req.giaddr, relay_port));
    }
    if source.port() != client_port && !source.ip().is_unspecified() {
        return Destination::Source(source);
    }
    let broadcast = Destination::Broadcast(SocketAddrV4::new(Ipv4Addr::BROADCAST, client_port));
    if reply.kind == ReplyKind::Nak {
        return broadcast;
    }
    if !req.ciaddr.is_unspecified() {
        return Destination::Unicast(SocketAddrV4::new(req.ciaddr, client_port));
    }
    broadcast
}
