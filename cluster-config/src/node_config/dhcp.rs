//! [`Dhcp`]: the `[dhcp]` table — how the DHCP server treats unknown clients, which
//! pool and lease time dynamic clients get, the options it hands out, and the boot
//! file for each kind of PXE client (`[dhcp.boot_files]`).
//!
//! The table is cluster-wide (every node answers the same way once it is the one
//! that answers); every key is optional.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::wire::{WireBootFiles, WireDhcp};
use crate::source::Source;
use crate::ConfigError;

/// Shortest lease the server hands out, in seconds.
pub const MIN_LEASE_SECS: u32 = 10;
/// Longest lease the server hands out (one year), in seconds.
pub const MAX_LEASE_SECS: u32 = 31_536_000;
/// Longest boot file name or URL (the DHCP option limit).
pub const MAX_BOOT_FILE_LEN: usize = 255;
/// Most DNS servers handed out.
pub const MAX_DNS_SERVERS: usize = 8;

/// What the server does with a MAC that is not in the host table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownClients {
    /// Stay silent: only hosts in the host table get an address.
    Ignore,
    /// Lease an address from the pool and boot the architecture's default file.
    Pool,
    /// Lease an address only together with the registration group's boot file.
    Register,
}

impl UnknownClients {
    /// The TOML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownClients::Ignore => "ignore",
            UnknownClients::Pool => "pool",
            UnknownClients::Register => "register",
        }
    }
}

impl fmt::Display for UnknownClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UnknownClients {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "ignore" => Ok(UnknownClients::Ignore),
            "pool" => Ok(UnknownClients::Pool),
            "register" => Ok(UnknownClients::Register),
            other => Err(format!(
                "unknown_clients {other:?} must be \"ignore\", \"pool\" or \"register\""
            )),
        }
    }
}

/// Whether this cluster owns the addresses or only adds PXE boot options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DhcpMode {
    /// A full DHCP server: addresses from the host table and the pool, plus boot options.
    Server,
    /// proxyDHCP (PXE spec, RFC 4578): another DHCP server owns the addresses; answer PXE
    /// clients (option 60 `PXEClient`) only with boot options (no address), on port 67 and
    /// on the PXE boot-server port (`proxy_port`, 4011).
    Proxy,
}

impl DhcpMode {
    /// The TOML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DhcpMode::Server => "server",
            DhcpMode::Proxy => "proxy",
        }
    }
}

impl FromStr for DhcpMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "server" => Ok(DhcpMode::Server),
            "proxy" => Ok(DhcpMode::Proxy),
            other => Err(format!("mode {other:?} must be \"server\" or \"proxy\"")),
        }
    }
}

/// The PXE boot-server port proxyDHCP clients send their DHCPREQUEST to.
pub const PXE_PORT: u16 = 4011;

/// The boot file for each kind of client. `{next_server}` in a value is replaced by
/// the next-server address when the server starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootFiles {
    /// Legacy BIOS PXE (architecture 0, or no architecture sent). Default `pxelinux.0`.
    pub bios: String,
    /// x86-64 UEFI (architectures 7 and 9). Default `bootx64.efi`.
    pub uefi_x86_64: String,
    /// 32-bit x86 UEFI (architecture 6). Default `bootia32.efi`.
    pub uefi_ia32: String,
    /// ARM64 UEFI (architecture 11). Default `bootaa64.efi`.
    pub uefi_arm64: String,
    /// x86-64 UEFI HTTP boot (architecture 16): a URL.
    pub http_x86_64: String,
    /// ARM64 UEFI HTTP boot (architecture 19): a URL.
    pub http_arm64: String,
    /// iPXE (user class "iPXE" or option 175): its script. Default `boot.ipxe`.
    pub ipxe: String,
}

impl Default for BootFiles {
    fn default() -> Self {
        BootFiles {
            bios: "pxelinux.0".into(),
            uefi_x86_64: "bootx64.efi".into(),
            uefi_ia32: "bootia32.efi".into(),
            uefi_arm64: "bootaa64.efi".into(),
            http_x86_64: "http://{next_server}/bootx64.efi".into(),
            http_arm64: "http://{next_server}/bootaa64.efi".into(),
            ipxe: "boot.ipxe".into(),
        }
    }
}

