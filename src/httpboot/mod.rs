//! HTTP boot: the boot-file namespace of [`crate::bootfiles::BootFiles`] over HTTP on the
//! node's `services.http_port` — the same paths as TFTP (`/pxelinux.0`,
//! `/ipxe/<mac>.ipxe`, `/images/<image>/vmlinuz`, ...).
//!
//! `GET` and `HEAD` only (anything else is 405 and counted as a refused write). Blobs are
//! streamed in verified steps with `ETag: "<blob digest>"`, `Accept-Ranges: bytes`, single
//! `Range` requests (206 / 416), `If-None-Match` (304) and `If-Range`. Refused paths
//! (`..`, NUL, ...) are 400, unknown names 404, images or blobs not on this node 503, a
//! corrupt blob 500 (quarantined; if found mid-stream the connection is cut, so a client
//! never gets bad bytes with a good status).

mod handler;
mod range;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::bootfiles::{BootFiles, ServeStats};

pub use range::{parse_range, ByteRange, RangeError};

/// What the handler needs.
pub(crate) struct HttpBoot {
    pub files: Arc<BootFiles>,
    pub stats: Arc<ServeStats>,
}

/// The HTTP boot router: every path goes to the boot-file namespace.
pub fn http_router(files: Arc<BootFiles>, stats: Arc<ServeStats>) -> Router {
    Router::new()
        .fallback(handler::serve_path)
        .with_state(Arc::new(HttpBoot { files, stats }))
}

/// Serve `router` on `listener` (with client addresses, for boot tracking) until
/// `cancel` fires.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    router: Router,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { cancel.cancelled().await })
    .await
}
