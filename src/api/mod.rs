//! The admin HTTP API on every node: status, hosts, groups, pools, leases, members, boot
//! tracking (`/v1/boots`), planned failover, backup and restore (`/v1/backup`,
//! `/v1/restore`), the audit trail (`/v1/audit`), the live status page (`/status`,
//! `/v1/overview`) and `/metrics`. Every `/v1` call needs a token (`Authorization: Bearer
//! ...`): reads take any configured token ([`Authed`]), state-changing calls an admin-scope
//! one ([`Admin`]; a read-only token gets 403). Accepted writes carry the token's name into
//! the audit trail; writes made on a follower are forwarded to the leader by the
//! [`crate::writer::Writer`], name included. With `[tls]` the API is served over HTTPS only
//! ([`tls_serve`]).

pub mod backup;
pub mod boots;
pub mod error;
mod handlers;
pub mod images;
pub mod status_page;
pub mod tls_serve;
pub mod types;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{delete, get, post};
use axum::Router;
use raftboot_raft::peer::PeerStats;
use raftboot_raft::{Raft, SharedState};

use crate::writer::Writer;
use cluster_config::Scope;
use error::ApiError;

/// Everything a handler can reach.
pub struct AppState {
    pub raft: Raft,
    pub shared: SharedState,
    pub writer: Arc<Writer>,
    /// The admin token (`admin_token_file`, named `admin`, admin scope).
    pub token: String,
    /// Further named tokens (`[[api.tokens]]`).
    pub api_tokens: Vec<cluster_config::ApiToken>,
    /// The cluster CA when the API runs over TLS (the status page asks the other members
    /// over HTTPS with it).
    pub ca_file: Option<std::path::PathBuf>,
    pub node_name: String,
    pub cluster: String,
    pub vip: Option<String>,
    pub peer_stats: Arc<PeerStats>,
    pub log_flushes: Arc<AtomicU64>,
    pub api_requests: AtomicU64,
    pub api_unauthorized: AtomicU64,
    /// Calls refused because the token's scope does not allow them (403).
    pub api_forbidden: AtomicU64,
    /// The content-addressed store (none on a witness).
    pub store: Option<Arc<crate::cas::BlobStore>>,
    pub replica_stats: Arc<crate::images::replicator::ReplicaStats>,
    pub vip_stats: Arc<crate::vip::controller::VipStats>,
    /// NFS counters of every NFS instance of this node (node address, VIP).
    pub nfs_counters: Vec<Arc<crate::nfs::NfsCounters>>,
    /// The DHCP server's counters, when this node runs one.
    pub dhcp: Option<Arc<crate::dhcp::DhcpStats>>,
    /// The boot tracker every boot service of this node records into (none on a witness).
    pub boots: Option<Arc<crate::bootfiles::BootTracker>>,
    /// TFTP and HTTP boot counters (when those services run).
    pub tftp_stats: Option<Arc<crate::bootfiles::ServeStats>>,
    pub http_stats: Option<Arc<crate::bootfiles::ServeStats>>,
    /// Planned failover (`POST /v1/failover`, on the leader).
    pub failover: Arc<crate::failover::Failover>,
    /// This node's LAN address (`lan` in its config), shown in its status.
    pub lan: Option<String>,
    /// TFTP transfer takeover counters (boot servers).
    pub takeover: Option<Arc<crate::node::takeover::TakeoverStats>>,
    /// This node's data dir (its free space is exported for the disk alert).
    pub data_dir: std::path::PathBuf,
}

/// Proof that the request carried a configured token: its name and scope.
pub struct Authed {
    pub name: String,
    pub scope: Scope,
}

/// Proof that the request carried an admin-scope token (every state-changing call).
pub struct Admin {
    /// The token's name, recorded in the audit trail.
    pub name: String,
}

impl AppState {
    /// The token `given` matches, compared in constant time against every configured one.
    fn token_for(&self, given: &str) -> Option<(String, Scope)> {
        let mut found = None;
        if constant_time_eq(given.as_bytes(), self.token.as_bytes()) {
            found = Some((cluster_config::ADMIN_TOKEN_NAME.to_string(), Scope::Admin));
        }
        for t in &self.api_tokens {
            if constant_time_eq(given.as_bytes(), t.secret.as_bytes()) {
                found = Some((t.name.clone(), t.scope));
            }
        }
        found
    }
}

#[axum::async_trait]
impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let a = Authed::from_request_parts(parts, st).await?;
        match a.scope {
            Scope::Admin => Ok(Admin { name: a.name }),
            Scope::Read => {
                st.api_forbidden
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(token = %a.name, method = %parts.method, path = %parts.uri.path(), "read-only token refused for a write");
                Err(ApiError::Forbidden(format!(
                    "token {:?} has the read scope; {} {} changes the cluster and needs an admin-scope token",
                    a.name,
                    parts.method,
                    parts.uri.path()
                )))
            }
        }
    }
}

#[axum::async_trait]
impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        use std::sync::atomic::Ordering;
        st.api_requests.fetch_add(1, Ordering::Relaxed);
        let given = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match given.and_then(|g| st.token_for(g)) {
            Some((name, scope)) => Ok(Authed { name, scope }),
            None => {
                st.api_unauthorized.fetch_add(1, Ordering::Relaxed);
                Err(ApiError::Unauthorized)
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Largest blob one upload may carry (whole files of an image; kernels and initrds fit).
pub const MAX_BLOB_UPLOAD: usize = 1024 * 1024 * 1024;

/// The admin API's routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(handlers::metrics))
        .merge(status_page::routes())
        .route("/v1/status", get(handlers::status))
        .route("/v1/boots", get(boots::list))
        .route("/v1/state", get(handlers::state))
        .route("/v1/audit", get(handlers::audit))
        .route(
            "/v1/hosts",
            get(handlers::list_hosts).post(handlers::put_host),
        )
        .route("/v1/hosts/apply", post(handlers::apply_hosts))
        .route("/v1/hosts/:mac", delete(handlers::remove_host))
        .route(
            "/v1/groups",
            get(handlers::list_groups).post(handlers::put_group),
        )
        .route(
            "/v1/pools",
            get(handlers::list_pools).post(handlers::put_pool),
        )
        .route(
            "/v1/leases",
            get(handlers::list_leases).post(handlers::allocate_lease),
        )
        .route("/v1/members", post(handlers::add_member))
        .route("/v1/failover", post(handlers::failover))
        .route("/v1/members/:id", delete(handlers::remove_member))
        .route("/v1/blobs/missing", post(images::missing))
        .route(
            "/v1/blobs/:digest",
            axum::routing::put(images::put_blob)
                .get(backup::get_blob)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_BLOB_UPLOAD)),
        )
        .route("/v1/backup", get(backup::backup))
        .route(
            "/v1/restore",
            post(backup::restore).layer(axum::extract::DefaultBodyLimit::max(
                backup::MAX_RESTORE_STATE + 1024 * 1024,
            )),
        )
        .route("/v1/images", get(images::list).post(images::register))
        .route("/v1/images/gc", post(images::gc))
        .route("/v1/images/:name", delete(images::remove))
        .route("/v1/images/:name/activate", post(images::activate))
        .route("/v1/groups/:group/rollback", post(images::rollback))
        .with_state(state)
}
