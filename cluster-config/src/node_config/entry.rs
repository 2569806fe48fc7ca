//! [`NodeEntry`] and [`Role`]: one validated `[[nodes]]` member of the cluster.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::Services;

/// What a node does in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A full member: votes, can lead, holds the VIP and serves boot traffic.
    Voter,
    /// A tie-breaker: votes so two boot servers keep a quorum when one fails,
    /// but never becomes leader and never serves boot traffic.
    Witness,
}

impl Role {
    /// The TOML spelling: `"voter"` or `"witness"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Voter => "voter",
            Role::Witness => "witness",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One cluster member, as every node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// Raft node id, unique in the cluster.
    pub id: u64,
    /// Human name, unique in the cluster.
    pub name: String,
    /// Voter or witness.
    pub role: Role,
    /// Where other nodes reach this node's Raft RPC endpoint.
    pub peer_addr: SocketAddr,
    /// Where `bootctl` reaches this node's admin API.
    pub admin_addr: SocketAddr,
    /// This node's own address and prefix on the boot LAN, e.g. `10.0.0.11/24`.
    pub lan: Option<(Ipv4Addr, u8)>,
    /// Boot service listen address and ports.
    pub services: Services,
}

impl NodeEntry {
    /// True for [`Role::Voter`].
    pub fn is_voter(&self) -> bool {
        self.role == Role::Voter
    }

    /// True for [`Role::Witness`].
    pub fn is_witness(&self) -> bool {
        self.role == Role::Witness
    }
}
