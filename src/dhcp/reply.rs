//! [`Reply`]: a server message (OFFER, ACK, NAK) as plain data, and its encoding with
//! dhcproto. [`Reply::decode`] reads one back (for tests and test clients); it strips the
//! trailing NUL dhcproto keeps on decoded file names.

use std::net::Ipv4Addr;

use dhcproto::v4::{
    DhcpOption, Flags, HType, Message, MessageType, Opcode, OptionCode, UnknownOption,
};
use dhcproto::{Decodable, Encodable};
use raftboot_raft::Mac;

use super::error::ParseError;
use super::raw_options::{code, RawOptions};

/// BOOTP's minimum message size; shorter replies are padded (some firmware drops them).
pub const MIN_REPLY_LEN: usize = 300;
/// Longest boot file that also goes into the fixed `file` field (128 bytes with NUL).
pub const MAX_FNAME_LEN: usize = 127;
/// The PXE vendor option: discovery control (6) = 8, "boot the file named in the
/// reply, no boot-server discovery".
pub const PXE_DISCOVERY_CONTROL: [u8; 4] = [6, 1, 8, 255];
/// iPXE's encapsulated option 175 with sub-option 176 = 1: do not wait for proxyDHCP.
pub const IPXE_NO_PROXYDHCP: [u8; 3] = [code::IPXE_NO_PXEDHCP, 1, 1];

/// The message type of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyKind {
    Offer,
    Ack,
    Nak,
}

impl ReplyKind {
    /// A short label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyKind::Offer => "offer",
            ReplyKind::Ack => "ack",
            ReplyKind::Nak => "nak",
        }
    }
}

/// A server reply, field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: ReplyKind,
    pub xid: u32,
    pub broadcast: bool,
    pub hops: u8,
    pub mac: Mac,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    /// Next server (TFTP) address.
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    /// Option 54.
    pub server_id: Ipv4Addr,
    /// Option 51 (58 and 59 are derived: 1/2 and 7/8 of it).
    pub lease_secs: Option<u32>,
    pub subnet_mask: Option<Ipv4Addr>,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub hostname: Option<String>,
    /// Option 67 (and the `file` field when it fits).
    pub boot_file: Option<String>,
    /// Option 66.
    pub tftp_server: Option<String>,
    /// Option 60 echoed to PXE / HTTP-boot clients.
    pub vendor_class: Option<String>,
    /// Option 43 with PXE discovery control (sent with `PXEClient`).
    pub pxe_discovery_control: bool,
    /// Option 175 sub-option 176 = 1 (iPXE clients).
    pub ipxe_no_proxydhcp: bool,
    /// Option 56 (why a NAK).
    pub message: Option<String>,
    /// Option 82, echoed.
    pub relay_agent: Option<Vec<u8>>,
}

impl Reply {
    /// An empty reply of `kind` to a client.
    pub fn new(kind: ReplyKind, xid: u32, mac: Mac, server_id: Ipv4Addr) -> Reply {
        Reply {
            kind,
            xid,
            broadcast: false,
            hops: 0,
            mac,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            server_id,
            lease_secs: None,
            subnet_mask: None,
            router: None,
            dns: Vec::new(),
            domain: None,
            hostname: None,
            boot_file: None,
            tftp_server: None,
            vendor_class: None,
            pxe_discovery_control: false,
            ipxe_no_proxydhcp: false,
            message: None,
            relay_agent: None,
        }
    }

    /// The dhcproto message for this reply.
    pub fn to_message(&self) -> Message {
        let mut m = Message::new_with_id(
            self.xid,
            self.ciaddr,
            self.yiaddr,
            self.siaddr,
            self.giaddr,
            &self.mac.0,
        );
        m.set_opcode(Opcode::BootReply)
            .set_htype(HType::Eth)
            .set_hops(self.hops);
        if self.broadcast {
            m.set_flags(Flags::default().set_broadcast());
        }
        if let Some(f) = self
            .boot_file
            .as_deref()
            .filter(|f| f.len() <= MAX_FNAME_LEN)
        {
            m.set_fname(f.as_bytes());
        }
        let ty = match self.kind {
            ReplyKind::Offer => MessageType::Offer,
            ReplyKind::Ack => MessageType::Ack,
            ReplyKind::Nak => MessageType::Nak,
        };
        let o = m.opts_mut();
        o.insert(DhcpOption::MessageType(ty));
        o.insert(DhcpOption::ServerIdentifier(self.server_id));
        if let Some(secs) = self.lease_secs {
            o.insert(DhcpOption::AddressLeaseTime(secs));
            o.insert(DhcpOption::Renewal(secs / 2));
            o.insert(DhcpOption::Rebinding(
                u32::try_from(u64::from(secs) * 7 / 8).unwrap_or(secs),
            ));
        }
        if let Some(v) = self.subnet_mask {
            o.insert(DhcpOption::SubnetMask(v));
        }
        if let Some(v) = self.router {
            o.insert(DhcpOption::Router(vec![v]));
        }
        if !self.dns.is_empty() {
            o.insert(DhcpOption::DomainNameServer(self.dns.clone()));
        }
        if let Some(v) = &self.domain {
            o.insert(DhcpOption::DomainName(v.clone()));
        }
        if let Some(v) = &self.hostname {
            o.insert(DhcpOption::Hostname(v.clone()));
        }
        if let Some(v) = &self.tftp_server {
            o.insert(DhcpOption::TFTPServerName(v.as_bytes().to_vec()));
        }
        if let Some(v) = &self.boot_file {
            o.insert(DhcpOption::BootfileName(v.as_bytes().to_vec()));
        }
        if let Some(v) = &self.vendor_class {
            o.insert(DhcpOption::ClassIdentifier(v.as_bytes().to_vec()));
        }
        if self.pxe_discovery_control {
            o.insert(DhcpOption::VendorExtensions(PXE_DISCOVERY_CONTROL.to_vec()));
        }
        if self.ipxe_no_proxydhcp {
            o.insert(DhcpOption::Unknown(UnknownOption::new(
                OptionCode::from(code::IPXE_ENCAP),
                IPXE_NO_PROXYDHCP.to_vec(),
            )));
        }
        if let Some(v) = &self.message {
            o.insert(DhcpOption::Message(v.clone()));
        }
        m
    }

