//! [`Takeover`]: TFTP transfer takeover wired into a node. Transfers this node serves are
//! announced to the other boot servers over the peer network (best effort, one sender
//! task per peer, so a dead peer never delays the others); notices from peers fill the
//! [`TransferRegistry`]; when this node claims the VIP, every live record is resumed on
//! a socket bound to its server port inside the VIP namespace. See
//! docs/adr/0003-tftp-engine.md for why this is not replicated through Raft.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster_config::{NodeConfig, Role};
use raftboot_raft::peer::{NoticeSink, PeerAuth, PeerClient, PeerRequest, PeerResponse};
use raftboot_raft::NodeId;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::tftp::{
    decode_notices, encode_notices, TftpService, TransferNotice, TransferObserver, TransferRecord,
    TransferRegistry, MAX_BATCH,
};

/// Notices queued per peer before new ones are dropped (counted).
const QUEUE: usize = 1024;
/// How long one peer may take to take a batch.
const SEND_TIMEOUT: Duration = Duration::from_millis(500);

/// Counters.
#[derive(Debug, Default)]
pub struct TakeoverStats {
    /// Notices dropped because a peer's queue was full.
    pub notices_dropped: AtomicU64,
    /// Batches a peer did not take.
    pub send_errors: AtomicU64,
    /// Transfers resumed after a VIP claim.
    pub resumed: AtomicU64,
    /// Transfers that could not be resumed (port busy, ...).
    pub resume_errors: AtomicU64,
}

/// Forwards this node's transfer events to one queue per peer.
struct Announcer {
    queues: Vec<mpsc::Sender<TransferNotice>>,
    stats: Arc<TakeoverStats>,
}

impl Announcer {
    fn push(&self, n: TransferNotice) {
        for q in &self.queues {
            if q.try_send(n.clone()).is_err() {
                self.stats.notices_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl TransferObserver for Announcer {
    fn started(&self, r: &TransferRecord) {
        self.push(TransferNotice::Running(r.clone()));
    }
    fn progress(&self, r: &TransferRecord) {
        self.push(TransferNotice::Running(r.clone()));
    }
    fn ended(&self, r: &TransferRecord) {
        self.push(TransferNotice::Ended {
            client: r.client,
            server_port: r.server_port,
        });
    }
}

/// The peer server's sink: notices from peers into the registry.
struct RegistrySink(Arc<TransferRegistry>);

impl NoticeSink for RegistrySink {
    fn transfer_notices(&self, from: NodeId, body: &[u8]) -> Result<(), String> {
        let notices = decode_notices(body).map_err(|e| {
            tracing::warn!(peer = from, error = %e, "transfer notices refused");
            e.to_string()
        })?;
        self.0.apply(notices, Instant::now());
        Ok(())
    }
}

/// The node's takeover parts.
pub struct Takeover {
    /// Transfers peers reported.
    pub registry: Arc<TransferRegistry>,
    /// Counters.
    pub stats: Arc<TakeoverStats>,
    /// Signalled by the VIP controller on each claim.
    pub claimed: Arc<Notify>,
    announcer: Arc<Announcer>,
    senders: Vec<(PeerClient, mpsc::Receiver<TransferNotice>)>,
}

impl Takeover {
    /// Parts for this node: one queue per other boot server (witnesses serve nothing).
    pub fn new(cfg: &NodeConfig, auth: &PeerAuth) -> Takeover {
        let me = cfg.this_node().id;
        let stats = Arc::new(TakeoverStats::default());
        let mut queues = Vec::new();
        let mut senders = Vec::new();
        for n in cfg
            .nodes
            .iter()
            .filter(|n| n.id != me && n.role != Role::Witness)
        {
            let (tx, rx) = mpsc::channel(QUEUE);
            queues.push(tx);
            let client = PeerClient::new(auth.clone(), n.id, n.peer_addr.to_string());
            senders.push((client, rx));
        }
        Takeover {
            registry: Arc::new(TransferRegistry::new()),
            stats: stats.clone(),
            claimed: Arc::new(Notify::new()),
            announcer: Arc::new(Announcer { queues, stats }),
            senders,
        }
    }

    /// The observer to give the TFTP service.
    pub fn observer(&self) -> Arc<dyn TransferObserver> {
        self.announcer.clone()
    }

    /// The sink to give the peer server.
    pub fn sink(&self) -> Arc<dyn NoticeSink> {
        Arc::new(RegistrySink(self.registry.clone()))
    }

    /// Start the per-peer sender tasks (on the current runtime).
    pub fn spawn_senders(&mut self, stop: &CancellationToken) {
        for (client, rx) in std::mem::take(&mut self.senders) {
            tokio::spawn(send_loop(client, rx, self.stats.clone(), stop.clone()));
        }
    }

    /// Resume every live record after each VIP claim: sockets are bound (and transfer
    /// threads started) on `vip_rt`, whose threads live in the VIP namespace.
    pub fn spawn_resumer(
        &self,
        tftp: TftpService,
        vip_rt: tokio::runtime::Handle,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let (registry, claimed, stats) = (
            self.registry.clone(),
            self.claimed.clone(),
            self.stats.clone(),
        );
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = claimed.notified() => {}
                }
                let records = registry.take_live(Instant::now());
                if records.is_empty() {
                    continue;
                }
                tracing::info!(
                    transfers = records.len(),
                    "VIP claimed: taking TFTP transfers over"
                );
                let (tftp, stats, stop) = (tftp.clone(), stats.clone(), stop.clone());
                // Detached: each resumed transfer runs on its own thread.
                drop(vip_rt.spawn(async move {
                    for r in records {
                        let port = r.server_port;
                        let res = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
                            .map_err(crate::tftp::TftpError::Socket)
                            .and_then(|s| tftp.resume(r, s, stop.clone()));
                        match res {
                            Ok(()) => stats.resumed.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                tracing::warn!(port, error = %e, "TFTP takeover failed");
                                stats.resume_errors.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                }));
            }
        })
    }
}

async fn send_loop(
    mut client: PeerClient,
    mut rx: mpsc::Receiver<TransferNotice>,
    stats: Arc<TakeoverStats>,
    stop: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            _ = stop.cancelled() => return,
            n = rx.recv() => match n { Some(n) => n, None => return },
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(n) => batch.push(n),
                Err(_) => break,
            }
        }
        let ok = match encode_notices(&batch) {
            Ok(body) => matches!(
                client
                    .call(&PeerRequest::TransferNotices(body), SEND_TIMEOUT)
                    .await,
                Ok(PeerResponse::Noted(Ok(())))
            ),
            Err(_) => false,
        };
        if !ok {
            stats.send_errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                peer = client.addr(),
                notices = batch.len(),
                "transfer notices not delivered"
            );
        }
    }
}
