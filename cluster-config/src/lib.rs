//! raftboot cluster configuration.
//!
//! This crate owns the configuration *files* of a raftboot cluster: the node
//! configuration read by `bootd` (which node am I, who are my peers, Raft timings,
//! the floating VIP, where the secrets live) and the host inventory applied with
//! `bootctl hosts apply FILE`.
//!
//! Every file goes through two stages: TOML is deserialized into private *wire*
//! types that mirror the file one-to-one (unknown keys are rejected), and the
//! wire types are then checked and converted into the public *validated* types.
//! Every failure is a [`ConfigError`] naming the file, line, column and key, so
//! an operator can jump straight to the offending line.

mod error;
pub mod inventory;
mod mac;
mod net;
pub mod node_config;
mod source;

pub use error::ConfigError;
pub use inventory::{HostSpec, Inventory};
pub use mac::{format_mac, parse_mac};
pub use node_config::{
    ApiToken, BootFiles, Dhcp, DhcpMode, NodeConfig, NodeEntry, RaftTimings, Role, Scope, Services,
    TftpSettings, TlsFiles, UnknownClients, Vip, ADMIN_TOKEN_NAME, DEFAULT_CHUNK_CACHE_MIB,
    DEFAULT_LOADER_IMAGE, MAX_CHUNK_CACHE_MIB, PXE_PORT,
};

/// The three-node, single-machine configuration used by `bootd local`.
///
/// Its paths are relative: they resolve against the directory the text is
/// written into.
pub const LOCAL_EXAMPLE: &str = include_str!("../examples/local.toml");
