//! [`DhcpServer`]: the thin socket loop. One UDP socket on `services.bind:dhcp_port`
//! (SO_BROADCAST; SO_BINDTODEVICE when `[dhcp] interface` is set), and in proxy mode a
//! second one on `services.bind:proxy_port` (4011); each datagram is
//! handled on its own task (bounded: past [`MAX_IN_FLIGHT`] requests, new ones are
//! dropped and counted) so a slow Raft commit never blocks the next client. Cancelling
//! the token stops the loop and aborts requests in flight.

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;

use raftboot_raft::Raft;
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::backend::LeaseBackend;
use super::error::DhcpError;
use super::handler::{AnswerGate, Handler};
use super::proxy::Port;
use super::settings::DhcpSettings;
use super::stats::DhcpStats;

/// Requests handled at once; more are dropped (the client retransmits).
pub const MAX_IN_FLIGHT: usize = 1024;
/// Receive buffer: larger than any request, so oversized datagrams are seen whole
/// (and refused) instead of silently truncated.
const RECV_BUF: usize = 65_536;

/// The answer gate of a node whose Raft leader answers: this node leads and has applied
/// an entry of its own term (so its view of the lease table is complete).
pub fn leader_gate(raft: Raft) -> AnswerGate {
    Arc::new(move || {
        let m = raft.metrics();
        let m = m.borrow();
        m.current_leader == Some(m.id)
            && m.last_applied
                .is_some_and(|l| l.leader_id.term == m.current_term)
    })
}

/// The answer gate of a node with a VIP: only the node whose VIP controller currently
/// holds the VIP answers (the controller clears its flag before it removes the address, so a
/// yielding or cut-off leader falls silent first), and only once it has applied an entry of
/// its own term (a complete lease table).
pub fn vip_gate(raft: Raft, vip: Arc<crate::vip::controller::VipStats>) -> AnswerGate {
    Arc::new(move || {
        if !vip.is_held() {
            return false;
        }
        let m = raft.metrics();
        let m = m.borrow();
        m.current_leader == Some(m.id)
            && m.last_applied
                .is_some_and(|l| l.leader_id.term == m.current_term)
    })
}

/// One node's DHCP server.
pub struct DhcpServer {
    handler: Arc<Handler>,
}

impl DhcpServer {
    /// A server answering with `settings`, reading and committing through `backend`,
    /// answering only while `gate` says so, counting into `stats`.
    pub fn new(
        settings: DhcpSettings,
        backend: Arc<dyn LeaseBackend>,
        gate: AnswerGate,
        stats: Arc<DhcpStats>,
    ) -> Self {
        DhcpServer {
            handler: Arc::new(Handler {
                settings: Arc::new(settings),
                backend,
                gate,
                stats,
                offers: Arc::default(),
                tracker: None,
            }),
        }
    }

    /// Note every OFFER and ACK in `tracker` (the node's boot tracker, for `bootctl boots`).
    pub fn with_tracker(mut self, tracker: Arc<crate::bootfiles::BootTracker>) -> Self {
        if let Some(h) = Arc::get_mut(&mut self.handler) {
            h.tracker = Some(tracker);
        }
        self
    }

    /// The counters this server updates.
    pub fn stats(&self) -> Arc<DhcpStats> {
        self.handler.stats.clone()
    }

    /// Open the sockets: the DHCP port and, in proxy mode, the PXE boot-server port;
    /// bound, broadcast-capable, on the configured interface.
    pub fn bind(&self) -> Result<DhcpSockets, DhcpError> {
        let s = &self.handler.settings;
        Ok(DhcpSockets {
            dhcp: bind_one(s.bind, s.interface.as_deref())?,
            pxe: match s.pxe_bind {
                Some(addr) => Some(bind_one(addr, s.interface.as_deref())?),
                None => None,
            },
        })
    }

