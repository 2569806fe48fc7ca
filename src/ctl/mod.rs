//! bootctl's client side: [`client::AdminClient`] talks to any node's admin API and turns
//! every failure into one clear line ([`client::CtlError`]); [`commands`] renders results as
//! tables or JSON.

pub mod boots;
pub mod client;
pub mod commands;
pub mod import;
