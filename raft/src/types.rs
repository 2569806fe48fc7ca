//! The openraft type configuration: node ids, node descriptions, and the request/response
//! types that travel through the log.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::state::{Image, Lease};

/// A boot server's id in the cluster (stable for the node's lifetime).
pub type NodeId = u64;

/// What the cluster knows about a member: stored in the membership config in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NodeInfo {
    /// Human name (e.g. `boot-a`).
    pub name: String,
    /// Peer RPC address (`host:port`).
    pub peer_addr: String,
    /// Admin HTTP API address (`host:port`).
    pub admin_addr: String,
    /// A witness stores the log and votes but never campaigns or serves.
    pub witness: bool,
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.peer_addr)
    }
}

/// One log entry's payload: the command and the leader's wall clock when it proposed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Milliseconds since the Unix epoch, stamped by the leader; `apply` uses only this.
    pub now_ms: u64,
    /// What to do.
    pub cmd: Command,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}@{}", self.cmd, self.now_ms)
    }
}

/// The result of applying one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Response {
    /// Applied (or a membership/blank entry).
    #[default]
    Ok,
    /// A dynamic lease was granted or renewed.
    Lease(Lease),
    /// The host has a fixed address; no lease is stored.
    Fixed(std::net::Ipv4Addr),
    /// An image was registered.
    Image(Image),
    /// The command was valid to log but refused by the state machine (state unchanged).
    Rejected(String),
    /// One answer per command of a [`crate::command::Command::Batch`], in order.
    Batch(Vec<Response>),
}

openraft::declare_raft_types!(
    /// raftboot's openraft type configuration.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = NodeInfo,
);

/// A running Raft node of this cluster.
pub type Raft = openraft::Raft<TypeConfig>;
/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// openraft's storage error for this config.
pub type StorageError = openraft::StorageError<NodeId>;
