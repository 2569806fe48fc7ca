//! The read-only TFTP server: [`TftpService`] with its own transfer engine, answering from
//! the boot-file namespace of [`crate::bootfiles::BootFiles`], and transfer takeover.
//!
//! Layers: [`packet`] (wire format, pure), `negotiate` (RFC 2347 options: `blksize`,
//! `tsize`, `timeout`, `windowsize`; pure), [`Transfer`] (one transfer's state machine:
//! OACK, lock-step and RFC 7440 windows, retransmits, rollover, resume-at-block; pure),
//! `session` (the blocking I/O loop of one transfer, a thread each) and [`TftpService`]
//! (the listening loop; malformed requests are counted and dropped, write requests
//! refused with an "access violation" error and counted). File data is read from the
//! CAS in verified steps ([`BlockSource`]); a corrupt blob ends the transfer with a TFTP
//! error, is quarantined and counted, and its bytes are never sent. Transfer sockets
//! are bound to the listening socket's address, so replies leave from the address the
//! request was sent to when the service is bound to an exact address (or runs inside
//! the VIP namespace). Transfers use octet semantics whatever the requested mode.
//!
//! Takeover: the service reports each transfer as a [`TransferRecord`] to a
//! [`TransferObserver`] (start, every [`PROGRESS_EVERY`] blocks, end); peers keep them in
//! a [`TransferRegistry`]; the node that claims the VIP calls [`TftpService::resume`]
//! with a socket bound to the record's server port on the VIP. See docs/adr/0003-tftp-engine.md.

mod error;
mod negotiate;
mod notice;
pub mod packet;
mod reader;
mod record;
mod registry;
mod resume;
mod service;
mod session;
mod transfer;

pub use error::TftpError;
pub use negotiate::{negotiate, Limits, Negotiated};
pub use notice::{decode_notices, encode_notices, NoticeError, TransferNotice, MAX_BATCH};
pub use reader::{BlockSource, SourceError};
pub use record::{Content, TransferObserver, TransferRecord, PROGRESS_EVERY};
pub use registry::{TransferRegistry, RECORD_TTL};
pub use service::{TftpOptions, TftpService, MAX_TRANSFERS};
pub use transfer::{wire, Action, Params, Transfer};
