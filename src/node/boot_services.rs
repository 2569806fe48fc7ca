//! [`BootServices`]: a boot server's TFTP and HTTP boot listeners, started when their
//! port is non-zero and stopped through the node's shutdown tree.

use std::net::SocketAddr;
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
    /// TFTP counters (`None` when `tftp_port` is 0).
    pub tftp_stats: Option<Arc<ServeStats>>,
    /// A handle on the TFTP service (shares its counters), when it runs.
    pub tftp: Option<TftpService>,
    /// HTTP boot counters (`None` when `http_port` is 0).
    pub http_stats: Option<Arc<ServeStats>>,
    tasks: Vec<JoinHandle<()>>,
}

impl BootServices {
    /// Bind and start TFTP on `services.bind:tftp_port` and HTTP boot on
    /// `services.bind:http_port` (each only when its port is non-zero); both stop when
    /// `stop` is cancelled. Binding errors fail the start, like the other ports.
    pub async fn start(
        cfg: &NodeConfig,
        shared: SharedState,
        store: Arc<BlobStore>,
        stop: CancellationToken,
    ) -> anyhow::Result<BootServices> {
        let svc = &cfg.this_node().services;
        let files = Arc::new(BootFiles::new(BootContext::from_config(cfg), shared, store));
        let mut tasks = Vec::new();
        let mut tftp_stats = None;
        let mut tftp = None;
        if svc.tftp_port != 0 {
            let addr = SocketAddr::new(svc.bind, svc.tftp_port);
            let socket = TftpService::bind(addr).context("binding the TFTP port")?;
            let service = TftpService::new(Arc::clone(&files));
            tftp_stats = Some(service.stats());
            tftp = Some(service.clone());
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = service.serve_socket(socket, stop).await {
                    tracing::error!(error = %e, "TFTP service failed");
                }
            }));
        }
        let mut http_stats = None;
        if svc.http_port != 0 {
            let addr = SocketAddr::new(svc.bind, svc.http_port);
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the HTTP boot port {addr}"))?;
            let stats = Arc::new(ServeStats::default());
            http_stats = Some(Arc::clone(&stats));
            let router = http_router(Arc::clone(&files), stats);
            tasks.push(tokio::spawn(async move {
                tracing::info!(%addr, "HTTP boot service started");
                if let Err(e) = serve_http(listener, router, stop).await {
                    tracing::error!(error = %e, "HTTP boot service failed");
                }
            }));
        }
        Ok(BootServices {
            files,
            tftp_stats,
            tftp,
            http_stats,
            tasks,
        })
    }

    /// Wait for the services to stop (after their token was cancelled).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
