//! raftboot: the boot server (`bootd`) and the operator's CLI (`bootctl`).
//!
//! This package wires the replicated core ([`raftboot_raft`]) to sockets: the node
//! ([`node`]) owns start-up, first-start initialization and the shutdown tree; [`writer`]
//! submits commands to the leader (forwarding over the peer network when this node is not
//! the leader); [`api`] is the admin HTTP API; [`metrics`] renders Prometheus text;
//! [`ctl`] is bootctl's client side; [`local`] runs the three-node loopback demo cluster;
//! [`cas`] stores image blobs and manifests; [`images`] replicates them between nodes.

pub mod api;
pub mod bootcfg;
pub mod cas;
pub mod ctl;
pub mod images;
pub mod local;
pub mod metrics;
pub mod node;
pub mod writer;
