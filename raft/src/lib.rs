//! raftboot's replicated state.
//!
//! This crate owns everything that goes through Raft: the openraft type configuration
//! ([`types`]), the commands operators and services propose ([`command`]), the deterministic
//! state machine they are applied to ([`state`]), the versioned encoding of log entries and
//! snapshots ([`codec`]), the sled-backed log store ([`log_store`]) and state-machine store
//! ([`sm_store`]), and the authenticated peer network that carries Raft RPCs and forwarded
//! writes between boot servers ([`peer`]), the switches a planned failover flips
//! ([`election_hold`]), and offline recovery after quorum is lost for good ([`recovery`]).
//!
//! The state machine never reads a clock, a file or the network: the leader stamps the time
//! into every [`types::Request`], so every replica computes the same state from the same log.

// openraft's `StorageError` and `ConfigError` are large by design, and the storage traits
// fix them as the error type of every storage function; boxing them here would only add
// conversions at each trait boundary.
#![allow(clippy::result_large_err)]

pub mod codec;
pub mod command;
pub mod election_hold;
pub mod log_store;
pub mod mac;
pub mod peer;
pub mod raft_config;
pub mod recovery;
pub mod sm_store;
pub mod state;
pub mod types;

pub use command::Command;
pub use log_store::SledLogStore;
pub use mac::Mac;
pub use sm_store::{SharedState, SledStateMachine};
pub use state::State;
pub use types::{NodeId, NodeInfo, Raft, Request, Response, TypeConfig};
