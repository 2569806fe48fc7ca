//! [`Vip`]: the `[vip]` table — the floating boot address held by the leader —
//! and its checks against the nodes' own LAN addresses.

use std::fmt;
use std::net::Ipv4Addr;

use toml::Spanned;

use super::wire::WireVip;
use super::NodeEntry;
use crate::net::{in_subnet, parse_cidr};
use crate::source::Source;
use crate::ConfigError;

/// The virtual IP the Raft leader brings up on its boot-LAN interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    /// The floating address clients boot from.
    pub address: Ipv4Addr,
    /// Its prefix length (1..=32).
    pub prefix: u8,
    /// The interface it is added to, e.g. `eth0`.
    pub interface: String,
}

impl fmt::Display for Vip {
    /// `10.0.0.10/24 on eth0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} on {}", self.address, self.prefix, self.interface)
    }
}

impl Vip {
    /// Parses `[vip]` and checks it against every node's `lan`.
    pub(crate) fn from_wire(
        src: &Source<'_>,
        wire: &Spanned<WireVip>,
        nodes: &[NodeEntry],
    ) -> Result<Self, ConfigError> {
        let w = wire.get_ref();
        let at_address =
            |message: String| src.error(Some(w.address.span()), "vip.address", message);
        let (address, prefix) =
            parse_cidr(w.address.get_ref()).map_err(|m| at_address(format!("VIP {m}")))?;
        let interface = w.interface.get_ref().trim();
        if interface.is_empty() {
            return Err(src.error(
                Some(w.interface.span()),
                "vip.interface",
                "interface must name the network interface the VIP is added to, e.g. \"eth0\"",
            ));
        }
        for node in nodes {
            let Some((lan, lan_prefix)) = node.lan else {
                continue;
            };
            if !in_subnet(address, lan, lan_prefix) {
                return Err(at_address(format!(
                    "VIP {address}/{prefix} is not in the subnet of node {}'s lan {lan}/{lan_prefix}",
                    node.name
                )));
            }
            if address == lan {
                return Err(at_address(format!(
                    "VIP {address} is node {}'s own lan address; the VIP must be an unused address",
                    node.name
                )));
            }
        }
        Ok(Vip {
            address,
            prefix,
            interface: interface.to_string(),
        })
    }
}
