//! [`NfsService`]: the socket loops. NFS v3 and MOUNT v3 share one port over TCP and UDP;
//! the portmapper listens on its own port over TCP and UDP. Each accepted TCP connection is
//! served on a thread of its own ([`Connection`]: calls answered in order, at most
//! [`MAX_CONNECTIONS`](super::MAX_CONNECTIONS) at once); UDP calls are answered up to
//! [`MAX_IN_FLIGHT`] at a time on blocking threads (blob reads touch the disk) and replies go
//! out in completion order (RPC matches them by xid). An oversized record closes the connection; a malformed message is a
//! counted drop. One cancellation token stops everything.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use raftboot_raft::SharedState;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::mount_observer::MountObserver;
use crate::cas::BlobStore;

use super::connection::{Connection, Role};
use super::counters::NfsCounters;
use super::dispatch::Dispatcher;
use super::error::NfsError;
use super::image_fs::ImageFs;
use super::nfs3::READ_MAX;
use super::portmap::PortmapTable;

/// Calls answered concurrently per UDP socket.
pub const MAX_IN_FLIGHT: usize = 32;
/// Largest reply over TCP.
const TCP_MAX_REPLY: usize = READ_MAX as usize + 4096;
/// Largest reply over UDP (one datagram).
const UDP_MAX_REPLY: usize = 65_000;

/// The read-only NFS service of one replica: images and groups of the replicated state,
/// content from the local blob store.
pub struct NfsService {
    state: SharedState,
    store: Arc<BlobStore>,
    counters: Arc<NfsCounters>,
    observer: Option<Arc<dyn MountObserver>>,
}

/// An [`NfsService`] whose sockets are bound (ports known), ready to [`run`](Self::run).
pub struct BoundNfsService {
    dispatcher: Arc<Dispatcher>,
    nfs_tcp: TcpListener,
    nfs_udp: UdpSocket,
    pm_tcp: TcpListener,
    pm_udp: UdpSocket,
    nfs_addr: SocketAddr,
    portmap_addr: SocketAddr,
}

impl NfsService {
    /// Serve the images of `state` with content from `store`.
    pub fn new(state: SharedState, store: Arc<BlobStore>) -> NfsService {
        NfsService {
            state,
            store,
            counters: Arc::new(NfsCounters::default()),
            observer: None,
        }
    }

    /// Tell `observer` of every successful mount (the node's boot tracker).
    pub fn with_mount_observer(mut self, observer: Arc<dyn MountObserver>) -> NfsService {
        self.observer = Some(observer);
        self
    }

    /// The service's counters (shared; keep a clone for the metrics exporter).
    pub fn counters(&self) -> Arc<NfsCounters> {
        Arc::clone(&self.counters)
    }

    /// Bind NFS+MOUNT on `nfs_addr` (TCP and UDP, same port) and the portmapper on
    /// `portmap_addr` (TCP and UDP, same port). Port 0 picks a free port.
    pub async fn bind(
        self,
        nfs_addr: SocketAddr,
        portmap_addr: SocketAddr,
    ) -> Result<BoundNfsService, NfsError> {
        let (nfs_tcp, nfs_udp, nfs_addr) = bind_pair("NFS", nfs_addr).await?;
        let (pm_tcp, pm_udp, portmap_addr) = bind_pair("portmapper", portmap_addr).await?;
        let table = PortmapTable::new(nfs_addr.port(), portmap_addr.port());
        let fs = ImageFs::new(self.state, self.store);
        Ok(BoundNfsService {
            dispatcher: Arc::new(
                Dispatcher::new(fs, self.counters, table).with_observer(self.observer),
            ),
            nfs_tcp,
            nfs_udp,
            pm_tcp,
            pm_udp,
            nfs_addr,
            portmap_addr,
        })
    }

    /// Bind and serve until `cancel` fires.
    pub async fn serve(
        self,
        nfs_addr: SocketAddr,
        portmap_addr: SocketAddr,
        cancel: CancellationToken,
    ) -> Result<(), NfsError> {
        self.bind(nfs_addr, portmap_addr).await?.run(cancel).await
    }
}

