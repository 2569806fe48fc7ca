//! [`TftpService`]: the listening loop (a thread of its own) that decodes requests,
//! refuses writes and bad input (counted), and starts one [`Session`] thread per read
//! transfer. Takeover (`TftpService::resume`) is in `resume.rs`.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::bootcfg::{ResolveError, Target, Transport};
use crate::bootfiles::{BootFiles, ServeStats};
use crate::cas::Digest;

use super::error::TftpError;
use super::negotiate::{negotiate, Limits};
use super::packet::{self, ErrorCode, Kind, Request, MAX_REQUEST};
use super::reader::BlockSource;
use super::record::{Content, TransferObserver, TransferRecord, PROGRESS_EVERY};
use super::session::Session;
use super::transfer::{Params, Transfer};

/// Most transfers running at once (each is a thread); more get a "busy" error.
pub const MAX_TRANSFERS: usize = 512;

/// Transfer parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TftpOptions {
    /// Retransmit timeout when the client asks for none (default 1 s, like tftpd-hpa).
    pub timeout: Duration,
    /// Retransmissions of one block (or window) before the transfer is dropped
    /// (default 5).
    pub max_send_retries: u32,
    /// Upper bound on the negotiated `blksize` (default none: up to 65464).
    pub block_size_limit: Option<u16>,
    /// Upper bound on the negotiated `windowsize` (default 64).
    pub window_size_limit: Option<u16>,
    /// How long a taken-over transfer waits for the client's retransmitted ACK
    /// (default 120 s: pxelinux re-sends for about two minutes).
    pub resume_wait: Duration,
    /// Blocks between progress reports to the observer (default [`PROGRESS_EVERY`]).
    pub progress_every: u64,
}

impl Default for TftpOptions {
    fn default() -> Self {
        TftpOptions {
            timeout: Duration::from_secs(1),
            max_send_retries: 5,
            block_size_limit: None,
            window_size_limit: Some(64),
            resume_wait: Duration::from_secs(120),
            progress_every: PROGRESS_EVERY,
        }
    }
}

/// The read-only TFTP server of a node. Cheap to clone (clones share counters).
#[derive(Clone)]
pub struct TftpService {
    pub(super) files: Arc<BootFiles>,
    pub(super) stats: Arc<ServeStats>,
    pub(super) options: TftpOptions,
    pub(super) observer: Option<Arc<dyn TransferObserver>>,
    pub(super) active: Arc<AtomicUsize>,
}

