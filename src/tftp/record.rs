//! [`TransferRecord`]: what a peer needs to take over one running transfer — client and
//! server port, the content's digest and size, the negotiated options and the progress —
//! and [`TransferObserver`], through which the service reports transfers as they start,
//! progress and end. Pure data (serde, so it can travel to peers).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::cas::Digest;

/// Where the bytes of a transfer come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Content {
    /// A stored blob (the same bytes on every replica).
    Blob(Digest),
    /// A generated text (a pxelinux config, an iPXE script): taken over only if the
    /// new server generates the same text (same BLAKE3 digest).
    Generated(Digest),
}

/// One running read transfer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TransferRecord {
    /// The client's address and port (its transfer ID).
    pub client: SocketAddr,
    /// The server's transfer port (the client keeps sending to it).
    pub server_port: u16,
    /// The requested path (to re-generate a generated file).
    pub path: String,
    /// What is sent.
    pub content: Content,
    /// Bytes.
    pub size: u64,
    /// Negotiated block size.
    pub blksize: u16,
    /// Negotiated window size.
    pub windowsize: u16,
    /// Negotiated retransmit timeout, milliseconds.
    pub timeout_ms: u32,
    /// Last block the client acknowledged when this was reported (absolute number).
    pub acked: u64,
}

impl TransferRecord {
    /// The key a transfer is known by: client and server port.
    pub fn key(&self) -> (SocketAddr, u16) {
        (self.client, self.server_port)
    }
}

/// Told about transfers as they run (the node forwards these to its peers). Calls come
/// from transfer threads and must not block.
pub trait TransferObserver: Send + Sync {
    /// A transfer started (sent after the first packet went out).
    fn started(&self, record: &TransferRecord);
    /// A transfer progressed (every `TftpOptions::progress_every` blocks).
    fn progress(&self, record: &TransferRecord);
    /// A transfer ended (completed, failed or given up).
    fn ended(&self, record: &TransferRecord);
}

/// Default blocks between progress reports (the hint that places a 16-bit block
/// number past a rollover; must stay well under 32768).
pub const PROGRESS_EVERY: u64 = 8192;
