//! The DHCP server (DHCPv4 on dhcproto): it owns everything between a UDP datagram on
//! port 67 and the lease table in Raft.
//!
//! Flow: [`server`] (the thin socket loop) -> [`handler`] (one datagram: decode, answer
//! gate, view, policy, commit, encode, address) -> [`request`] (strict decoding with
//! [`raw_options`] in front of dhcproto) -> [`policy`] (pure decisions over a
//! [`view::ClientView`] of the replicated state, with [`boot`] choosing PXE boot files)
//! -> for an OFFER an in-memory reservation ([`offers`]); for an ACK a lease commit through
//! [`backend::LeaseBackend`] (the Raft [`crate::writer::Writer`] behind a
//! [`crate::batch_writer::BatchWriter`]) *before* the reply -> [`reply`] (encoding) and [`addressing`] (RFC 2131 4.1: relay,
//! unicast or broadcast). [`settings`] resolves the node configuration; [`stats`] holds the
//! counters `/metrics` renders.
//!
//! Only the node the [`handler::AnswerGate`] names answers: with a VIP, the node whose VIP
//! controller holds it ([`vip_gate`]); without one (the loopback demo), the Raft leader
//! ([`leader_gate`]); either only after it applied its own term's first entry. The others
//! decode, count, and drop.
//!
//! Wiring: `DhcpServer::new(DhcpSettings::from_config(&cfg)?, Arc::new(RaftBackend::new(
//! shared, writer)), leader_gate(raft), stats).serve(cancel)`.

pub mod addressing;
pub mod backend;
pub mod boot;
pub mod client;
pub mod error;
pub mod handler;
pub mod offers;
pub mod policy;
pub mod proxy;
pub mod raw_options;
pub mod reply;
pub mod request;
pub mod server;
pub mod settings;
pub mod stats;
pub mod view;

pub use backend::{LeaseBackend, MemoryBackend, RaftBackend};
pub use error::{DhcpError, ParseError};
pub use handler::{AnswerGate, Handler, Outbound};
pub use reply::{Reply, ReplyKind};
pub use request::DhcpRequest;
pub use server::{leader_gate, vip_gate, DhcpServer, DhcpSockets};
pub use settings::DhcpSettings;
pub use stats::DhcpStats;

#[cfg(test)]
mod tests;
