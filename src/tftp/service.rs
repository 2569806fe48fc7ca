//! [`TftpService`]: binds (or takes) a UDP socket and runs async-tftp with the read-only
//! handler until cancelled.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use async_tftp::server::TftpServerBuilder;
use tokio_util::sync::CancellationToken;

use crate::bootfiles::{BootFiles, ServeStats};

use super::error::TftpError;
use super::handler::RoHandler;

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
}

impl Default for TftpOptions {
    fn default() -> Self {
        TftpOptions {
            timeout: Duration::from_secs(1),
            max_send_retries: 5,
            block_size_limit: None,
            window_size_limit: Some(64),
        }
    }
}

/// The read-only TFTP server of a node.
pub struct TftpService {
    files: Arc<BootFiles>,
    stats: Arc<ServeStats>,
    options: TftpOptions,
    private_namespace: bool,
}

impl TftpService {
    /// A service answering from `files`, with default options.
    pub fn new(files: Arc<BootFiles>) -> TftpService {
        TftpService {
            files,
            stats: Arc::new(ServeStats::default()),
            options: TftpOptions::default(),
            private_namespace: false,
        }
    }

    /// Count into `stats` (shared with another instance of the service).
    pub fn with_stats(mut self, stats: Arc<ServeStats>) -> TftpService {
        self.stats = stats;
        self
    }

    /// The socket lives in a network namespace whose only address is the boot address
    /// (the VIP namespace): a wildcard bind there answers from that address, so it is
    /// not worth a warning.
    pub fn in_private_namespace(mut self) -> TftpService {
        self.private_namespace = true;
        self
    }

    /// Replace the transfer options.
    pub fn with_options(mut self, options: TftpOptions) -> TftpService {
        self.options = options;
        self
    }

    /// The counters (for the metrics exporter).
    pub fn stats(&self) -> Arc<ServeStats> {
        Arc::clone(&self.stats)
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

    /// Serve on an already bound socket until `cancel` fires (in-flight transfers are
    /// dropped then). The transfers' own sockets are created on a thread started from the
    /// calling thread, so they are in the calling thread's network namespace (on the VIP
    /// runtime: the VIP namespace).
    pub async fn serve_socket(
        self,
        socket: UdpSocket,
        cancel: CancellationToken,
    ) -> Result<(), TftpError> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| TftpError::NoRuntime)?;
        let local = socket.local_addr().ok();
        if !self.private_namespace && local.is_some_and(|a| a.ip().is_unspecified()) {
            tracing::warn!(
                addr = ?local,
                "TFTP bound to a wildcard address: replies leave from whatever address the kernel picks"
            );
        }
        let handler = RoHandler {
            files: self.files,
            stats: self.stats,
            rt: rt.clone(),
        };
        let o = self.options;
        let mut b = TftpServerBuilder::with_handler(handler)
            .std_socket(socket)?
            .timeout(o.timeout)
            .max_send_retries(o.max_send_retries);
        if let Some(l) = o.block_size_limit {
            b = b.block_size_limit(l);
        }
        if let Some(l) = o.window_size_limit {
            b = b.window_size_limit(l);
        }
        let server = b.build().await?;
        tracing::info!(addr = ?local, "TFTP service started");
        // async-tftp's sockets are async-io sources: driving them from a thread of their
        // own with `async_io::block_on` lets that thread poll the reactor itself, instead
        // of a hand-off from async-io's reactor thread to a tokio worker for every ACK.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let stop = cancel.clone();
        std::thread::Builder::new()
            .name("raftboot-tftp".into())
            .spawn(move || {
                // The handler hands blocking work to this runtime's pool.
                let _runtime = rt.enter();
                let serve = std::pin::pin!(server.serve());
                let stopped = std::pin::pin!(stop.cancelled());
                let r = async_io::block_on(futures::future::select(serve, stopped));
                let _ = tx.send(match r {
                    futures::future::Either::Left((r, _)) => r.map_err(TftpError::from),
                    futures::future::Either::Right(((), _)) => Ok(()),
                });
            })
            .map_err(TftpError::Thread)?;
        let r = rx.await.unwrap_or(Ok(()));
        tracing::info!("TFTP service stopped");
        r
    }
}
