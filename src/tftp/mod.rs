//! The read-only TFTP server: [`TftpService`] on the `async-tftp` crate, answering from the
//! boot-file namespace of [`crate::bootfiles::BootFiles`].
//!
//! Options served: `blksize` (8..=65464, RFC 2348), `tsize` and `timeout` (RFC 2349) and
//! `windowsize` (RFC 7440) — all four are implemented by async-tftp 0.4 (see
//! docs/adr/0002-tftp.md for the measurements). Write requests are refused with an
//! "access violation" error and counted. File data is read from the CAS in verified
//! steps on the blocking pool ([`BootReader`]); a corrupt blob ends the transfer with a
//! TFTP error, is quarantined and counted, and its bytes are never sent. async-tftp
//! answers from the address its socket is bound to, so bind the exact boot address (or
//! run inside the VIP namespace). Transfers use octet semantics whatever the requested
//! mode (netascii is not translated; boot files are binary).

mod error;
mod handler;
mod reader;
mod service;

pub use error::TftpError;
pub use reader::BootReader;
pub use service::{TftpOptions, TftpService};
