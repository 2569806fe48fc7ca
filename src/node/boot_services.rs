//! [`BootServices`]: a boot server's TFTP and HTTP boot listeners, started when their
//! port is non-zero and stopped through the node's shutdown tree. Each protocol runs on
//! the node's own address and, when the node has a VIP, a second time on the VIP runtime
//! (worker threads inside the VIP namespace, where the VIP is the only address), so
//! clients told `next-server = VIP` get their replies from the VIP. Both instances share
//! one [`BootFiles`] (so one boot tracker) and one set of counters per protocol.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use cluster_config::NodeConfig;
use raftboot_raft::SharedState;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::bootcfg::BootContext;
use crate::bootfiles::{BootFiles, ServeStats};
use crate::cas::BlobStore;
use crate::httpboot::{http_router, serve_http};
use crate::tftp::TftpService;

/// The running boot-file services of a node and their counters.
pub struct BootServices {
    /// The namespace, store reader and boot tracker both protocols share.
    pub files: Arc<BootFiles>,
    /// TFTP counters, node address and VIP together (`None` when `tftp_port` is 0).
    pub tftp_stats: Option<Arc<ServeStats>>,
    /// HTTP boot counters, node address and VIP together (`None` when `http_port` is 0).
    pub http_stats: Option<Arc<ServeStats>>,
    tasks: Vec<JoinHandle<()>>,
}

/// Where the VIP instances run and what stops them.
pub struct VipServices<'a> {
    /// The runtime whose worker threads live in the VIP namespace.
    pub runtime: &'a tokio::runtime::Runtime,
    /// Cancelled after the VIP is released (the node-address instances stop earlier).
    pub stop: CancellationToken,
}

impl BootServices {
    /// Bind and start TFTP on `services.bind:tftp_port` and HTTP boot on
    /// `services.bind:http_port` (each only when its port is non-zero); both stop when
    /// `stop` is cancelled. Binding errors fail the start, like the other ports. With
    /// `vip`, the same ports are also served on the wildcard address inside the VIP
    /// namespace (bound there before the VIP exists; a failure there is logged).
    pub async fn start(
        cfg: &NodeConfig,
        shared: SharedState,
        store: Arc<BlobStore>,
        stop: CancellationToken,
        vip: Option<VipServices<'_>>,
    ) -> anyhow::Result<BootServices> {
        let svc = &cfg.this_node().services;
        let files = Arc::new(BootFiles::new(BootContext::from_config(cfg), shared, store));
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let mut tasks = Vec::new();
        let mut tftp_stats = None;
        if svc.tftp_port != 0 {
            let addr = SocketAddr::new(svc.bind, svc.tftp_port);
            let socket = TftpService::bind(addr).context("binding the TFTP port")?;
            let service = TftpService::new(Arc::clone(&files));
            let stats = service.stats();
            tftp_stats = Some(Arc::clone(&stats));
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = service.serve_socket(socket, stop).await {
                    tracing::error!(error = %e, "TFTP service failed");
                }
            }));
            if let Some(v) = &vip {
                let service = TftpService::new(Arc::clone(&files))
                    .with_stats(stats)
                    .in_private_namespace();
                let (port, stop) = (svc.tftp_port, v.stop.clone());
                tasks.push(v.runtime.spawn(async move {
                    // Bound on a VIP-runtime thread: the socket is in the VIP namespace.
                    let r = match TftpService::bind(SocketAddr::new(any, port)) {
                        Ok(socket) => service.serve_socket(socket, stop).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = r {
                        tracing::error!(error = %e, "TFTP on the VIP stopped");
                    }
                }));
            }
        }
        let mut http_stats = None;
        if svc.http_port != 0 {
            let addr = SocketAddr::new(svc.bind, svc.http_port);
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the HTTP boot port {addr}"))?;
            let stats = Arc::new(ServeStats::default());
            http_stats = Some(Arc::clone(&stats));
            let router = http_router(Arc::clone(&files), Arc::clone(&stats));
            let node_stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                tracing::info!(%addr, "HTTP boot service started");
                if let Err(e) = serve_http(listener, router, node_stop).await {
                    tracing::error!(error = %e, "HTTP boot service failed");
                }
            }));
            if let Some(v) = &vip {
                let router = http_router(Arc::clone(&files), stats);
                let (port, stop) = (svc.http_port, v.stop.clone());
                tasks.push(v.runtime.spawn(async move {
                    let addr = SocketAddr::new(any, port);
                    let r = match tokio::net::TcpListener::bind(addr).await {
                        Ok(listener) => {
                            tracing::info!(port, "HTTP boot service started on the VIP");
                            serve_http(listener, router, stop).await
                        }
                        Err(e) => Err(e),
                    };
                    if let Err(e) = r {
                        tracing::error!(error = %e, "HTTP boot on the VIP stopped");
                    }
                }));
            }
        }
        Ok(BootServices {
            files,
            tftp_stats,
            http_stats,
            tasks,
        })
    }

    /// Wait for the services to stop (after their tokens were cancelled, or their
    /// runtime shut down).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
