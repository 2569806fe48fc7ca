//! raftboot: the boot server (`bootd`) and the operator's CLI (`bootctl`).
//!
//! This package wires the replicated core ([`raftboot_raft`]) to sockets: the node
//! ([`node`]) owns start-up, first-start initialization and the shutdown tree; [`writer`]
//! submits commands to the leader (forwarding over the peer network when this node is not
//! the leader); [`api`] is the admin HTTP API; [`metrics`] renders Prometheus text;
//! [`ctl`] is bootctl's client side; [`local`] runs the three-node loopback demo cluster;
//! [`dhcp`] is the DHCP server (leases committed through Raft before they are acknowledged).

pub mod api;
pub mod cas;
pub mod ctl;
pub mod dhcp;
pub mod local;
pub mod metrics;
pub mod node;
pub mod writer;
