//! The read-only NFSv3 server every replica runs, with identical file handles everywhere.
//!
//! What it owns: the ONC-RPC transport (TCP record marking and UDP), the NFS v3 program
//! (read-only: every write operation is NFS3ERR_ROFS), the MOUNT v3 program, a small
//! portmapper (100000 v2) for clients such as klibc's `nfsmount` that always ask it, and
//! the view of the replicated state as exports: `/images/<name>` and `/groups/<group>`
//! (the group's active image at mount time).
//!
//! File handles and fileids are derived only from replicated data — the image's sequence
//! number from Raft and the entry's index in its manifest ([`FileHandle`]) — so a handle
//! issued by one replica is valid on every other and after restarts. All attributes come
//! from the manifest; every byte read is verified against its blob's chunk digests, and
//! corrupt data is an NFS3ERR_IO, never returned.
//!
//! Why this is written here instead of on the `nfsserve` crate (or its fork `nfs3_server`):
//! see `docs/adr/0001-nfs-server-crate.md`.
//!
//! Modules: `xdr` (bounded XDR reader/writer), `rpc` (RPC headers, record marking),
//! `portmap`, `mount`, `nfs3` + `readdir` (the NFS program), `attrs` (fattr3), `handle`,
//! `status` (nfsstat3), `image_fs` (state + manifests + blobs), `dispatch` (message ->
//! reply), `server` (listeners, UDP), `connection` (one TCP connection on its thread),
//! `counters`, `error`.

mod attrs;
pub mod client;
mod connection;
mod counters;
mod dispatch;
mod error;
mod handle;
mod image_fs;
pub mod mount;
mod mount_observer;
pub mod nfs3;
pub mod portmap;
mod readdir;
pub mod rpc;
mod server;
pub mod status;
pub mod xdr;

#[cfg(test)]
mod tests;

pub use attrs::{decode_post_op_attr, ftype, Fattr3, FATTR3_LEN};
pub use connection::MAX_CONNECTIONS;
pub use counters::NfsCounters;
pub use dispatch::Dispatcher;
pub use error::NfsError;
pub use handle::{fileid, FileHandle, HandleError, HANDLE_LEN};
pub use image_fs::{FsError, ImageFs, Node};
pub use mount_observer::MountObserver;
pub use server::{BoundNfsService, NfsService, MAX_IN_FLIGHT};