/// The validated `[dhcp]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dhcp {
    /// Clients whose MAC is not in the host table (default `pool`).
    pub unknown_clients: UnknownClients,
    /// The pool dynamic clients lease from (default `default`).
    pub pool: String,
    /// Lease time in seconds (default 3600).
    pub lease_secs: u32,
    /// Domain name (option 15).
    pub domain: Option<String>,
    /// DNS servers (option 6) when the pool names none.
    pub dns: Vec<Ipv4Addr>,
    /// Router (option 3) when the pool names none.
    pub router: Option<Ipv4Addr>,
    /// Overrides the next-server address (siaddr, option 66, option 54); default: the
    /// VIP, else the node's `lan` address, else its services `bind` address.
    pub next_server: Option<Ipv4Addr>,
    /// Network interface the DHCP socket is bound to (SO_BINDTODEVICE), so broadcasts
    /// leave and arrive on the boot LAN only.
    pub interface: Option<String>,
    /// The group whose boot file unknown clients get in `register` mode.
    pub registration_group: Option<String>,
    /// `server` (default) or `proxy` (proxyDHCP beside another DHCP server).
    pub mode: DhcpMode,
    /// proxyDHCP's second port (default 4011); 0 answers on the DHCP port only. Only
    /// used in `proxy` mode.
    pub proxy_port: u16,
    /// Boot file per client kind.
    pub boot_files: BootFiles,
}

impl Default for Dhcp {
    fn default() -> Self {
        Dhcp {
            unknown_clients: UnknownClients::Pool,
            pool: "default".into(),
            lease_secs: 3600,
            domain: None,
            dns: Vec::new(),
            router: None,
            next_server: None,
            interface: None,
            registration_group: None,
            mode: DhcpMode::Server,
            proxy_port: PXE_PORT,
            boot_files: BootFiles::default(),
        }
    }
}

type Opt<T> = Option<Spanned<T>>;

fn text(src: &Source<'_>, v: &Opt<String>, key: &str) -> Result<Option<String>, ConfigError> {
    let Some(s) = v else { return Ok(None) };
    let t = s.get_ref().trim();
    if t.is_empty() {
        return Err(src.error(Some(s.span()), key, format!("{key} must not be empty")));
    }
    Ok(Some(t.to_string()))
}

fn ipv4(src: &Source<'_>, v: &Opt<String>, key: &str) -> Result<Option<Ipv4Addr>, ConfigError> {
    let Some(s) = v else { return Ok(None) };
    s.get_ref().trim().parse().map(Some).map_err(|_| {
        src.error(
            Some(s.span()),
            key,
            format!("{:?} is not an IPv4 address", s.get_ref()),
        )
    })
}

