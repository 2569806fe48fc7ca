//! [`TftpError`]: why the TFTP service could not start or stopped.

use std::net::SocketAddr;

/// A TFTP service failure.
#[derive(Debug, thiserror::Error)]
pub enum TftpError {
    /// The UDP socket could not be bound.
    #[error("binding TFTP socket {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// async-tftp failed (socket error while serving, or at set-up).
    #[error("TFTP server: {0}")]
    Server(#[from] async_tftp::Error),
    /// The server thread could not be started.
    #[error("starting the TFTP thread: {0}")]
    Thread(#[source] std::io::Error),
    /// Not called from inside a tokio runtime.
    #[error("the TFTP service must run inside a tokio runtime")]
    NoRuntime,
}
