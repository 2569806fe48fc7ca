//! The VIP follows the leader, under one safety rule: at most one node holds it at any
//! instant. openraft 0.9 never steps a cut-off leader down by itself, so this node holds the
//! VIP only while it is leader AND its last quorum acknowledgement is younger than a hold
//! window shorter than the minimum election timeout, re-checked on its own timer; the
//! acknowledgement age reported by Raft is aged by the time since the report arrived, so a
//! stalled Raft core also loses the VIP.
//!
//! [`decision`] is the pure rule; [`backend`] is what claiming and releasing do (a recording
//! fake for tests; [`linux`] puts the VIP on a macvlan inside [`netns`], a network
//! namespace only this process holds);
//! [`lease_guard`] is the backstop for a bootd that is alive but stopped: a helper process
//! that takes the VIP down when the controller stops renewing its lease;
//! [`controller`] is the thin loop that feeds the rule from the metrics watch, and records
//! every claim, release and observed election in a [`moves::MoveLog`].

pub mod backend;
pub mod controller;
pub mod decision;
pub mod garp;
pub mod lease_guard;
pub mod linux;
pub mod moves;
pub mod netns;