fn domain_ok(d: &str) -> bool {
    d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn boot_file(
    src: &Source<'_>,
    v: &Opt<String>,
    name: &str,
    default: String,
    url: bool,
) -> Result<String, ConfigError> {
    let key = format!("dhcp.boot_files.{name}");
    let Some(value) = text(src, v, &key)? else {
        return Ok(default);
    };
    let span = v.as_ref().map(Spanned::span);
    if value.len() > MAX_BOOT_FILE_LEN || value.bytes().any(|b| b.is_ascii_control()) {
        return Err(src.error(
            span,
            key,
            format!("{name} must be at most {MAX_BOOT_FILE_LEN} printable bytes"),
        ));
    }
    if url && !(value.starts_with("http://") || value.starts_with("https://")) {
        return Err(src.error(
            span,
            key,
            format!("{name} is for UEFI HTTP boot and must be an http:// or https:// URL"),
        ));
    }
    Ok(value)
}

impl BootFiles {
    fn from_wire(src: &Source<'_>, w: &WireBootFiles) -> Result<Self, ConfigError> {
        let d = BootFiles::default();
        Ok(BootFiles {
            bios: boot_file(src, &w.bios, "bios", d.bios, false)?,
            uefi_x86_64: boot_file(src, &w.uefi_x86_64, "uefi_x86_64", d.uefi_x86_64, false)?,
            uefi_ia32: boot_file(src, &w.uefi_ia32, "uefi_ia32", d.uefi_ia32, false)?,
            uefi_arm64: boot_file(src, &w.uefi_arm64, "uefi_arm64", d.uefi_arm64, false)?,
            http_x86_64: boot_file(src, &w.http_x86_64, "http_x86_64", d.http_x86_64, true)?,
            http_arm64: boot_file(src, &w.http_arm64, "http_arm64", d.http_arm64, true)?,
            ipxe: boot_file(src, &w.ipxe, "ipxe", d.ipxe, false)?,
        })
    }
}

impl Dhcp {
    /// Applies defaults to `[dhcp]` and checks every key.
    pub(crate) fn from_wire(
        src: &Source<'_>,
        wire: Option<&WireDhcp>,
    ) -> Result<Self, ConfigError> {
        let empty = WireDhcp::default();
        let w = wire.unwrap_or(&empty);
        let d = Dhcp::default();
        let unknown_clients = match &w.unknown_clients {
            None => d.unknown_clients,
            Some(s) => s
                .get_ref()
                .parse()
                .map_err(|m| src.error(Some(s.span()), "dhcp.unknown_clients", m))?,
        };
        let pool = text(src, &w.pool, "dhcp.pool")?.unwrap_or(d.pool);
        let lease_secs = match &w.lease_secs {
            None => d.lease_secs,
            Some(s) if (MIN_LEASE_SECS..=MAX_LEASE_SECS).contains(s.get_ref()) => *s.get_ref(),
            Some(s) => {
                return Err(src.error(
                    Some(s.span()),
                    "dhcp.lease_secs",
                    format!(
                        "lease_secs {} must be from {MIN_LEASE_SECS} to {MAX_LEASE_SECS}",
                        s.get_ref()
                    ),
                ))
            }
        };
        let domain = text(src, &w.domain, "dhcp.domain")?;
        if let (Some(dom), Some(s)) = (&domain, &w.domain) {
            if !domain_ok(dom) {
                return Err(src.error(
                    Some(s.span()),
                    "dhcp.domain",
                    format!("{dom:?} is not a domain name like \"boot.example.net\""),
                ));
            }
        }
        let mut dns = Vec::new();
        if let Some(list) = &w.dns {
            if list.get_ref().len() > MAX_DNS_SERVERS {
                return Err(src.error(
                    Some(list.span()),
                    "dhcp.dns",
                    format!("at most {MAX_DNS_SERVERS} DNS servers"),
                ));
            }
            for s in list.get_ref() {
                dns.push(s.trim().parse().map_err(|_| {
                    src.error(
                        Some(list.span()),
                        "dhcp.dns",
                        format!("{s:?} is not an IPv4 address"),
                    )
                })?);
            }
        }
        let interface = text(src, &w.interface, "dhcp.interface")?;
        if let (Some(i), Some(s)) = (&interface, &w.interface) {
            if i.len() > 15 || i.contains('/') || i.contains(char::is_whitespace) {
                return Err(src.error(
                    Some(s.span()),
                    "dhcp.interface",
                    format!("{i:?} is not a network interface name (at most 15 characters)"),
                ));
            }
        }
        let registration_group = text(src, &w.registration_group, "dhcp.registration_group")?;
        if unknown_clients == UnknownClients::Register && registration_group.is_none() {
            return Err(src.error(
                w.unknown_clients.as_ref().map(Spanned::span),
                "dhcp.registration_group",
                "unknown_clients = \"register\" needs registration_group: the group whose \
                 boot file unknown clients get",
            ));
        }
        let boot_files = match &w.boot_files {
            None => d.boot_files,
            Some(b) => BootFiles::from_wire(src, b)?,
        };
        let mode = match &w.mode {
            None => d.mode,
            Some(s) => s
                .get_ref()
                .parse()
                .map_err(|m| src.error(Some(s.span()), "dhcp.mode", m))?,
        };
        let proxy_port = match &w.proxy_port {
            None => d.proxy_port,
            Some(p) if mode != DhcpMode::Proxy => {
                return Err(src.error(
                    Some(p.span()),
                    "dhcp.proxy_port",
                    "proxy_port is only used with mode = \"proxy\"",
                ))
            }
            Some(p) => *p.get_ref(),
        };
        Ok(Dhcp {
            unknown_clients,
            pool,
            lease_secs,
            domain,
            dns,
            router: ipv4(src, &w.router, "dhcp.router")?,
            next_server: ipv4(src, &w.next_server, "dhcp.next_server")?,
            interface,
            registration_group,
            mode,
            proxy_port,
            boot_files,
        })
    }
}
