//! [`TransferNotice`]: what a node tells its peers about its running transfers (start and
//! progress as the record, end as the key), and the batch codec used on the peer network.
//! Bad input decodes to an error, never a panic.

use std::net::SocketAddr;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::record::TransferRecord;
use super::registry::TransferRegistry;

/// Most notices in one batch.
pub const MAX_BATCH: usize = 512;

/// One change to a peer's view of this node's transfers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferNotice {
    /// Started or progressed.
    Running(TransferRecord),
    /// Ended (completed or failed): nothing to take over.
    Ended {
        /// The client's address and port.
        client: SocketAddr,
        /// The server's transfer port.
        server_port: u16,
    },
}

/// Why a batch of notices was refused.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    /// It did not decode.
    #[error("malformed transfer notices: {0}")]
    Codec(#[from] raftboot_raft::codec::CodecError),
    /// Too many notices.
    #[error("{0} notices exceed the batch limit")]
    TooMany(usize),
}

/// Encode a batch.
pub fn encode_notices(notices: &[TransferNotice]) -> Result<Vec<u8>, NoticeError> {
    Ok(raftboot_raft::codec::encode(notices)?)
}

/// Decode a batch.
pub fn decode_notices(body: &[u8]) -> Result<Vec<TransferNotice>, NoticeError> {
    let v: Vec<TransferNotice> = raftboot_raft::codec::decode(body)?;
    if v.len() > MAX_BATCH {
        return Err(NoticeError::TooMany(v.len()));
    }
    Ok(v)
}

impl TransferRegistry {
    /// Apply a batch of notices from a peer.
    pub fn apply(&self, notices: Vec<TransferNotice>, now: Instant) {
        for n in notices {
            match n {
                TransferNotice::Running(r) => {
                    self.note(r, now);
                }
                TransferNotice::Ended {
                    client,
                    server_port,
                } => self.remove((client, server_port)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::cas::Digest;
    use crate::tftp::record::Content;
    use proptest::prelude::*;

    #[test]
    fn roundtrip_and_apply() {
        let r = TransferRecord {
            client: "10.0.0.100:3000".parse().unwrap(),
            server_port: 40000,
            path: "images/deb/vmlinuz".into(),
            content: Content::Blob(Digest::of(b"k")),
            size: 8 << 20,
            blksize: 1408,
            windowsize: 1,
            timeout_ms: 1000,
            acked: 17,
        };
        let batch = vec![
            TransferNotice::Running(r.clone()),
            TransferNotice::Ended {
                client: r.client,
                server_port: 1,
            },
        ];
        let got = decode_notices(&encode_notices(&batch).unwrap()).unwrap();
        assert_eq!(got, batch);
        let reg = TransferRegistry::new();
        reg.apply(got, Instant::now());
        assert_eq!(reg.take_live(Instant::now()), vec![r.clone()]);
        reg.apply(
            vec![
                TransferNotice::Running(r.clone()),
                TransferNotice::Ended {
                    client: r.client,
                    server_port: r.server_port,
                },
            ],
            Instant::now(),
        );
        assert!(reg.is_empty());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode_notices(&b);
        }
    }
}
