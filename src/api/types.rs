//! JSON types of the admin API, shared by bootd (server) and bootctl (client).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use raftboot_raft::{Mac, NodeId};
use serde::{Deserialize, Serialize};

/// One member as the cluster's membership config describes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: NodeId,
    pub name: String,
    pub peer_addr: String,
    pub admin_addr: String,
    /// Voter (in the current config) or learner.
    pub voter: bool,
    pub witness: bool,
}

/// What `GET /v1/status` returns: one node's view.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: NodeId,
    pub name: String,
    pub cluster: String,
    /// Leader, Follower, Candidate, Learner or Shutdown.
    pub server_state: String,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    /// BLAKE3 of the applied state's canonical encoding: equal on converged replicas.
    pub state_digest: String,
    pub members: Vec<MemberInfo>,
    /// On the leader: each target's matched log index.
    pub replication: BTreeMap<NodeId, Option<u64>>,
    pub millis_since_quorum_ack: Option<u64>,
    /// The configured VIP (none for the loopback demo cluster).
    pub vip: Option<String>,
    /// The node holding the VIP, when a VIP is configured and held.
    pub vip_holder: Option<NodeId>,
    pub snapshots_installed: u64,
    pub hosts: usize,
    pub leases: usize,
}

/// `POST /v1/leases`: ask for a lease (what the DHCP server does for a client).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseRequest {
    pub mac: Mac,
    pub pool: String,
    pub requested: Option<Ipv4Addr>,
    pub lease_secs: u32,
}

/// `POST /v1/members`: add a node (learner first, then voter).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddMember {
    pub id: NodeId,
    pub name: String,
    pub peer_addr: String,
    pub admin_addr: String,
    #[serde(default)]
    pub witness: bool,
}

/// `POST /v1/hosts/apply`: an inventory, optionally removing hosts it does not list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyHosts {
    pub hosts: Vec<raftboot_raft::state::Host>,
    #[serde(default)]
    pub prune: bool,
}

/// What `POST /v1/hosts/apply` did.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ApplyReport {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub removed: usize,
}

/// Error body of every failed API call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// unauthorized | invalid_input | no_leader | rejected | unavailable | internal
    pub error: String,
    pub message: String,
}

/// One boot stage a node saw for a machine (`GET /v1/boots`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BootStageView {
    /// `loader`, `config`, `kernel`, `initrd` or `other`.
    pub stage: String,
    /// First request, ms since the epoch.
    pub first_ms: u64,
    /// Latest request, ms since the epoch.
    pub last_ms: u64,
    pub count: u64,
    /// The path of the latest request.
    pub last_path: String,
}

/// Everything one node's boot tracker saw of one machine (`GET /v1/boots`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BootView {
    /// The MAC when the node knows it, else the client address.
    pub machine: String,
    /// The client address of the latest request.
    pub last_addr: Option<String>,
    /// Latest request of any stage, ms since the epoch.
    pub last_ms: u64,
    /// Stages in boot order.
    pub stages: Vec<BootStageView>,
}