    /// The bytes on the wire, padded to [`MIN_REPLY_LEN`]. Option 82 is appended last,
    /// byte for byte as the relay sent it (dhcproto would re-encode it from its own
    /// model, and an unknown-typed 82 would be written twice).
    pub fn encode(&self) -> Result<Vec<u8>, dhcproto::error::EncodeError> {
        let mut bytes = self.to_message().to_vec()?;
        if let Some(v) = self.relay_agent.as_deref().filter(|v| !v.is_empty()) {
            if bytes.last() == Some(&code::END) {
                bytes.pop();
            }
            for chunk in v.chunks(255) {
                bytes.push(code::RELAY_AGENT);
                bytes.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
                bytes.extend_from_slice(chunk);
            }
            bytes.push(code::END);
        }
        if bytes.len() < MIN_REPLY_LEN {
            bytes.resize(MIN_REPLY_LEN, 0);
        }
        Ok(bytes)
    }

    /// Reads a reply back (tests and test clients). Options it does not model are
    /// ignored; `file` is used only when option 67 is absent.
    pub fn decode(bytes: &[u8]) -> Result<Reply, ParseError> {
        if bytes.len() < 240 {
            return Err(ParseError::TooShort(bytes.len()));
        }
        if bytes.get(236..240) != Some(&super::request::MAGIC[..]) {
            return Err(ParseError::BadMagic);
        }
        let raw = RawOptions::parse(bytes)?;
        let m = Message::from_bytes(&raw.sanitized(bytes, &REPLY_OPTIONS))
            .map_err(|e| ParseError::Decode(e.to_string()))?;
        if m.opcode() != Opcode::BootReply {
            return Err(ParseError::NotRequest(1));
        }
        let o = m.opts();
        let kind = match o.msg_type() {
            Some(MessageType::Offer) => ReplyKind::Offer,
            Some(MessageType::Ack) => ReplyKind::Ack,
            Some(MessageType::Nak) => ReplyKind::Nak,
            Some(_) => return Err(ParseError::BadMessageType(0)),
            None => return Err(ParseError::NoMessageType),
        };
        let mac = bytes
            .get(28..34)
            .and_then(|b| <[u8; 6]>::try_from(b).ok())
            .map(Mac)
            .ok_or(ParseError::TooShort(bytes.len()))?;
        let text = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .trim_end_matches('\0')
                .to_string()
        };
        let mut r = Reply::new(kind, m.xid(), mac, Ipv4Addr::UNSPECIFIED);
        r.broadcast = m.flags().broadcast();
        r.hops = m.hops();
        r.ciaddr = m.ciaddr();
        r.yiaddr = m.yiaddr();
        r.siaddr = m.siaddr();
        r.giaddr = m.giaddr();
        r.boot_file = m.fname().map(text).filter(|f| !f.is_empty());
        for (_, opt) in o.iter() {
            match opt {
                DhcpOption::ServerIdentifier(ip) => r.server_id = *ip,
                DhcpOption::AddressLeaseTime(s) => r.lease_secs = Some(*s),
                DhcpOption::SubnetMask(v) => r.subnet_mask = Some(*v),
                DhcpOption::Router(v) => r.router = v.first().copied(),
                DhcpOption::DomainNameServer(v) => r.dns = v.clone(),
                DhcpOption::DomainName(v) => r.domain = Some(v.clone()),
                DhcpOption::Hostname(v) => r.hostname = Some(v.clone()),
                DhcpOption::TFTPServerName(v) => r.tftp_server = Some(text(v)),
                DhcpOption::BootfileName(v) => r.boot_file = Some(text(v)),
                DhcpOption::ClassIdentifier(v) => r.vendor_class = Some(text(v)),
                DhcpOption::VendorExtensions(v) => {
                    r.pxe_discovery_control = v.as_slice() == PXE_DISCOVERY_CONTROL;
                }
                DhcpOption::Message(v) => r.message = Some(v.clone()),
                DhcpOption::Unknown(u) if u8::from(u.code()) == code::IPXE_ENCAP => {
                    r.ipxe_no_proxydhcp = u.data() == IPXE_NO_PROXYDHCP;
                }
                _ => {}
            }
        }
        r.relay_agent = raw.get(code::RELAY_AGENT).map(<[u8]>::to_vec);
        Ok(r)
    }
}

/// The options [`Reply::decode`] lets dhcproto decode (after the strict walk).
const REPLY_OPTIONS: [u8; 14] = [
    code::MESSAGE_TYPE,
    code::SERVER_ID,
    code::LEASE_TIME,
    code::SUBNET_MASK,
    code::ROUTER,
    code::DNS,
    code::DOMAIN,
    code::HOSTNAME,
    code::TFTP_SERVER,
    code::BOOTFILE,
    code::VENDOR_CLASS,
    code::VENDOR_EXTENSIONS,
    code::MESSAGE,
    code::IPXE_ENCAP,
];
