//! The peer network: Raft RPCs and forwarded writes between boot servers over one TCP port.
//!
//! Every connection starts with a mutual challenge-response handshake keyed by the cluster
//! secret ([`auth`]); each side proves it knows the secret and names its node id, and each
//! checks the other's id (the dialer checks it reached the node it meant, the listener
//! checks the dialer is a member and, off loopback, connects from that member's address).
//! After the handshake, length-prefixed frames ([`frame`]) carry [`PeerRequest`]s and
//! [`PeerResponse`]s; Raft RPCs whose sender differs from the authenticated node are refused.
//! With `[tls]` configured, each connection is first a mutual-TLS session whose certificates
//! must chain to the cluster CA ([`tls`]); the secret handshake then runs inside it.
//! A planned failover uses three control requests (Hold, Campaign, Resume), accepted only
//! from the node this one follows (Resume from any member: it only restores the defaults).

pub mod auth;
pub mod client;
pub mod frame;
pub mod server;
pub mod tls;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicU64;

use crate::command::Command;
use crate::types::{NodeId, NodeInfo, Response, TypeConfig};

pub use auth::PeerAuth;
pub use client::{PeerClient, PeerNetworkFactory};
pub use server::PeerServer;

/// A request from one peer to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// A client write forwarded by a follower; the leader stamps the time.
    Write(Command),
    /// A membership change forwarded by a follower.
    Membership(MembershipChange),
    /// Liveness, identity and "is your log initialized?" probe (used before first start).
    Ping,
    /// Read part of a content-addressed blob (a replica pulling what it lacks).
    FetchBlob {
        digest: [u8; 32],
        offset: u64,
        len: u32,
    },
    /// Planned failover, from the leader: pause campaigning (and heartbeats) for a while.
    Hold {
        hold: crate::election_hold::Hold,
        for_ms: u64,
    },
    /// Planned failover, from the leader: campaign now (the chosen target).
    Campaign,
    /// End a hold now (the failover is over).
    Resume,
    /// Best-effort notices about running TFTP transfers (the boot server's own encoding,
    /// at most [`MAX_NOTICES`] bytes), kept by peers so that the next VIP holder can take
    /// the transfers over. Not replicated through Raft.
    TransferNotices(Vec<u8>),
}

/// Largest body of one [`PeerRequest::TransferNotices`].
pub const MAX_NOTICES: usize = 256 * 1024;

/// Where a peer server hands transfer notices (the node's TFTP transfer registry).
pub trait NoticeSink: Send + Sync {
    /// Notices from authenticated peer `from`; the sink validates `body`.
    fn transfer_notices(&self, from: NodeId, body: &[u8]) -> Result<(), String>;
}

/// Largest blob read one FetchBlob may ask for.
pub const MAX_BLOB_READ: u32 = 4 * 1024 * 1024;

/// Where a peer server reads blobs from (the node's content-addressed store).
pub trait BlobSource: Send + Sync {
    /// Read `len` bytes at `offset` of blob `digest`, verified; a short read at the end.
    fn read_blob(&self, digest: &[u8; 32], offset: u64, len: u32) -> Result<Vec<u8>, String>;
}

/// A membership change (run on the leader).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Add a node as a learner, wait for it to catch up, then make it a voter.
    Add { id: NodeId, node: NodeInfo },
    /// Remove a node from the voters and learners.
    Remove { id: NodeId },
}

/// Why a forwarded write was not applied.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub enum WriteRejection {
    /// This node is not the leader.
    #[error("not the leader (leader: {leader:?})")]
    ForwardToLeader { leader: Option<NodeId> },
    /// Raft failed to commit it.
    #[error("write failed: {0}")]
    Failed(String),
}

/// The answer to a [`PeerRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    Write(Result<Response, WriteRejection>),
    Pong {
        node: NodeId,
        initialized: bool,
    },
    Membership(Result<(), WriteRejection>),
    /// Blob bytes, or why they cannot be served (missing, corrupt, no store on this node).
    Blob(Result<Vec<u8>, String>),
    /// The request was refused (e.g. a Raft RPC naming another sender).
    Refused(String),
    /// Outcome of a Hold, Campaign or Resume.
    Control(Result<(), String>),
    /// Transfer notices taken (or why not).
    Noted(Result<(), String>),
}

/// Peer-network counters, exported as Prometheus metrics by bootd.
#[derive(Debug, Default)]
pub struct PeerStats {
    pub handshakes_ok: AtomicU64,
    pub refused_secret: AtomicU64,
    pub refused_identity: AtomicU64,
    pub refused_rpc_sender: AtomicU64,
    pub malformed_frames: AtomicU64,
    pub rpcs_served: AtomicU64,
    /// TLS handshakes that failed (e.g. a certificate not signed by the cluster CA).
    pub refused_tls: AtomicU64,
}

/// Errors of the peer network.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("frame of {0} bytes exceeds the limit")]
    FrameTooLarge(u32),
    #[error("malformed message: {0}")]
    Codec(#[from] crate::codec::CodecError),
    #[error("handshake refused: {0}")]
    Refused(String),
    #[error("unexpected message: {0}")]
    Protocol(String),
    #[error("TLS: {0}")]
    Tls(String),
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
