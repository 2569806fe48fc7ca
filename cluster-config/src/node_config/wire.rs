//! The node configuration's *wire* schema: private serde types mirroring the
//! TOML file key for key. Unknown keys are rejected; values that need semantic
//! checks are kept as [`Spanned`] text or numbers so errors can point at them.

use serde::Deserialize;
use toml::Spanned;

use super::Role;

/// The whole node configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireConfig {
    pub node_id: Option<Spanned<u64>>,
    pub cluster_name: Spanned<String>,
    pub data_dir: Spanned<String>,
    #[serde(default)]
    pub chunk_cache_mib: Option<Spanned<u64>>,
    pub secret_file: Spanned<String>,
    pub admin_token_file: Spanned<String>,
    #[serde(default)]
    pub raft: Option<Spanned<WireRaft>>,
    #[serde(default)]
    pub vip: Option<Spanned<WireVip>>,
    #[serde(default)]
    pub dhcp: Option<WireDhcp>,
    pub tftp: Option<Spanned<WireTftp>>,
    #[serde(default)]
    pub tls: Option<Spanned<WireTls>>,
    #[serde(default)]
    pub api: Option<WireApi>,
    #[serde(default)]
    pub nodes: Vec<Spanned<WireNode>>,
}

/// `[raft]`: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireRaft {
    pub heartbeat_ms: Option<Spanned<u64>>,
    pub election_timeout_min_ms: Option<Spanned<u64>>,
    pub election_timeout_max_ms: Option<Spanned<u64>>,
    pub snapshot_logs_since_last: Option<Spanned<u64>>,
    pub max_in_snapshot_log_to_keep: Option<Spanned<u64>>,
    pub vip_hold_ms: Option<Spanned<u64>>,
}

/// `[vip]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireVip {
    pub address: Spanned<String>,
    pub interface: Spanned<String>,
}

/// `[tftp]`: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireTftp {
    pub loader_image: Option<Spanned<String>>,
}

/// One `[[nodes]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireNode {
    pub id: Spanned<u64>,
    pub name: Spanned<String>,
    #[serde(default)]
    pub role: Option<Spanned<Role>>,
    pub peer_addr: Spanned<String>,
    pub admin_addr: Spanned<String>,
    #[serde(default)]
    pub lan: Option<Spanned<String>>,
    #[serde(default)]
    pub services: Option<Spanned<WireServices>>,
}

/// `[nodes.services]`: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireServices {
    pub bind: Option<Spanned<String>>,
    pub dhcp_port: Option<Spanned<u16>>,
    pub tftp_port: Option<Spanned<u16>>,
    pub http_port: Option<Spanned<u16>>,
    pub nfs_port: Option<Spanned<u16>>,
    pub mount_port: Option<Spanned<u16>>,
    pub portmap_port: Option<Spanned<u16>>,
}

/// `[dhcp]`: every key optional. (Not `Spanned`: toml cannot span a table that only
/// exists through a dotted header such as `[dhcp.boot_files]`.)
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireDhcp {
    pub unknown_clients: Option<Spanned<String>>,
    pub pool: Option<Spanned<String>>,
    pub lease_secs: Option<Spanned<u32>>,
    pub domain: Option<Spanned<String>>,
    pub dns: Option<Spanned<Vec<String>>>,
    pub router: Option<Spanned<String>>,
    pub next_server: Option<Spanned<String>>,
    pub interface: Option<Spanned<String>>,
    pub registration_group: Option<Spanned<String>>,
    pub mode: Option<Spanned<String>>,
    pub proxy_port: Option<Spanned<u16>>,
    pub boot_files: Option<WireBootFiles>,
}

/// `[dhcp.boot_files]`: the boot file per client kind; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireBootFiles {
    pub bios: Option<Spanned<String>>,
    pub uefi_x86_64: Option<Spanned<String>>,
    pub uefi_ia32: Option<Spanned<String>>,
    pub uefi_arm64: Option<Spanned<String>>,
    pub http_x86_64: Option<Spanned<String>>,
    pub http_arm64: Option<Spanned<String>>,
    pub ipxe: Option<Spanned<String>>,
}

/// `[tls]`: all three paths required.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireTls {
    pub cert_file: Spanned<String>,
    pub key_file: Spanned<String>,
    pub ca_file: Spanned<String>,
}

/// `[api]` (not `Spanned`: toml cannot span a table that only exists through `[[api.tokens]]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireApi {
    #[serde(default)]
    pub tokens: Vec<Spanned<WireToken>>,
}

/// One `[[api.tokens]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireToken {
    pub name: Spanned<String>,
    pub scope: Spanned<String>,
    pub secret_file: Spanned<String>,
}
