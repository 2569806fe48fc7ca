//! Commands: the intents that go through the Raft log. Each is applied deterministically by
//! [`crate::state::State::apply`]; anything that needs the time uses the leader's stamp in
//! [`crate::types::Request::now_ms`].

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::mac::Mac;
use crate::state::{Group, Host, Pool, State};
use crate::types::NodeId;

/// One replicated change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Add or replace a host (keyed by MAC).
    PutHost(Host),
    /// Remove a host.
    RemoveHost { mac: Mac },
    /// Add or replace a group's settings (its image history is kept).
    PutGroup(Group),
    /// Remove a group (refused while hosts use it).
    RemoveGroup { name: String },
    /// Add or replace an address pool.
    PutPool(Pool),
    /// Remove a pool and its leases.
    RemovePool { name: String },
    /// Grant or renew a lease: same address for the same MAC, else the requested address if
    /// free, else the lowest free address of the pool.
    AllocateLease {
        mac: Mac,
        pool: String,
        requested: Option<Ipv4Addr>,
        lease_secs: u32,
    },
    /// Give a lease back.
    ReleaseLease { mac: Mac, ip: Ipv4Addr },
    /// Drop leases whose expiry (plus a grace period) has passed.
    ExpireLeases { grace_ms: u64 },
    /// Register an image: its manifest digest (hex) and size. The sequence number is assigned
    /// by the state machine.
    RegisterImage {
        name: String,
        manifest: String,
        size: u64,
    },
    /// Remove an image (refused while it is active in a group).
    RemoveImage { name: String },
    /// Make an image the active one of a group (the previous one goes into the history).
    ActivateImage { group: String, image: String },
    /// Go back to the group's previous image.
    RollbackGroup { group: String },
    /// A node reports whether it holds every blob of an image.
    SetReadiness {
        node: NodeId,
        image: String,
        ready: bool,
        reason: Option<String>,
    },
    /// Several commands in one log entry (group commit: one fsync covers them all). Each is
    /// applied in order with the entry's time stamp and gets its own answer in
    /// [`crate::types::Response::Batch`]; one refused command does not undo the others. A
    /// nested batch is refused.
    Batch(Vec<Command>),
    /// Replace the whole state with a backup's (`bootctl restore`). Refused when the state
    /// is not empty unless `force`; the decision is made here, in `apply`, so two restores
    /// racing each other cannot both land on an empty cluster.
    Restore { state: Box<State>, force: bool },
    /// A command submitted through the admin API by the token named `actor`: applied like
    /// `cmd`, and, when accepted, recorded in the audit trail ([`crate::state::AuditLog`]).
    /// `cmd` may not be a batch or another attributed command.
    Attributed { actor: String, cmd: Box<Command> },
    /// An audit record for an accepted state-changing call that is not itself a state
    /// command (membership changes, planned failover, blob collection): `action` says what,
    /// `detail` with which arguments.
    AuditNote {
        actor: String,
        action: String,
        detail: String,
    },
}

impl Command {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::PutHost(_) => "put_host",
            Command::RemoveHost { .. } => "remove_host",
            Command::PutGroup(_) => "put_group",
            Command::RemoveGroup { .. } => "remove_group",
            Command::PutPool(_) => "put_pool",
            Command::RemovePool { .. } => "remove_pool",
            Command::AllocateLease { .. } => "allocate_lease",
            Command::ReleaseLease { .. } => "release_lease",
            Command::ExpireLeases { .. } => "expire_leases",
            Command::RegisterImage { .. } => "register_image",
            Command::RemoveImage { .. } => "remove_image",
            Command::ActivateImage { .. } => "activate_image",
            Command::RollbackGroup { .. } => "rollback_group",
            Command::SetReadiness { .. } => "set_readiness",
            Command::Batch(_) => "batch",
            Command::Restore { .. } => "restore",
            Command::Attributed { .. } => "attributed",
            Command::AuditNote { .. } => "audit_note",
        }
    }
}
