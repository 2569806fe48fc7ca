//! [`Services`]: a node's `[nodes.services]` table — the address and ports its
//! boot services (DHCP, TFTP, HTTP, NFS, mountd, portmapper) listen on.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::wire::WireServices;
use crate::source::Source;
use crate::ConfigError;

/// Listen address and ports of one node's boot services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Services {
    /// Address every service binds (default `0.0.0.0`).
    pub bind: IpAddr,
    /// DHCP/ProxyDHCP, UDP (default 67).
    pub dhcp_port: u16,
    /// TFTP, UDP (default 69).
    pub tftp_port: u16,
    /// HTTP boot files, TCP (default 80).
    pub http_port: u16,
    /// NFS root file systems (default 2049).
    pub nfs_port: u16,
    /// NFS mount protocol (default 20048).
    pub mount_port: u16,
    /// ONC RPC portmapper (default 111).
    pub portmap_port: u16,
}

impl Default for Services {
    fn default() -> Self {
        Services {
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dhcp_port: 67,
            tftp_port: 69,
            http_port: 80,
            nfs_port: 2049,
            mount_port: 20048,
            portmap_port: 111,
        }
    }
}

impl Services {
    /// `(key, port)` for every service, in file order.
    pub fn ports(&self) -> [(&'static str, u16); 6] {
        [
            ("dhcp_port", self.dhcp_port),
            ("tftp_port", self.tftp_port),
            ("http_port", self.http_port),
            ("nfs_port", self.nfs_port),
            ("mount_port", self.mount_port),
            ("portmap_port", self.portmap_port),
        ]
    }

    /// Applies defaults and checks that a node's ports are distinct
    /// (port 0 is passed through unchecked).
    pub(crate) fn from_wire(
        src: &Source<'_>,
        wire: Option<&Spanned<WireServices>>,
    ) -> Result<Self, ConfigError> {
        let empty = WireServices::default();
        let w = wire.map_or(&empty, Spanned::get_ref);
        let d = Services::default();
        let bind = match &w.bind {
            None => d.bind,
            Some(b) => b.get_ref().trim().parse().map_err(|_| {
                src.error(
                    Some(b.span()),
                    "nodes.services.bind",
                    format!("{:?} is not an IP address", b.get_ref()),
                )
            })?,
        };
        let get =
            |v: &Option<Spanned<u16>>, default: u16| v.as_ref().map_or(default, |s| *s.get_ref());
        let s = Services {
            bind,
            dhcp_port: get(&w.dhcp_port, d.dhcp_port),
            tftp_port: get(&w.tftp_port, d.tftp_port),
            http_port: get(&w.http_port, d.http_port),
            nfs_port: get(&w.nfs_port, d.nfs_port),
            mount_port: get(&w.mount_port, d.mount_port),
            portmap_port: get(&w.portmap_port, d.portmap_port),
        };
        let spans = [
            &w.dhcp_port,
            &w.tftp_port,
            &w.http_port,
            &w.nfs_port,
            &w.mount_port,
            &w.portmap_port,
        ];
        let ports = s.ports();
        for (i, (key, port)) in ports.iter().enumerate() {
            if *port == 0 {
                continue;
            }
            if let Some(j) = ports[..i].iter().position(|(_, p)| p == port) {
                let (key, other) = if spans[i].is_none() && spans[j].is_some() {
                    (ports[j].0, ports[i].0)
                } else {
                    (*key, ports[j].0)
                };
                let span = [spans[i], spans[j]]
                    .iter()
                    .find_map(|s| s.as_ref().map(Spanned::span))
                    .or_else(|| wire.map(Spanned::span));
                return Err(src.error(
                    span,
                    format!("nodes.services.{key}"),
                    format!("{key} {port} is already used by {other}"),
                ));
            }
        }
        Ok(s)
    }
}
