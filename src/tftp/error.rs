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
    /// The listening socket failed.
    #[error("TFTP socket: {0}")]
    Socket(#[source] std::io::Error),
    /// The server thread could not be started.
    #[error("starting the TFTP thread: {0}")]
    Thread(#[source] std::io::Error),
    /// Too many transfers are running.
    #[error("too many TFTP transfers running")]
    Busy,
}
