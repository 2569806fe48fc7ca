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
    /// This node's last VIP moves (elections seen, claims, releases, yields), oldest first.
    #[serde(default)]
    pub vip_events: Vec<crate::vip::moves::VipEvent>,
    /// This node's own LAN address (`lan` in its config), e.g. `10.0.0.11/24`: where its
    /// DHCP answers come from.
    #[serde(default)]
    pub lan: Option<String>,
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

/// One stage of one machine's boot as one node saw it (part of `GET /v1/boots`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BootStageView {
    /// `dhcp-offer`, `dhcp-ack`, `loader`, `config`, `kernel`, `initrd`, `other`, `nfs-mount`.
    pub stage: String,
    /// First time this node saw the stage, ms since the epoch.
    pub first_ms: u64,
    /// Latest time, ms since the epoch.
    pub last_ms: u64,
    /// How many requests of this stage.
    pub count: u64,
    /// The path (file, export) or message of the latest request.
    pub last_path: String,
}

/// One machine's boot record on one node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BootView {
    /// The MAC when this node could tell it, else the client address.
    pub key: String,
    /// The host table's name for that MAC, if any.
    pub host: Option<String>,
    /// The client address of the latest request.
    pub last_addr: Option<String>,
    /// Latest request of any stage, ms since the epoch.
    pub last_ms: u64,
    /// Stages, in the order this node first saw them.
    pub stages: Vec<BootStageView>,
}

/// What `GET /v1/boots` returns: everything one node saw.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeBoots {
    pub id: NodeId,
    pub name: String,
    pub boots: Vec<BootView>,
}

/// `POST /v1/failover` (on the leader): move leadership and the VIP to another boot server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FailoverRequest {
    /// The node that should take over (default: the most caught-up other boot server).
    #[serde(default)]
    pub to: Option<NodeId>,
    /// How long the leader yields at most (default 5000 ms, at most 30000).
    #[serde(default)]
    pub yield_ms: Option<u64>,
}

/// What the old leader did during a planned failover; times are milliseconds since the
/// Unix epoch on the old leader's clock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FailoverReport {
    /// The old leader.
    pub from: NodeId,
    /// The node asked to campaign.
    pub target: NodeId,
    /// The operator named the target.
    pub named: bool,
    /// Who leads now.
    pub new_leader: NodeId,
    pub term_before: u64,
    pub term_after: u64,
    /// The old leader stopped heartbeats and campaigning.
    pub yielded_at_ms: u64,
    /// Its VIP controller had let go (None: it did not hold the VIP).
    pub released_at_ms: Option<u64>,
    /// The target was asked to campaign (None: the request failed; it campaigns on its own
    /// timer).
    pub campaign_at_ms: Option<u64>,
    /// The old leader saw the new leader.
    pub leader_seen_at_ms: u64,
    /// Heartbeats and elections were back to normal.
    pub resumed_at_ms: u64,
    /// Peers that could not be told to hold or to campaign.
    pub warnings: Vec<String>,
}

/// `GET /v1/audit?limit=N`: only the newest N entries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditQuery {
    pub limit: Option<usize>,
}