/// Bind a TCP listener and a UDP socket on the same address and port.
async fn bind_pair(
    what: &'static str,
    addr: SocketAddr,
) -> Result<(TcpListener, UdpSocket, SocketAddr), NfsError> {
    let mut last = None;
    for _ in 0..16 {
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|source| NfsError::Bind {
                what: if what == "NFS" {
                    "NFS TCP"
                } else {
                    "portmapper TCP"
                },
                addr,
                source,
            })?;
        let bound = tcp
            .local_addr()
            .map_err(|source| NfsError::Socket { what, source })?;
        match UdpSocket::bind(bound).await {
            Ok(udp) => return Ok((tcp, udp, bound)),
            Err(e) if addr.port() == 0 => last = Some(e), // the free TCP port is taken on UDP
            Err(source) => {
                return Err(NfsError::Bind {
                    what: if what == "NFS" {
                        "NFS UDP"
                    } else {
                        "portmapper UDP"
                    },
                    addr,
                    source,
                })
            }
        }
    }
    Err(NfsError::Bind {
        what: if what == "NFS" {
            "NFS UDP"
        } else {
            "portmapper UDP"
        },
        addr,
        source: last.unwrap_or_else(|| io::Error::other("no free port")),
    })
}

impl BoundNfsService {
    /// Where NFS and MOUNT listen.
    pub fn nfs_addr(&self) -> SocketAddr {
        self.nfs_addr
    }

    /// Where the portmapper listens.
    pub fn portmap_addr(&self) -> SocketAddr {
        self.portmap_addr
    }

    /// The service's counters.
    pub fn counters(&self) -> Arc<NfsCounters> {
        Arc::clone(self.dispatcher.counters())
    }

    /// Serve until `cancel` fires; then stop accepting and close every connection.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), NfsError> {
        tracing::info!(nfs = %self.nfs_addr, portmap = %self.portmap_addr, "NFS service listening");
        let d = &self.dispatcher;
        tokio::select! {
            r = accept_loop(&self.nfs_tcp, d, Role::Nfs, &cancel) => r,
            r = accept_loop(&self.pm_tcp, d, Role::Portmap, &cancel) => r,
            r = udp_loop(Arc::new(self.nfs_udp), d, Role::Nfs) => r,
            r = udp_loop(Arc::new(self.pm_udp), d, Role::Portmap) => r,
            () = cancel.cancelled() => Ok(()),
        }
    }
}

async fn accept_loop(
    listener: &TcpListener,
    d: &Arc<Dispatcher>,
    role: Role,
    cancel: &CancellationToken,
) -> Result<(), NfsError> {
    let live = Arc::new(AtomicUsize::new(0));
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                NfsCounters::inc(&d.counters().connections);
                let _ = stream.set_nodelay(true);
                tracing::debug!(%peer, ?role, "RPC connection accepted");
                Connection::spawn(stream, Arc::clone(d), role, TCP_MAX_REPLY, cancel, &live);
            }
            Err(e) => {
                // Out of file descriptors and the like: wait, never give up.
                tracing::warn!(error = %e, ?role, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn answer(
    d: &Dispatcher,
    role: Role,
    msg: &[u8],
    max_reply: usize,
    peer: SocketAddr,
) -> Option<Vec<u8>> {
    match role {
        Role::Nfs => d.answer_from(msg, max_reply, Some(peer.ip())),
        Role::Portmap => d.answer_portmap(msg),
    }
}

async fn udp_loop(socket: Arc<UdpSocket>, d: &Arc<Dispatcher>, role: Role) -> Result<(), NfsError> {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP errors surface here on Linux; they concern one peer, not the socket.
                tracing::debug!(error = %e, ?role, "UDP receive error");
                continue;
            }
        };
        let msg = buf[..n].to_vec();
        if role == Role::Portmap {
            if let Some(reply) = d.answer_portmap(&msg) {
                let _ = socket.send_to(&reply, peer).await;
            }
            continue;
        }
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return Ok(());
        };
        let (d, socket) = (Arc::clone(d), Arc::clone(&socket));
        tokio::spawn(async move {
            let reply =
                tokio::task::spawn_blocking(move || answer(&d, role, &msg, UDP_MAX_REPLY, peer))
                    .await;
            if let Ok(Some(reply)) = reply {
                let _ = socket.send_to(&reply, peer).await;
            }
            drop(permit);
        });
    }
}