/// Decrements the running-transfer count when a transfer thread ends.
pub(super) struct Slot(pub(super) Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl TftpService {
    /// A service answering from `files`, with default options.
    pub fn new(files: Arc<BootFiles>) -> TftpService {
        TftpService {
            files,
            stats: Arc::new(ServeStats::default()),
            options: TftpOptions::default(),
            observer: None,
            active: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Replace the transfer options.
    pub fn with_options(mut self, options: TftpOptions) -> TftpService {
        self.options = options;
        self
    }

    /// Report transfers (start, progress, end) to `observer` (for takeover by peers).
    pub fn with_observer(mut self, observer: Arc<dyn TransferObserver>) -> TftpService {
        self.observer = Some(observer);
        self
    }

    /// The counters (for the metrics exporter).
    pub fn stats(&self) -> Arc<ServeStats> {
        Arc::clone(&self.stats)
    }

    /// Transfers running now.
    pub fn active_transfers(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Bind the UDP socket to exactly `addr` (replies leave from its address).
    pub fn bind(addr: SocketAddr) -> Result<UdpSocket, TftpError> {
        UdpSocket::bind(addr).map_err(|source| TftpError::Bind { addr, source })
    }

    /// Bind `addr` and serve until `cancel` fires.
    pub async fn serve(self, addr: SocketAddr, cancel: CancellationToken) -> Result<(), TftpError> {
        let socket = Self::bind(addr)?;
        self.serve_socket(socket, cancel).await
    }

    /// Serve on an already bound socket until `cancel` fires (transfers in flight stop
    /// within half a second). The threads are created from the calling thread, so they
    /// inherit its network namespace.
    pub async fn serve_socket(
        self,
        socket: UdpSocket,
        cancel: CancellationToken,
    ) -> Result<(), TftpError> {
        let local = socket.local_addr().map_err(TftpError::Socket)?;
        if local.ip().is_unspecified() {
            tracing::warn!(
                addr = %local,
                "TFTP bound to a wildcard address: replies leave from whatever address the kernel picks"
            );
        }
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(TftpError::Socket)?;
        tracing::info!(addr = %local, "TFTP service started");
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("raftboot-tftp".into())
            .spawn(move || {
                let _ = tx.send(self.listen(&socket, local.ip(), &cancel));
            })
            .map_err(TftpError::Thread)?;
        let r = rx.await.unwrap_or(Ok(()));
        tracing::info!("TFTP service stopped");
        r
    }

    fn listen(
        &self,
        socket: &UdpSocket,
        local: IpAddr,
        cancel: &CancellationToken,
    ) -> Result<(), TftpError> {
        let mut buf = [0u8; MAX_REQUEST + 1];
        while !cancel.is_cancelled() {
            let (n, peer) = match socket.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                            | std::io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(TftpError::Socket(e)),
            };
            self.on_datagram(socket, &buf[..n], peer, local, cancel);
        }
        Ok(())
    }

    fn on_datagram(
        &self,
        socket: &UdpSocket,
        bytes: &[u8],
        peer: SocketAddr,
        local: IpAddr,
        cancel: &CancellationToken,
    ) {
        let req = match Request::decode(bytes) {
            Ok(r) => r,
            Err(e) => {
                ServeStats::bump(&self.stats.malformed);
                tracing::debug!(%peer, error = %e, "malformed TFTP request dropped");
                return;
            }
        };
        ServeStats::bump(&self.stats.requests);
        if req.kind == Kind::Write {
            ServeStats::bump(&self.stats.write_refused);
            tracing::info!(%peer, path = %req.path, "TFTP write refused (read-only server)");
            let _ = socket.send_to(
                &packet::error(
                    ErrorCode::AccessViolation,
                    "Access violation (read-only server)",
                ),
                peer,
            );
            return;
        }
        if self.active.fetch_add(1, Ordering::Relaxed) >= MAX_TRANSFERS {
            self.active.fetch_sub(1, Ordering::Relaxed);
            ServeStats::bump(&self.stats.other_errors);
            let _ = socket.send_to(&packet::error(ErrorCode::Undefined, "server busy"), peer);
            return;
        }
        let slot = Slot(Arc::clone(&self.active));
        let me = self.clone();
        let cancel = cancel.clone();
        let spawned = std::thread::Builder::new()
            .name("raftboot-tftp-xfer".into())
            .spawn(move || {
                let _slot = slot;
                me.read_transfer(req, peer, local, cancel);
            });
        if let Err(e) = spawned {
            ServeStats::bump(&self.stats.other_errors);
            tracing::warn!(error = %e, "could not start a TFTP transfer thread");
        }
    }

    /// Resolve and serve one read request (on its own thread).
    fn read_transfer(
        &self,
        req: Request,
        peer: SocketAddr,
        local: IpAddr,
        cancel: CancellationToken,
    ) {
        let socket = match UdpSocket::bind((local, 0)).and_then(|s| s.connect(peer).map(|()| s)) {
            Ok(s) => s,
            Err(e) => {
                ServeStats::bump(&self.stats.other_errors);
                tracing::warn!(%peer, error = %e, "TFTP transfer socket");
                return;
            }
        };
        let res = match self.files.resolve(&req.path, Transport::Tftp, peer.ip()) {
            Ok(r) => r,
            Err(e) => {
                self.stats.count_resolve_error(&e);
                tracing::debug!(%peer, path = %req.path, error = %e, "TFTP read refused");
                let pkt = match &e {
                    ResolveError::BadPath(_) => {
                        packet::error(ErrorCode::AccessViolation, "Access violation")
                    }
                    ResolveError::NotFound(_) => {
                        packet::error(ErrorCode::FileNotFound, "File not found")
                    }
                    ResolveError::Unavailable { .. } => {
                        packet::error(ErrorCode::Undefined, &e.to_string())
                    }
                };
                let _ = socket.send(&pkt);
                return;
            }
        };
        tracing::debug!(%peer, path = %req.path, stage = res.stage.as_str(), "TFTP read");
        let (content, source) = match res.target {
            Target::Generated(text) => (
                Content::Generated(Digest::of(text.as_bytes())),
                BlockSource::text(text.into_bytes()),
            ),
            Target::Blob { digest, size } => (
                Content::Blob(digest),
                BlockSource::blob(Arc::clone(&self.files), digest, size),
            ),
        };
        let limits = Limits {
            timeout: self.options.timeout,
            block_size_limit: self.options.block_size_limit,
            window_size_limit: self.options.window_size_limit,
        };
        let n = negotiate(&req.options, source.size(), &limits);
        let params = Params {
            size: source.size(),
            blksize: n.blksize,
            windowsize: n.windowsize,
            max_retries: self.options.max_send_retries,
        };
        let (transfer, first) = Transfer::start(params, !n.oack.is_empty());
        let record = TransferRecord {
            client: peer,
            server_port: socket.local_addr().map_or(0, |a| a.port()),
            path: req.path,
            content,
            size: source.size(),
            blksize: n.blksize,
            windowsize: n.windowsize,
            timeout_ms: u32::try_from(n.timeout.as_millis()).unwrap_or(u32::MAX),
            acked: 0,
        };
        self.session(
            socket,
            transfer,
            source,
            packet::oack(&n.oack),
            n.timeout,
            record,
            cancel,
        )
        .run(first);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn session(
        &self,
        socket: UdpSocket,
        transfer: Transfer,
        source: BlockSource,
        oack: Vec<u8>,
        timeout: Duration,
        record: TransferRecord,
        cancel: CancellationToken,
    ) -> Session {
        Session {
            socket,
            transfer,
            source,
            oack,
            timeout,
            resume_wait: self.options.resume_wait,
            progress_every: self.options.progress_every.max(1),
            cancel,
            stats: Arc::clone(&self.stats),
            observer: self.observer.clone(),
            record,
        }
    }
}
