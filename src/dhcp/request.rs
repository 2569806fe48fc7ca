//! [`DhcpRequest`]: one client message, decoded and checked — the only form of a packet
//! the policy sees.
//!
//! Decoding is two-stage. [`RawOptions`] walks the option area strictly (so a bad
//! length is refused, not half-read); then the fixed header and the well-typed options
//! are decoded by dhcproto from a *sanitized* copy of the packet that holds only the
//! options the server reads through it, re-encoded from checked values. That copy keeps
//! dhcproto away from its known pitfalls: typed decoders that `debug_assert!` on lengths
//! (options 80, 81, 94, 151-155), `chaddr()` slicing by an unchecked `hlen`, the first
//! undecodable option silently dropping every option after it, and only the first
//! option-93 architecture being kept (read from the raw walk instead). Options the server
//! reads but dhcproto types as UTF-8 (the host name) are read raw, lossily.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode};
use dhcproto::Decodable;
use raftboot_raft::Mac;

use super::error::ParseError;
use super::raw_options::{code, RawOptions};

/// The smallest valid request: the 236-byte BOOTP header and the magic cookie.
pub const MIN_REQUEST_LEN: usize = 240;
/// The largest request accepted (an Ethernet MTU); anything longer is refused.
pub const MAX_REQUEST_LEN: usize = 1500;
/// The DHCP magic cookie.
pub const MAGIC: [u8; 4] = [99, 130, 83, 99];

/// What a client asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Discover,
    Request,
    Decline,
    Release,
    Inform,
}

impl Kind {
    /// A short label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Discover => "discover",
            Kind::Request => "request",
            Kind::Decline => "decline",
            Kind::Release => "release",
            Kind::Inform => "inform",
        }
    }
}

/// A decoded, checked client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpRequest {
    pub kind: Kind,
    pub xid: u32,
    pub secs: u16,
    pub hops: u8,
    /// The broadcast bit of `flags`.
    pub broadcast: bool,
    pub ciaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub mac: Mac,
    /// Option 50.
    pub requested: Option<Ipv4Addr>,
    /// Option 54: the server the client selected.
    pub server_id: Option<Ipv4Addr>,
    /// Option 57.
    pub max_size: Option<u16>,
    /// Option 60 (e.g. `PXEClient:Arch:00007:UNDI:003016`).
    pub vendor_class: Option<Vec<u8>>,
    /// Option 12.
    pub hostname: Option<String>,
    /// Every option-93 architecture, in the client's order.
    pub archs: Vec<u16>,
    /// User class "iPXE" or option 175.
    pub ipxe: bool,
    /// Option 82, echoed back in replies (RFC 3046).
    pub relay_agent: Option<Vec<u8>>,
}

impl DhcpRequest {
    /// True when option 60 starts with `prefix` (e.g. `PXEClient`, `HTTPClient`).
    pub fn vendor_class_is(&self, prefix: &str) -> bool {
        self.vendor_class
            .as_deref()
            .is_some_and(|v| v.starts_with(prefix.as_bytes()))
    }

    /// Decodes and checks one datagram. Never panics, whatever the bytes.
    pub fn parse(packet: &[u8]) -> Result<DhcpRequest, ParseError> {
        if packet.len() < MIN_REQUEST_LEN {
            return Err(ParseError::TooShort(packet.len()));
        }
        if packet.len() > MAX_REQUEST_LEN {
            return Err(ParseError::Oversized(packet.len()));
        }
        let byte = |i: usize| packet.get(i).copied().unwrap_or_default();
        if byte(0) != 1 {
            return Err(ParseError::NotRequest(byte(0)));
        }
        let (htype, hlen) = (byte(1), byte(2));
        if htype != 1 || hlen != 6 {
            return Err(ParseError::Hardware { htype, hlen });
        }
        if packet.get(236..240) != Some(&MAGIC[..]) {
            return Err(ParseError::BadMagic);
        }
        let raw = RawOptions::parse(packet)?;
        let kind = match raw.u8(code::MESSAGE_TYPE) {
            None => return Err(ParseError::NoMessageType),
            Some(1) => Kind::Discover,
            Some(3) => Kind::Request,
            Some(4) => Kind::Decline,
            Some(7) => Kind::Release,
            Some(8) => Kind::Inform,
            Some(other) => return Err(ParseError::BadMessageType(other)),
        };
        let mut mac = [0u8; 6];
        mac.copy_from_slice(packet.get(28..34).unwrap_or(&[0; 6]));
        if mac[0] & 1 != 0 || mac == [0; 6] {
            return Err(ParseError::BadMac(Mac(mac).to_string()));
        }

        let msg = Message::from_bytes(&raw.sanitized(packet, &DHCPROTO_OPTIONS))
            .map_err(|e| ParseError::Decode(e.to_string()))?;
        if msg.opcode() != Opcode::BootRequest {
            return Err(ParseError::NotRequest(byte(0)));
        }
        let opts = msg.opts();
        let typed_kind = match opts.msg_type() {
            Some(MessageType::Discover) => Some(Kind::Discover),
            Some(MessageType::Request) => Some(Kind::Request),
            Some(MessageType::Decline) => Some(Kind::Decline),
            Some(MessageType::Release) => Some(Kind::Release),
            Some(MessageType::Inform) => Some(Kind::Inform),
            _ => None,
        };
        if typed_kind != Some(kind) {
            return Err(ParseError::Decode("message type disagrees".into()));
        }
        let requested = match opts.get(dhcproto::v4::OptionCode::RequestedIpAddress) {
            Some(DhcpOption::RequestedIpAddress(ip)) => Some(*ip),
            _ => None,
        };
        let server_id = match opts.get(dhcproto::v4::OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
            _ => None,
        };
        let max_size = match opts.get(dhcproto::v4::OptionCode::MaxMessageSize) {
            Some(DhcpOption::MaxMessageSize(n)) => Some(*n),
            _ => None,
        };
        let vendor_class = match opts.get(dhcproto::v4::OptionCode::ClassIdentifier) {
            Some(DhcpOption::ClassIdentifier(v)) => Some(v.clone()),
            _ => None,
        };
        Ok(DhcpRequest {
            kind,
            xid: msg.xid(),
            secs: msg.secs(),
            hops: msg.hops(),
            broadcast: msg.flags().broadcast(),
            ciaddr: msg.ciaddr(),
            giaddr: msg.giaddr(),
            mac: Mac(mac),
            requested,
            server_id,
            max_size,
            vendor_class,
            hostname: raw.hostname(),
            archs: raw.archs(),
            ipxe: raw.is_ipxe(),
            relay_agent: raw.get(code::RELAY_AGENT).map(<[u8]>::to_vec),
        })
    }
}

/// Options handed to dhcproto: fixed lengths checked by [`RawOptions::parse`], or plain
/// byte strings its decoder cannot trip over.
const DHCPROTO_OPTIONS: [u8; 5] = [
    code::MESSAGE_TYPE,
    code::REQUESTED_IP,
    code::SERVER_ID,
    code::MAX_SIZE,
    code::VENDOR_CLASS,
];
