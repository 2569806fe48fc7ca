//! bootctl's client side: [`client::AdminClient`] talks to any node's admin API and turns
//! every failure into one clear line ([`client::CtlError`]); [`commands`] renders results as
//! tables or JSON; [`drill`] runs `bootctl failover` and its drill, whose service checks
//! are in [`probe`]; [`backup`] runs `bootctl backup` and `bootctl restore`.

pub mod backup;
pub mod boots;
pub mod client;
pub mod commands;
pub mod drill;
pub mod import;
pub mod probe;
