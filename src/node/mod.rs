//! A running boot server: opens the sled stores, starts Raft, the peer server, the admin
//! API, the boot services (DHCP on voters with a DHCP port; TFTP and HTTP boot via
//! [`boot_services`], on the node address and the VIP; NFS on the node address and the
//! VIP) and the VIP controller,
//! initializes a fresh cluster exactly once ([`bootstrap`]), and shuts everything down in a
//! fixed order (DHCP, boot-file services and admin API, VIP, NFS, peer server, Raft, sled
//! flush) within a deadline. [`recover`] is the offline quorum-loss recovery
//! (`bootd recover`).

pub mod boot_services;
pub mod bootstrap;
pub mod recover;
pub mod takeover;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cluster_config::{NodeConfig, Role};
use raftboot_raft::peer::server::PeerCheck;
use raftboot_raft::peer::{PeerAuth, PeerNetworkFactory, PeerServer, PeerStats};
use raftboot_raft::raft_config::openraft_config;
use raftboot_raft::{NodeId, NodeInfo, Raft, SharedState, SledLogStore, SledStateMachine};
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::dhcp::{leader_gate, vip_gate, DhcpServer, DhcpSettings, DhcpStats, RaftBackend};
use crate::writer::Writer;

/// How long shutdown may take before the process exits anyway.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// The membership entry for a configured node.
pub fn node_info(e: &cluster_config::NodeEntry) -> NodeInfo {
    NodeInfo {
        name: e.name.clone(),
        peer_addr: e.peer_addr.to_string(),
        admin_addr: e.admin_addr.to_string(),
        witness: e.role == Role::Witness,
    }
}

/// Who may connect to the peer port: configured nodes and current members; off loopback,
/// only from the address that node is configured (or registered) with.
fn peer_check(cfg: &NodeConfig, raft: Raft) -> PeerCheck {
    let configured: Vec<(NodeId, SocketAddr)> =
        cfg.nodes.iter().map(|n| (n.id, n.peer_addr)).collect();
    Arc::new(move |id, remote: SocketAddr| {
        let from_config = configured
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, a)| a.ip());
        let from_membership = {
            let m = raft.metrics().borrow().membership_config.clone();
            m.membership()
                .get_node(&id)
                .and_then(|n| n.peer_addr.parse::<SocketAddr>().ok())
                .map(|a| a.ip())
        };
        let Some(ip) = from_membership.or(from_config) else {
            return Err(format!("node {id} is not a member of this cluster"));
        };
        if ip.is_loopback() || ip.is_unspecified() || ip == remote.ip() {
            Ok(())
        } else {
            Err(format!(
                "node {id} is registered at {ip}, but connected from {}",
                remote.ip()
            ))
        }
    })
}

