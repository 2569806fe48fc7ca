//! [`NfsError`]: why the NFS service could not start or stopped.

use std::io;
use std::net::SocketAddr;

/// A failure of the NFS service's sockets (per-request failures are NFS status codes and
/// counters, never this).
#[derive(Debug, thiserror::Error)]
pub enum NfsError {
    /// A listening socket could not be bound.
    #[error("cannot bind the {what} socket on {addr}: {source}")]
    Bind {
        /// Which socket ("NFS TCP", "portmapper UDP", ...).
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The bind error.
        #[source]
        source: io::Error,
    },
    /// A bound socket failed in a way the service cannot continue from.
    #[error("{what} socket: {source}")]
    Socket {
        /// Which socket.
        what: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
}
