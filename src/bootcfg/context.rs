//! [`BootContext`]: what generated configs need to know about the serving node (the
//! address clients reach it at, its TFTP and HTTP ports, the loader image), and
//! [`Transport`]: which protocol a request came in over.

use std::net::{IpAddr, Ipv4Addr};

use cluster_config::NodeConfig;

/// The protocol a boot file is requested (and generated URLs point) over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TFTP (RFC 1350 and option extensions).
    Tftp,
    /// HTTP boot.
    Http,
}

/// The serving node, as generated configs and scripts name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootContext {
    /// The address clients boot from: the VIP, else the node's LAN address, else the
    /// services bind address (when it is not a wildcard), else 127.0.0.1.
    pub server: IpAddr,
    /// TFTP port (69 is left out of URLs).
    pub tftp_port: u16,
    /// HTTP boot port; 0 when HTTP boot is off.
    pub http_port: u16,
    /// Name of the replicated image holding the boot loaders.
    pub loader_image: String,
}

impl BootContext {
    /// The context of this node of `cfg`.
    pub fn from_config(cfg: &NodeConfig) -> BootContext {
        let me = cfg.this_node();
        let server = match (&cfg.vip, me.lan) {
            (Some(vip), _) => IpAddr::V4(vip.address),
            (None, Some((lan, _))) => IpAddr::V4(lan),
            (None, None) if !me.services.bind.is_unspecified() => me.services.bind,
            (None, None) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        BootContext {
            server,
            tftp_port: me.services.tftp_port,
            http_port: me.services.http_port,
            loader_image: cfg.tftp.loader_image.clone(),
        }
    }

    /// `host` or `host:port` of the server for `transport` (IPv6 in brackets; the
    /// protocol's default port left out).
    pub fn authority(&self, transport: Transport) -> String {
        let host = match self.server {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        };
        let (port, default) = match transport {
            Transport::Tftp => (self.tftp_port, 69),
            Transport::Http => (self.http_port, 80),
        };
        if port == default {
            host
        } else {
            format!("{host}:{port}")
        }
    }

    /// `tftp://server[:port]` or `http://server[:port]`, without a trailing `/`.
    pub fn base_url(&self, transport: Transport) -> String {
        let scheme = match transport {
            Transport::Tftp => "tftp",
            Transport::Http => "http",
        };
        format!("{scheme}://{}", self.authority(transport))
    }

    /// The NFS server address for `nfsroot=` (always the bare address).
    pub fn nfs_server(&self) -> String {
        self.server.to_string()
    }
}
