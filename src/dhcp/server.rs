//! [`DhcpServer`]: the thin socket loop. One UDP socket on `services.bind:dhcp_port`
//! (SO_BROADCAST; SO_BINDTODEVICE when `[dhcp] interface` is set); each datagram is
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
            }),
        }
    }

    /// The counters this server updates.
    pub fn stats(&self) -> Arc<DhcpStats> {
        self.handler.stats.clone()
    }

    /// Open the socket: bound, broadcast-capable, on the configured interface.
    pub fn bind(&self) -> Result<UdpSocket, DhcpError> {
        let s = &self.handler.settings;
        let addr = SocketAddr::V4(s.bind);
        let std_sock =
            std::net::UdpSocket::bind(addr).map_err(|source| DhcpError::Bind { addr, source })?;
        std_sock.set_broadcast(true)?;
        if let Some(interface) = &s.interface {
            nix::sys::socket::setsockopt(
                &std_sock,
                nix::sys::socket::sockopt::BindToDevice,
                &std::ffi::OsString::from(interface),
            )
            .map_err(|e| DhcpError::BindDevice {
                interface: interface.clone(),
                source: e.into(),
            })?;
        }
        std_sock.set_nonblocking(true)?;
        Ok(UdpSocket::from_std(std_sock)?)
    }

    /// Bind and serve until `cancel` fires.
    pub async fn serve(self, cancel: CancellationToken) -> Result<(), DhcpError> {
        let sock = self.bind()?;
        self.serve_on(sock, cancel).await
    }

    /// Serve on an already bound socket until `cancel` fires.
    pub async fn serve_on(
        self,
        sock: UdpSocket,
        cancel: CancellationToken,
    ) -> Result<(), DhcpError> {
        let sock = Arc::new(sock);
        let s = &self.handler.settings;
        tracing::info!(
            node = %s.node,
            addr = %sock.local_addr()?,
            server = %s.server_addr,
            interface = s.interface.as_deref().unwrap_or("-"),
            "DHCP server listening"
        );
        let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
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
                self.handler
                    .stats
                    .received
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.handler.stats.count_drop("busy");
                continue;
            };
            let packet = buf.get(..n).unwrap_or_default().to_vec();
            let handler = self.handler.clone();
            let sock = sock.clone();
            tasks.spawn(async move {
                let _permit = permit;
                if let Some(out) = handler.handle(&packet, from).await {
                    send(&sock, &out.bytes, out.to.addr(), &handler.stats).await;
                }
            });
        }
        tasks.shutdown().await;
        tracing::info!("DHCP server stopped");
        Ok(())
    }
}

async fn send(sock: &UdpSocket, bytes: &[u8], to: SocketAddrV4, stats: &DhcpStats) {
    if let Err(e) = sock.send_to(bytes, SocketAddr::V4(to)).await {
        stats
            .send_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(%to, error = %e, "sending a DHCP reply failed");
    }
}
