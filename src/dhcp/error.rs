//! The DHCP server's error types: [`ParseError`] (why a received datagram is not a
//! request we answer; counted as malformed) and [`DhcpError`] (why the server could not
//! start or keep running).

use std::net::SocketAddr;

/// Why a datagram was refused before any policy ran. Every variant is counted under
/// `raftboot_dhcp_malformed_total{reason}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("datagram of {0} bytes is shorter than a DHCP header")]
    TooShort(usize),
    #[error("datagram of {0} bytes is larger than any DHCP request")]
    Oversized(usize),
    #[error("op {0} is not BOOTREQUEST")]
    NotRequest(u8),
    #[error("hardware type {htype} / length {hlen} is not Ethernet")]
    Hardware { htype: u8, hlen: u8 },
    #[error("missing DHCP magic cookie")]
    BadMagic,
    #[error("option {code} runs past the end of the packet")]
    TruncatedOption { code: u8 },
    #[error("option {code} has an invalid length {len}")]
    BadOptionLength { code: u8, len: usize },
    #[error("no DHCP message type (a plain BOOTP request)")]
    NoMessageType,
    #[error("message type {0} is not one a client sends")]
    BadMessageType(u8),
    #[error("client hardware address {0} is not a unicast MAC")]
    BadMac(String),
    #[error("dhcproto could not decode the header: {0}")]
    Decode(String),
}

impl ParseError {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::TooShort(_) => "too_short",
            ParseError::Oversized(_) => "oversized",
            ParseError::NotRequest(_) => "not_request",
            ParseError::Hardware { .. } => "hardware",
            ParseError::BadMagic => "bad_magic",
            ParseError::TruncatedOption { .. } | ParseError::BadOptionLength { .. } => "bad_option",
            ParseError::NoMessageType | ParseError::BadMessageType(_) => "message_type",
            ParseError::BadMac(_) => "bad_mac",
            ParseError::Decode(_) => "decode",
        }
    }

    /// Every label [`reason`](Self::reason) can return, in a fixed order.
    pub const REASONS: [&'static str; 9] = [
        "too_short",
        "oversized",
        "not_request",
        "hardware",
        "bad_magic",
        "bad_option",
        "message_type",
        "bad_mac",
        "decode",
    ];
}

/// Why the DHCP server could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    #[error("the DHCP server needs an IPv4 bind address, not {0}")]
    NotIpv4(SocketAddr),
    #[error(
        "no next-server address: set [dhcp] next_server, a [vip], this node's lan, \
         or a services bind address other than 0.0.0.0"
    )]
    NoServerAddress,
    #[error("binding the DHCP socket {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("binding the DHCP socket to interface {interface}: {source}")]
    BindDevice {
        interface: String,
        #[source]
        source: std::io::Error,
    },
    #[error("DHCP socket: {0}")]
    Io(#[from] std::io::Error),
}
