//! [`NodeConfig`]: one node's validated view of the cluster configuration file
//! — loading, parsing and validating it — plus the public types it is made of.

mod dhcp;
mod entry;
mod files;
mod nodes;
mod raft;
mod security;
mod services;
mod tftp;
mod vip;
mod wire;

use std::path::{Path, PathBuf};

pub use dhcp::{BootFiles, Dhcp, DhcpMode, UnknownClients, PXE_PORT};
pub use entry::{NodeEntry, Role};
pub use raft::RaftTimings;
pub use security::{ApiToken, Scope, TlsFiles, ADMIN_TOKEN_NAME};
pub use services::Services;
pub use tftp::{TftpSettings, DEFAULT_LOADER_IMAGE};
pub use vip::Vip;

use crate::source::Source;
use crate::ConfigError;
use wire::WireConfig;

/// A validated node configuration.
///
/// Guarantees after [`load`](Self::load)/[`parse`](Self::parse): `nodes` is
/// non-empty, sorted by id, with unique ids, names and addresses; `node_id` is
/// one of them; there is at least one voter and at most one witness; the Raft
/// timings are ordered; the VIP (if any) lies in every node's LAN subnet.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The configuration file this was read from.
    pub source: PathBuf,
    /// The node this process is (file value or override).
    pub node_id: u64,
    /// Cluster name, for logs and sanity checks between nodes.
    pub cluster_name: String,
    /// State directory, `{id}` substituted and resolved against the file's directory.
    pub data_dir: PathBuf,
    /// Memory for verified 64 KiB chunks of served blobs (`chunk_cache_mib`, default
    /// [`DEFAULT_CHUNK_CACHE_MIB`]; 0 turns the cache off), in bytes.
    pub chunk_cache_bytes: usize,
    /// The cluster secret (trailing whitespace trimmed), at least 16 bytes.
    pub secret: Vec<u8>,
    /// The admin API bearer token, trimmed, non-empty.
    pub admin_token: String,
    /// Resolved path of the cluster secret.
    pub secret_file: PathBuf,
    /// Resolved path of the admin token.
    pub admin_token_file: PathBuf,
    /// Raft and VIP timings.
    pub raft: RaftTimings,
    /// The floating boot address, if configured.
    pub vip: Option<Vip>,
    /// How the DHCP server answers (the `[dhcp]` table, defaults when absent).
    pub dhcp: Dhcp,
    /// Boot-file service settings (`[tftp]`).
    pub tftp: TftpSettings,
    /// Every cluster member, sorted by id.
    pub nodes: Vec<NodeEntry>,
    /// `[tls]`: HTTPS admin API and mutual-TLS peer network, when set.
    pub tls: Option<TlsFiles>,
    /// `[[api.tokens]]`: named tokens besides `admin_token` (which is named `admin`).
    pub api_tokens: Vec<ApiToken>,
}

/// The default size of a boot server's chunk cache: a boot's hot set (kernel, initrd, the
/// libraries and binaries every client runs) many times over.
pub const DEFAULT_CHUNK_CACHE_MIB: u64 = 512;

/// The largest accepted `chunk_cache_mib` (64 GiB): beyond it, a typo is likelier than intent.
pub const MAX_CHUNK_CACHE_MIB: u64 = 64 << 10;

impl NodeConfig {
    /// Reads, parses and validates `path`. `node_override` replaces the file's
    /// `node_id` (one cluster-wide file shared by several nodes).
    pub fn load(path: &Path, node_override: Option<u64>) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, &e))?;
        Self::parse(&text, path, node_override)
    }

    /// Parses and validates `text`. `path` names the file in errors, and
    /// relative paths in it resolve against `path`'s directory. The secret and
    /// token files are read.
    pub fn parse(
        text: &str,
        path: &Path,
        node_override: Option<u64>,
    ) -> Result<NodeConfig, ConfigError> {
        let src = Source::new(path, text);
        let wire: WireConfig = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
        build(&src, wire, node_override)
    }

    /// The entry of this node (`node_id`).
    ///
    /// # Panics
    ///
    /// Only if `nodes` was edited after validation to drop this node.
    pub fn this_node(&self) -> &NodeEntry {
        match self.node(self.node_id) {
            Some(n) => n,
            None => panic!("node_id {} is not listed in nodes", self.node_id),
        }
    }

    /// The entry with id `id`, if listed.
    pub fn node(&self, id: u64) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Every node other than this one.
    pub fn peers(&self) -> impl Iterator<Item = &NodeEntry> {
        self.nodes.iter().filter(move |n| n.id != self.node_id)
    }
}

