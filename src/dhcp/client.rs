//! [`ClientMessage`]: builds the requests a DHCP client sends, for tests, probes and
//! benchmarks (encoded with dhcproto, plus raw options dhcproto cannot express, such as
//! a list of option-93 architectures).

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Flags, HType, Message, MessageType, Opcode, OptionCode};
use dhcproto::Encodable;
use raftboot_raft::Mac;

use super::raw_options::code;
use super::request::Kind;

/// A client message under construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMessage {
    pub kind: Kind,
    pub xid: u32,
    pub mac: Mac,
    pub broadcast: bool,
    pub ciaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub requested: Option<Ipv4Addr>,
    pub server_id: Option<Ipv4Addr>,
    pub vendor_class: Option<String>,
    pub archs: Vec<u16>,
    /// Option 77 as iPXE sends it (raw "iPXE").
    pub ipxe: bool,
    pub hostname: Option<String>,
    /// Extra raw options `(code, value)`, appended before End.
    pub raw: Vec<(u8, Vec<u8>)>,
}

impl ClientMessage {
    /// A message of `kind` from `mac` with transaction id `xid`.
    pub fn new(kind: Kind, mac: Mac, xid: u32) -> Self {
        ClientMessage {
            kind,
            xid,
            mac,
            broadcast: false,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            requested: None,
            server_id: None,
            vendor_class: None,
            archs: Vec::new(),
            ipxe: false,
            hostname: None,
            raw: Vec::new(),
        }
    }

    /// The datagram.
    pub fn encode(&self) -> Vec<u8> {
        let mut m = Message::new_with_id(
            self.xid,
            self.ciaddr,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            self.giaddr,
            &self.mac.0,
        );
        m.set_opcode(Opcode::BootRequest).set_htype(HType::Eth);
        if self.broadcast {
            m.set_flags(Flags::default().set_broadcast());
        }
        let ty = match self.kind {
            Kind::Discover => MessageType::Discover,
            Kind::Request => MessageType::Request,
            Kind::Decline => MessageType::Decline,
            Kind::Release => MessageType::Release,
            Kind::Inform => MessageType::Inform,
        };
        let o = m.opts_mut();
        o.insert(DhcpOption::MessageType(ty));
        if let Some(ip) = self.requested {
            o.insert(DhcpOption::RequestedIpAddress(ip));
        }
        if let Some(ip) = self.server_id {
            o.insert(DhcpOption::ServerIdentifier(ip));
        }
        if let Some(v) = &self.vendor_class {
            o.insert(DhcpOption::ClassIdentifier(v.as_bytes().to_vec()));
        }
        if let Some(h) = &self.hostname {
            o.insert(DhcpOption::Hostname(h.clone()));
        }
        o.insert(DhcpOption::ParameterRequestList(vec![
            OptionCode::SubnetMask,
            OptionCode::Router,
            OptionCode::DomainNameServer,
            OptionCode::DomainName,
            OptionCode::BootfileName,
        ]));
        let mut bytes = m.to_vec().unwrap_or_default();
        if bytes.last() == Some(&code::END) {
            bytes.pop();
        }
        let mut raw = self.raw.clone();
        if !self.archs.is_empty() {
            let v = self.archs.iter().flat_map(|a| a.to_be_bytes()).collect();
            raw.push((code::CLIENT_ARCH, v));
        }
        if self.ipxe {
            raw.push((code::USER_CLASS, b"iPXE".to_vec()));
        }
        for (c, v) in raw {
            for chunk in v.chunks(255) {
                bytes.push(c);
                bytes.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
                bytes.extend_from_slice(chunk);
            }
        }
        bytes.push(code::END);
        if bytes.len() < 300 {
            bytes.resize(300, 0);
        }
        bytes
    }
}
