//! raftboot: the boot server (`bootd`) and the operator's CLI (`bootctl`).
//!
//! This package wires the replicated core ([`raftboot_raft`]) to sockets: the node
//! ([`node`]) owns start-up, first-start initialization and the shutdown tree; [`writer`]
//! submits commands to the leader (forwarding over the peer network when this node is not
//! the leader; [`batch_writer`] packs concurrent commands into one log entry); [`api`] is the admin HTTP API; [`metrics`] renders Prometheus text;
//! [`ctl`] is bootctl's client side; [`local`] runs the three-node loopback demo cluster;
//! [`cas`] stores image blobs and manifests; [`images`] replicates them between nodes;
//! [`nfs`] serves them read-only over NFSv3.
//! [`dhcp`] is the DHCP server (leases committed through Raft before they are acknowledged).
//! [`bootcfg`] is the boot-file namespace and generated boot configs (pure),
//! [`bootfiles`] serves it from the store, [`tftp`] and [`httpboot`] over the wire.
//! [`vip`] moves the virtual IP with the leader; [`failover`] moves both on purpose.
//! [`assets`] generates the man pages and shell completions the Debian package ships.

pub mod api;
pub mod assets;
pub mod backup;
pub mod batch_writer;
pub mod bootcfg;
pub mod bootfiles;
pub mod cas;
pub mod ctl;
pub mod demo_image;
pub mod dhcp;
pub mod failover;
pub mod httpboot;
pub mod images;
pub mod local;
pub mod metrics;
pub mod nfs;
pub mod node;
pub mod tftp;
pub mod vip;
pub mod writer;