/// Run a node until `shutdown` is cancelled.
pub async fn run(cfg: NodeConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let me = cfg.this_node().clone();
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    let db = sled::Config::new()
        .path(cfg.data_dir.join("sled"))
        .open()
        .with_context(|| {
            format!(
                "opening the sled store in {} (is another bootd using it?)",
                cfg.data_dir.display()
            )
        })?;
    let log_store = SledLogStore::open(&db).context("opening the Raft log")?;
    let log_flushes = log_store.flushes.clone();
    let fresh = log_store.is_empty().context("reading the Raft log")?;
    let sm = SledStateMachine::open(&db).context("opening the state machine")?;
    let shared: SharedState = sm.shared();

    let rcfg = openraft_config(&cfg.cluster_name, &cfg.raft, &me.role).context("Raft timings")?;
    let mut auth = PeerAuth::new(&cfg.cluster_name, me.id, &cfg.secret);
    // [tls]: mutual TLS for peers, HTTPS for the admin API (refuse to start on bad PEM files).
    let admin_tls = match &cfg.tls {
        Some(t) => {
            use raftboot_raft::peer::tls::{PeerTls, TlsMaterial};
            let m = TlsMaterial::load(&t.cert_file, &t.key_file, &t.ca_file)
                .context("loading the [tls] certificate, key and CA")?;
            auth = auth.with_tls(Arc::new(PeerTls::new(&m).context("peer TLS")?));
            let server = m.server_config().context("admin API TLS")?;
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
        }
        None => None,
    };
    let raft = Raft::new(
        me.id,
        Arc::new(rcfg),
        PeerNetworkFactory::new(auth.clone())
            .with_min_rpc_timeout(Duration::from_millis(cfg.raft.election_timeout_min_ms)),
        log_store,
        sm,
    )
    .await
    .context("starting Raft")?;

    let peer_stats = Arc::new(PeerStats::default());
    let election_hold = Arc::new(raftboot_raft::election_hold::ElectionHold::new(
        raft.clone(),
    ));
    let peer_listener = tokio::net::TcpListener::bind(me.peer_addr)
        .await
        .with_context(|| format!("binding the peer port {}", me.peer_addr))?;
    let admin_listener = tokio::net::TcpListener::bind(me.admin_addr)
        .await
        .with_context(|| format!("binding the admin API {}", me.admin_addr))?;

    // The shutdown tree: each layer has its own token, cancelled in order below.
    let admin_stop = CancellationToken::new();
    let peer_stop = CancellationToken::new();
    let background_stop = CancellationToken::new();
    let boot_stop = CancellationToken::new();

    // Boot servers keep a content-addressed store; a witness serves nothing.
    let store = if me.role == Role::Witness {
        None
    } else {
        let mut s = crate::cas::BlobStore::open(&cfg.data_dir.join("cas"))
            .context("opening the blob store")?;
        s.set_chunk_cache(cfg.chunk_cache_bytes);
        Some(Arc::new(s))
    };
    let blobs: Option<Arc<dyn raftboot_raft::peer::BlobSource>> = store.clone().map(|s| {
        Arc::new(crate::images::peer_blobs::StoreSource(s))
            as Arc<dyn raftboot_raft::peer::BlobSource>
    });
    // TFTP transfer takeover: announce ours to peers, keep theirs (boot servers only).
    let mut takeover = (me.role != Role::Witness).then(|| takeover::Takeover::new(&cfg, &auth));
    let server = Arc::new(PeerServer {
        auth: auth.clone(),
        raft: raft.clone(),
        check: peer_check(&cfg, raft.clone()),
        stats: peer_stats.clone(),
        blobs,
        hold: election_hold.clone(),
        notices: takeover.as_ref().map(|t| t.sink()),
    });
    let peer_task = tokio::spawn(server.serve(peer_listener, peer_stop.clone()));

    let writer = Arc::new(Writer::new(raft.clone(), auth.clone()));
    let replica_stats = Arc::new(crate::images::replicator::ReplicaStats::default());
    let vip_stats = Arc::new(crate::vip::controller::VipStats::default());
    let mut nfs_counters = Vec::new();
    let replicator_task = store.clone().map(|store| {
        let r = crate::images::replicator::Replicator {
            me: me.id,
            store,
            tmp_dir: cfg.data_dir.join("fetch-tmp"),
            shared: shared.clone(),
            raft: raft.clone(),
            writer: writer.clone(),
            auth: auth.clone(),
            stats: replica_stats.clone(),
        };
        tokio::spawn(r.run(background_stop.clone()))
    });
    // The VIP follows the leader (boot servers only; the loopback demo has no VIP). Its
    // namespace also hosts a runtime whose services answer on the VIP.
    let vip_ns = match (&cfg.vip, me.role == Role::Witness) {
        (Some(_), false) => Some(Arc::new(crate::vip::netns::VipNamespace::create().context(
            "the VIP needs a private network namespace (run bootd with CAP_SYS_ADMIN and CAP_NET_ADMIN)",
        )?)),
        _ => None,
    };
    let vip_runtime = match &vip_ns {
        Some(ns) => Some(ns.runtime(2).context("starting the VIP service runtime")?),
        None => None,
    };
    // Services on the VIP stop after the VIP is released (`services_stop`); those on the
    // node's own address stop earlier, with `boot_stop`.
    let services_stop = CancellationToken::new();
    let boot_services = match &store {
        Some(store) => Some(
            boot_services::BootServices::start(
                &cfg,
                shared.clone(),
                store.clone(),
                boot_stop.clone(),
                vip_runtime
                    .as_ref()
                    .map(|runtime| boot_services::VipServices {
                        runtime,
                        stop: services_stop.clone(),
                    }),
            )
            .await?,
        ),
        None => None,
    };
    let vip_task = match (&cfg.vip, &vip_ns) {
        (Some(v), Some(ns)) => {
            let mut backend = crate::vip::linux::MacvlanBackend {
                ns: ns.clone(),
                parent: v.interface.clone(),
                link: format!("rbvip{}", me.id),
                vip: v.address,
                prefix: v.prefix,
                gateway: None,
                prepared: false,
                guard: None,
            };
            let link = backend.link.clone();
            match crate::vip::lease_guard::LeaseGuard::spawn(&ns.path.display().to_string(), &link)
            {
                Ok(g) => backend.guard = Some(g),
                Err(e) => {
                    tracing::error!(error = %e, "could not start the VIP lease guard; a stopped bootd would keep the VIP")
                }
            }
            // Created now so that a claim is only "add the address, link up, announce".
            if let Err(e) = backend.prepare() {
                tracing::warn!(error = %e, "could not pre-create the VIP macvlan; claims will create it");
            }
            let controller = crate::vip::controller::VipController {
                raft: raft.clone(),
                hold: Duration::from_millis(cfg.raft.vip_hold_ms),
                backend,
                stats: vip_stats.clone(),
                claimed: takeover.as_ref().map(|t| t.claimed.clone()),
            };
            Some(tokio::spawn(controller.run(background_stop.clone())))
        }
        _ => None,
    };

    if let Some(t) = takeover.as_mut() {
        t.spawn_senders(&background_stop);
        let tftp = boot_services.as_ref().and_then(|b| b.tftp.clone());
        if let (Some(tftp), Some(rt)) = (tftp, &vip_runtime) {
            // TFTP on the VIP too (inside the VIP namespace, the VIP is the only address,
            // so replies leave from it), sharing the counters. Only transfers on the VIP
            // are announced to peers: only those can be taken over.
            let tftp = tftp.with_observer(t.observer());
            t.spawn_resumer(tftp.clone(), rt.handle().clone(), services_stop.clone());
            let addr = std::net::SocketAddr::new(
                std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                me.services.tftp_port,
            );
            let stop = services_stop.clone();
            rt.spawn(async move {
                if let Err(e) = tftp.serve(addr, stop).await {
                    tracing::error!(error = %e, "TFTP on the VIP stopped");
                }
            });
        }
    }

    // NFS: on the node's own address, and (with a VIP) on the VIP. Handles derive only from
    // replicated data, so both instances, and every other replica, issue the same ones.
    let mut service_tasks = Vec::new();
    if let (Some(store), true) = (&store, me.services.nfs_port != 0) {
        let svc = &me.services;
        let mut nfs = crate::nfs::NfsService::new(shared.clone(), store.clone());
        if let Some(b) = &boot_services {
            nfs = nfs.with_mount_observer(b.files.clone());
        }
        nfs_counters.push(nfs.counters());
        let bound = nfs
            .bind(
                std::net::SocketAddr::new(svc.bind, svc.nfs_port),
                std::net::SocketAddr::new(svc.bind, svc.portmap_port),
            )
            .await
            .context("binding the NFS service")?;
        tracing::info!(nfs = %bound.nfs_addr(), portmap = %bound.portmap_addr(), "NFS serving");
        service_tasks.push(tokio::spawn(bound.run(services_stop.clone())));
        if let Some(rt) = &vip_runtime {
            let mut nfs = crate::nfs::NfsService::new(shared.clone(), store.clone());
            if let Some(b) = &boot_services {
                nfs = nfs.with_mount_observer(b.files.clone());
            }
            nfs_counters.push(nfs.counters());
            let any = std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
            let (nfs_port, pm_port, stop) = (svc.nfs_port, svc.portmap_port, services_stop.clone());
            rt.spawn(async move {
                if let Err(e) = nfs
                    .serve(
                        std::net::SocketAddr::new(any, nfs_port),
                        std::net::SocketAddr::new(any, pm_port),
                        stop,
                    )
                    .await
                {
                    tracing::error!(error = %e, "NFS on the VIP stopped");
                }
            });
        }
    }

    // DHCP runs on voters with a DHCP port; its socket is bound here so a busy port
    // fails the start-up instead of a background task.
    let dhcp_stop = CancellationToken::new();
    let dhcp = if me.is_voter() && me.services.dhcp_port != 0 {
        let settings = DhcpSettings::from_config(&cfg).context("DHCP settings")?;
        let backend = Arc::new(RaftBackend::new(shared.clone(), writer.clone()));
        // With a VIP, DHCP follows the VIP controller; without (loopback), the leader.
        let gate = if vip_task.is_some() {
            vip_gate(raft.clone(), vip_stats.clone())
        } else {
            leader_gate(raft.clone())
        };
        let mut server = DhcpServer::new(settings, backend, gate, Arc::new(DhcpStats::default()));
        if let Some(b) = &boot_services {
            server = server.with_tracker(b.files.tracker().clone());
        }
        let sock = server.bind().context("starting the DHCP server")?;
        Some((server, sock))
    } else {
        None
    };
    let state = Arc::new(AppState {
        raft: raft.clone(),
        shared: shared.clone(),
        writer,
        token: cfg.admin_token.clone(),
        api_tokens: cfg.api_tokens.clone(),
        ca_file: cfg.tls.as_ref().map(|t| t.ca_file.clone()),
        node_name: me.name.clone(),
        cluster: cfg.cluster_name.clone(),
        vip: cfg
            .vip
            .as_ref()
            .map(|v| format!("{}/{}", v.address, v.prefix)),
        peer_stats,
        log_flushes,
        api_requests: AtomicU64::new(0),
        api_unauthorized: AtomicU64::new(0),
        api_forbidden: AtomicU64::new(0),
        store,
        replica_stats,
        vip_stats: vip_stats.clone(),
        nfs_counters: nfs_counters.clone(),
        dhcp: dhcp.as_ref().map(|(server, _)| server.stats()),
        boots: boot_services.as_ref().map(|b| b.files.tracker().clone()),
        tftp_stats: boot_services.as_ref().and_then(|b| b.tftp_stats.clone()),
        http_stats: boot_services.as_ref().and_then(|b| b.http_stats.clone()),
        failover: Arc::new(crate::failover::Failover::new(
            raft.clone(),
            election_hold,
            vip_task.is_some().then(|| vip_stats.clone()),
            auth.clone(),
        )),
        lan: me.lan.map(|(ip, prefix)| format!("{ip}/{prefix}")),
        takeover: takeover.as_ref().map(|t| t.stats.clone()),
        data_dir: cfg.data_dir.clone(),
    });
    let stop = admin_stop.clone();
    let admin_task = tokio::spawn(async move {
        match admin_tls {
            Some(acceptor) => {
                api::tls_serve::serve(admin_listener, api::router(state), acceptor, stop).await;
                Ok(())
            }
            None => {
                axum::serve(admin_listener, api::router(state))
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
            }
        }
    });

    let dhcp_task =
        dhcp.map(|(server, sock)| tokio::spawn(server.serve_on(sock, dhcp_stop.clone())));

    let boot_task = tokio::spawn(bootstrap::initialize_once(
        cfg.clone(),
        raft.clone(),
        auth.clone(),
        fresh,
        background_stop.clone(),
    ));
    tracing::info!(name = %me.name, peer = %me.peer_addr, admin = %me.admin_addr, role = ?me.role, "bootd started");

    // A Raft core that stopped on its own (a panic, a fatal storage error) leaves this node
    // unable to vote, replicate or apply, while its status would go on showing the last role
    // and applied index. Exit with an error instead, so a supervisor restarts it.
    let mut core_watch = raft.metrics();
    let core_stopped = async move { while core_watch.changed().await.is_ok() {} };
    let core_died = tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = core_stopped => true,
    };
    if core_died {
        tracing::error!("the Raft core stopped; shutting down");
    }
    tracing::info!("shutting down");
    let ordered = async {
        dhcp_stop.cancel();
        if let Some(t) = dhcp_task {
            let _ = t.await;
        }
        background_stop.cancel();
        let _ = boot_task.await;
        if let Some(t) = replicator_task {
            let _ = t.await;
        }
        boot_stop.cancel();
        // The VIP is released before the services stop answering.
        if let Some(t) = vip_task {
            let _ = t.await;
        }
        services_stop.cancel();
        for t in service_tasks {
            let _ = t.await;
        }
        if let Some(rt) = vip_runtime {
            rt.shutdown_background();
        }
        admin_stop.cancel();
        if let Some(b) = boot_services {
            b.join().await;
        }
        let _ = admin_task.await;
        peer_stop.cancel();
        let _ = peer_task.await;
        if let Err(e) = raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        if let Err(e) = db.flush_async().await {
            tracing::warn!(error = %e, "sled flush at shutdown");
        }
    };
    if tokio::time::timeout(SHUTDOWN_DEADLINE, ordered)
        .await
        .is_err()
    {
        tracing::warn!("shutdown deadline passed; exiting anyway");
    }
    tracing::info!("stopped");
    if core_died {
        anyhow::bail!("the Raft core stopped");
    }
    Ok(())
}
