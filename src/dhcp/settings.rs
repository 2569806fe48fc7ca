//! [`DhcpSettings`]: everything the DHCP server takes from the node configuration,
//! resolved once at start-up (the next-server address, the socket address, boot file
//! names with `{next_server}` filled in).

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};

use cluster_config::{BootFiles, DhcpMode, NodeConfig, UnknownClients};

use super::error::DhcpError;

/// The port relays listen on (replies to a `giaddr` go there).
pub const SERVER_PORT: u16 = 67;
/// The port clients listen on.
pub const CLIENT_PORT: u16 = 68;

/// The DHCP server's resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpSettings {
    /// For logs: this node's name.
    pub node: String,
    /// Where the socket listens (`services.bind:dhcp_port`).
    pub bind: SocketAddrV4,
    /// SO_BINDTODEVICE interface, if configured.
    pub interface: Option<String>,
    /// siaddr, option 66 and option 54 (server identifier): the VIP when configured,
    /// else the node's lan address, else its bind address (or `[dhcp] next_server`).
    pub server_addr: Ipv4Addr,
    /// Prefix for clients whose address is in no pool (fixed hosts): the lan's, the
    /// VIP's, else 24.
    pub default_prefix: u8,
    pub unknown_clients: UnknownClients,
    pub pool: String,
    pub lease_secs: u32,
    pub domain: Option<String>,
    pub dns: Vec<Ipv4Addr>,
    pub router: Option<Ipv4Addr>,
    pub registration_group: Option<String>,
    /// Boot files with `{next_server}` replaced.
    pub boot_files: BootFiles,
    /// `server`, or `proxy` (boot options only, see [`super::proxy`]).
    pub mode: DhcpMode,
    /// proxy mode: the PXE boot-server socket (`services.bind:proxy_port`), if any.
    pub pxe_bind: Option<SocketAddrV4>,
    /// Port replies to relays go to (67).
    pub relay_port: u16,
    /// Port replies to clients go to (68).
    pub client_port: u16,
}

fn ipv4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
        _ => None,
    }
}

impl DhcpSettings {
    /// Resolve this node's DHCP settings from its configuration.
    pub fn from_config(cfg: &NodeConfig) -> Result<DhcpSettings, DhcpError> {
        let me = cfg.this_node();
        let d = &cfg.dhcp;
        let bind_ip = match me.services.bind {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(_) => {
                return Err(DhcpError::NotIpv4(std::net::SocketAddr::new(
                    me.services.bind,
                    me.services.dhcp_port,
                )))
            }
        };
        let server_addr = d
            .next_server
            .or(cfg.vip.as_ref().map(|v| v.address))
            .or(me.lan.map(|(ip, _)| ip))
            .or(ipv4(me.services.bind))
            .ok_or(DhcpError::NoServerAddress)?;
        let default_prefix = me
            .lan
            .map(|(_, p)| p)
            .or(cfg.vip.as_ref().map(|v| v.prefix))
            .unwrap_or(24);
        let fill = |s: &str| s.replace("{next_server}", &server_addr.to_string());
        let b = &d.boot_files;
        let boot_files = BootFiles {
            bios: fill(&b.bios),
            uefi_x86_64: fill(&b.uefi_x86_64),
            uefi_ia32: fill(&b.uefi_ia32),
            uefi_arm64: fill(&b.uefi_arm64),
            http_x86_64: fill(&b.http_x86_64),
            http_arm64: fill(&b.http_arm64),
            ipxe: fill(&b.ipxe),
        };
        Ok(DhcpSettings {
            node: me.name.clone(),
            bind: SocketAddrV4::new(bind_ip, me.services.dhcp_port),
            interface: d.interface.clone(),
            server_addr,
            default_prefix,
            unknown_clients: d.unknown_clients,
            pool: d.pool.clone(),
            lease_secs: d.lease_secs,
            domain: d.domain.clone(),
            dns: d.dns.clone(),
            router: d.router,
            registration_group: d.registration_group.clone(),
            boot_files,
            mode: d.mode,
            pxe_bind: (d.mode == DhcpMode::Proxy && d.proxy_port != 0)
                .then(|| SocketAddrV4::new(bind_ip, d.proxy_port)),
            relay_port: SERVER_PORT,
            client_port: CLIENT_PORT,
        })
    }

    /// Settings for tests and tools: defaults of the `[dhcp]` table, answering as
    /// `server_addr` on `bind`.
    pub fn for_tests(server_addr: Ipv4Addr, bind: SocketAddrV4) -> DhcpSettings {
        let d = cluster_config::Dhcp::default();
        let fill = |s: String| s.replace("{next_server}", &server_addr.to_string());
        let b = d.boot_files;
        let boot_files = BootFiles {
            http_x86_64: fill(b.http_x86_64),
            http_arm64: fill(b.http_arm64),
            ..b
        };
        DhcpSettings {
            node: "test".into(),
            bind,
            interface: None,
            server_addr,
            default_prefix: 24,
            unknown_clients: d.unknown_clients,
            pool: d.pool,
            lease_secs: d.lease_secs,
            domain: None,
            dns: Vec::new(),
            router: None,
            registration_group: None,
            boot_files,
            mode: DhcpMode::Server,
            pxe_bind: None,
            relay_port: SERVER_PORT,
            client_port: CLIENT_PORT,
        }
    }
}
