//! [`Session`]: the thin I/O loop of one transfer — a blocking UDP socket connected to
//! the client, one reusable send buffer, one socket timeout (changed only when a stray
//! packet shortens the wait) — driving a [`Transfer`] and reporting to the observer.

use std::io;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::bootfiles::ServeStats;

use super::packet::{self, ClientPacket, ErrorCode};
use super::reader::{BlockSource, SourceError};
use super::record::{TransferObserver, TransferRecord};
use super::transfer::{wire, Action, Transfer};

/// Longest single wait on the socket, so cancellation is noticed.
const POLL: Duration = Duration::from_millis(500);

/// How a transfer ended.
#[derive(Debug)]
#[allow(dead_code)] // the fields are read through Debug, in the log
pub(crate) enum Outcome {
    /// The client acknowledged the last block.
    Completed,
    /// The client sent an ERROR.
    ClientError(u16),
    /// No progress after the retransmits (or no takeover ACK in time).
    GaveUp,
    /// The service stopped.
    Cancelled,
    /// The socket failed.
    Io(io::Error),
    /// The content could not be read (nothing unverified was sent).
    Source(SourceError),
}

/// One running transfer.
pub(crate) struct Session {
    pub socket: UdpSocket,
    pub transfer: Transfer,
    pub source: BlockSource,
    pub oack: Vec<u8>,
    pub timeout: Duration,
    /// How long a taken-over transfer waits for the client's ACK.
    pub resume_wait: Duration,
    /// Blocks between progress reports.
    pub progress_every: u64,
    pub cancel: CancellationToken,
    pub stats: Arc<ServeStats>,
    pub observer: Option<Arc<dyn TransferObserver>>,
    pub record: TransferRecord,
}

impl Session {
    fn report(&mut self, f: fn(&dyn TransferObserver, &TransferRecord)) {
        if let Some(o) = &self.observer {
            self.record.acked = self.transfer.acked();
            f(o.as_ref(), &self.record);
        }
    }

    fn send_blocks(&mut self, buf: &mut [u8], first: u64, last: u64) -> Result<(), Outcome> {
        for b in first..=last {
            let (off, len) = self.transfer.block_range(b);
            let data = self.source.get(off, len).map_err(Outcome::Source)?;
            let n = data.len();
            buf[4..4 + n].copy_from_slice(data);
            packet::put_data_header(buf, wire(b));
            self.socket.send(&buf[..4 + n]).map_err(Outcome::Io)?;
        }
        Ok(())
    }

    /// Run until the transfer ends; `first` is the transfer's first action.
    pub fn run(mut self, first: Action) -> Outcome {
        let resuming = self.transfer.is_resuming();
        // A taken-over transfer counts from the progress its record reported.
        let start_acked = if resuming {
            self.record.acked
        } else {
            self.transfer.acked()
        };
        let outcome = self.drive(first);
        let bs = u64::from(self.transfer.params().blksize);
        let size = self.source.size();
        let acked = self.transfer.acked();
        let bytes = (acked * bs)
            .min(size)
            .saturating_sub((start_acked * bs).min(size));
        self.stats
            .bytes
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        match &outcome {
            Outcome::Completed => ServeStats::bump(&self.stats.completed),
            Outcome::Source(SourceError::Cas(e)) if e.is_corruption() => {
                ServeStats::bump(&self.stats.corrupt)
            }
            _ => ServeStats::bump(&self.stats.other_errors),
        }
        if let Outcome::Source(e) = &outcome {
            let _ = self
                .socket
                .send(&packet::error(ErrorCode::Undefined, &e.to_string()));
        }
        tracing::debug!(client = %self.record.client, path = %self.record.path, resumed = resuming, ?outcome, acked, "TFTP transfer ended");
        self.report(|o, r| o.ended(r));
        outcome
    }

    fn drive(&mut self, first: Action) -> Outcome {
        let blksize = usize::from(self.transfer.params().blksize);
        let mut sendbuf = vec![0u8; 4 + blksize];
        let mut recvbuf = [0u8; 64];
        let mut action = first;
        let mut deadline = Instant::now() + self.resume_wait;
        let mut sock_timeout = Duration::ZERO;
        let mut reported = false;
        let mut last_progress = self.transfer.acked() / self.progress_every;
        loop {
            match action {
                Action::Done => return Outcome::Completed,
                Action::GiveUp => return Outcome::GaveUp,
                Action::Wait => {}
                Action::SendOack => {
                    if let Err(e) = self.socket.send(&self.oack) {
                        return Outcome::Io(e);
                    }
                    deadline = Instant::now() + self.timeout;
                }
                Action::SendBlocks { first, last } => {
                    if let Err(o) = self.send_blocks(&mut sendbuf, first, last) {
                        return o;
                    }
                    deadline = Instant::now() + self.timeout;
                }
            }
            if !reported && !self.transfer.is_resuming() {
                reported = true;
                self.report(|o, r| o.started(r));
            }
            let p = self.transfer.acked() / self.progress_every;
            if p != last_progress {
                last_progress = p;
                self.report(|o, r| o.progress(r));
            }
            if self.cancel.is_cancelled() {
                return Outcome::Cancelled;
            }
            let now = Instant::now();
            let wait = deadline.saturating_duration_since(now).min(POLL);
            if wait.is_zero() {
                action = self.expired();
                continue;
            }
            if wait != sock_timeout {
                if let Err(e) = self.socket.set_read_timeout(Some(wait)) {
                    return Outcome::Io(e);
                }
                sock_timeout = wait;
            }
            action = match self.socket.recv(&mut recvbuf) {
                Ok(n) => match ClientPacket::decode(&recvbuf[..n]) {
                    ClientPacket::Ack(w) => self.transfer.on_ack(w),
                    ClientPacket::Error(code) => return Outcome::ClientError(code),
                    ClientPacket::Other => Action::Wait,
                },
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    if Instant::now() >= deadline {
                        self.expired()
                    } else {
                        Action::Wait
                    }
                }
                // An ICMP error from before the takeover: keep waiting for the client.
                Err(_) if self.transfer.is_resuming() => Action::Wait,
                Err(e) => return Outcome::Io(e),
            };
        }
    }

    fn expired(&mut self) -> Action {
        if self.transfer.is_resuming() {
            Action::GiveUp
        } else {
            self.transfer.on_timeout()
        }
    }
}