fn build(
    src: &Source<'_>,
    wire: WireConfig,
    node_override: Option<u64>,
) -> Result<NodeConfig, ConfigError> {
    let cluster_name = wire.cluster_name.get_ref().trim().to_string();
    if cluster_name.is_empty() {
        return Err(src.error(
            Some(wire.cluster_name.span()),
            "cluster_name",
            "cluster_name must not be empty",
        ));
    }
    let nodes = nodes::build_nodes(src, &wire.nodes)?;
    let id_span = wire.node_id.as_ref().map(toml::Spanned::span);
    let node_id = match (node_override, &wire.node_id) {
        (Some(id), _) => id,
        (None, Some(id)) => *id.get_ref(),
        (None, None) => {
            return Err(src.error(
                None,
                "node_id",
                "node_id is not set; set it in the file or pass --node-id",
            ))
        }
    };
    if !nodes.iter().any(|n| n.id == node_id) {
        let (span, how) = match node_override {
            Some(_) => (None, " (from --node-id)"),
            None => (id_span, ""),
        };
        return Err(src.error(
            span,
            "node_id",
            format!("node_id {node_id}{how} is not listed in [[nodes]]"),
        ));
    }
    let raft = RaftTimings::from_wire(src, wire.raft.as_ref())?;
    let vip = match &wire.vip {
        Some(v) => Some(Vip::from_wire(src, v, &nodes)?),
        None => None,
    };
    let dhcp = Dhcp::from_wire(src, wire.dhcp.as_ref())?;
    let tftp = TftpSettings::from_wire(src, wire.tftp.as_ref())?;
    let data_dir = files::resolve(src, &wire.data_dir, "data_dir", node_id)?;
    let chunk_cache_mib = match &wire.chunk_cache_mib {
        None => DEFAULT_CHUNK_CACHE_MIB,
        Some(v) if *v.get_ref() <= MAX_CHUNK_CACHE_MIB => *v.get_ref(),
        Some(v) => {
            return Err(src.error(
                Some(v.span()),
                "chunk_cache_mib",
                format!(
                    "chunk_cache_mib {} is above the limit of {MAX_CHUNK_CACHE_MIB} (MiB)",
                    v.get_ref()
                ),
            ))
        }
    };
    let chunk_cache_bytes = usize::try_from(chunk_cache_mib << 20).map_err(|_| {
        src.error(
            wire.chunk_cache_mib.as_ref().map(toml::Spanned::span),
            "chunk_cache_mib",
            format!("chunk_cache_mib {chunk_cache_mib} does not fit this machine's memory"),
        )
    })?;
    let secret_file = files::resolve(src, &wire.secret_file, "secret_file", node_id)?;
    let admin_token_file =
        files::resolve(src, &wire.admin_token_file, "admin_token_file", node_id)?;
    let secret = files::read_secret(src, &wire.secret_file, &secret_file)?;
    let admin_token = files::read_token(src, &wire.admin_token_file, &admin_token_file)?;
    let tls = security::TlsFiles::from_wire(src, wire.tls.as_ref(), node_id)?;
    let api_tokens = security::tokens_from_wire(src, wire.api.as_ref(), &admin_token, node_id)?;
    Ok(NodeConfig {
        source: src.path.to_path_buf(),
        node_id,
        cluster_name,
        data_dir,
        chunk_cache_bytes,
        secret,
        admin_token,
        secret_file,
        admin_token_file,
        raft,
        vip,
        dhcp,
        tftp,
        nodes,
        tls,
        api_tokens,
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod dhcp_tests;
