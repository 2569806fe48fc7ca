//! [`TftpService::resume`]: carry on a transfer another node started (transfer takeover),
//! from the [`TransferRecord`] it announced, on a socket bound to its server port.

use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::bootcfg::{Target, Transport};
use crate::bootfiles::ServeStats;
use crate::cas::Digest;

use super::error::TftpError;
use super::reader::BlockSource;
use super::record::{Content, TransferRecord};
use super::service::{Slot, TftpService, MAX_TRANSFERS};
use super::transfer::{Action, Params, Transfer};

impl TftpService {
    /// Take over a transfer another node started: `socket` is bound to the server port
    /// the client keeps sending to (on the VIP). A thread waits up to
    /// [`TftpOptions::resume_wait`] for the client's retransmitted ACK and continues from
    /// the block after it. Blob content is read by digest (the same bytes on every
    /// replica); a generated file is generated again and taken over only if it is
    /// byte-identical. Returns once the thread runs.
    pub fn resume(
        &self,
        record: TransferRecord,
        socket: UdpSocket,
        cancel: CancellationToken,
    ) -> Result<(), TftpError> {
        socket.connect(record.client).map_err(TftpError::Socket)?;
        if self.active.fetch_add(1, Ordering::Relaxed) >= MAX_TRANSFERS {
            self.active.fetch_sub(1, Ordering::Relaxed);
            return Err(TftpError::Busy);
        }
        let slot = Slot(Arc::clone(&self.active));
        let me = self.clone();
        std::thread::Builder::new()
            .name("raftboot-tftp-resume".into())
            .spawn(move || {
                let _slot = slot;
                me.resume_transfer(record, socket, cancel);
            })
            .map_err(TftpError::Thread)?;
        Ok(())
    }

    fn resume_transfer(
        &self,
        record: TransferRecord,
        socket: UdpSocket,
        cancel: CancellationToken,
    ) {
        let source = match record.content {
            Content::Blob(d) => BlockSource::blob(Arc::clone(&self.files), d, record.size),
            Content::Generated(d) => {
                match self
                    .files
                    .resolve(&record.path, Transport::Tftp, record.client.ip())
                {
                    Ok(r) => match r.target {
                        Target::Generated(t) if Digest::of(t.as_bytes()) == d => {
                            BlockSource::text(t.into_bytes())
                        }
                        _ => {
                            ServeStats::bump(&self.stats.other_errors);
                            tracing::warn!(client = %record.client, path = %record.path, "TFTP takeover refused: the file generated here differs");
                            return;
                        }
                    },
                    Err(e) => {
                        self.stats.count_resolve_error(&e);
                        return;
                    }
                }
            }
        };
        let params = Params {
            size: record.size,
            blksize: record.blksize,
            windowsize: record.windowsize,
            max_retries: self.options.max_send_retries,
        };
        let transfer = Transfer::resume(params, record.acked);
        let timeout = Duration::from_millis(u64::from(record.timeout_ms.max(1)));
        tracing::info!(client = %record.client, port = record.server_port, path = %record.path, acked = record.acked, "TFTP transfer taken over");
        ServeStats::bump(&self.stats.resumed);
        self.session(
            socket,
            transfer,
            source,
            Vec::new(),
            timeout,
            record,
            cancel,
        )
        .run(Action::Wait);
    }
}