    /// Bind and serve until `cancel` fires.
    pub async fn serve(self, cancel: CancellationToken) -> Result<(), DhcpError> {
        let socks = self.bind()?;
        self.serve_on(socks, cancel).await
    }

    /// Serve on already bound sockets until `cancel` fires.
    pub async fn serve_on(
        self,
        socks: impl Into<DhcpSockets>,
        cancel: CancellationToken,
    ) -> Result<(), DhcpError> {
        let socks = socks.into();
        let s = &self.handler.settings;
        tracing::info!(
            node = %s.node,
            addr = %socks.dhcp.local_addr()?,
            pxe = ?socks.pxe.as_ref().and_then(|p| p.local_addr().ok()),
            mode = s.mode.as_str(),
            server = %s.server_addr,
            interface = s.interface.as_deref().unwrap_or("-"),
            "DHCP server listening"
        );
        let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let dhcp = serve_socket(
            self.handler.clone(),
            socks.dhcp,
            Port::Dhcp,
            permits.clone(),
            cancel.clone(),
        );
        match socks.pxe {
            Some(pxe) => {
                let pxe = serve_socket(self.handler.clone(), pxe, Port::Pxe, permits, cancel);
                tokio::join!(dhcp, pxe);
            }
            None => dhcp.await,
        }
        tracing::info!("DHCP server stopped");
        Ok(())
    }
}

/// The sockets a [`DhcpServer`] serves on.
#[derive(Debug)]
pub struct DhcpSockets {
    /// The DHCP port (67).
    pub dhcp: UdpSocket,
    /// proxy mode: the PXE boot-server port (4011).
    pub pxe: Option<UdpSocket>,
}

impl From<UdpSocket> for DhcpSockets {
    fn from(dhcp: UdpSocket) -> Self {
        DhcpSockets { dhcp, pxe: None }
    }
}

fn bind_one(addr: SocketAddrV4, interface: Option<&str>) -> Result<UdpSocket, DhcpError> {
    let addr = SocketAddr::V4(addr);
    let std_sock =
        std::net::UdpSocket::bind(addr).map_err(|source| DhcpError::Bind { addr, source })?;
    std_sock.set_broadcast(true)?;
    if let Some(interface) = interface {
        nix::sys::socket::setsockopt(
            &std_sock,
            nix::sys::socket::sockopt::BindToDevice,
            &std::ffi::OsString::from(interface),
        )
        .map_err(|e| DhcpError::BindDevice {
            interface: interface.to_string(),
            source: e.into(),
        })?;
    }
    std_sock.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(std_sock)?)
}

/// Receive on `sock` until `cancel` fires; each datagram on its own task.
async fn serve_socket(
    handler: Arc<Handler>,
    sock: UdpSocket,
    port: Port,
    permits: Arc<Semaphore>,
    cancel: CancellationToken,
) {
    let sock = Arc::new(sock);
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; RECV_BUF];
    loop {
        let (n, from) = tokio::select! {
            _ = cancel.cancelled() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            r = sock.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    // ICMP errors from earlier sends surface here; keep serving.
                    tracing::debug!(error = %e, "DHCP receive error");
                    continue;
                }
            },
        };
        let SocketAddr::V4(from) = from else { continue };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            handler
                .stats
                .received
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            handler.stats.count_drop("busy");
            continue;
        };
        let packet = buf.get(..n).unwrap_or_default().to_vec();
        let handler = handler.clone();
        let sock = sock.clone();
        tasks.spawn(async move {
            let _permit = permit;
            if let Some(out) = handler.handle_on(&packet, from, port).await {
                send(&sock, &out.bytes, out.to.addr(), &handler.stats).await;
            }
        });
    }
    tasks.shutdown().await;
}
async fn send(sock: &UdpSocket, bytes: &[u8], to: SocketAddrV4, stats: &DhcpStats) {
    if let Err(e) = sock.send_to(bytes, SocketAddr::V4(to)).await {
        stats
            .send_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(%to, error = %e, "sending a DHCP reply failed");
    }
}
