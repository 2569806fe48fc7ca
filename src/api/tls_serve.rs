//! Serving the admin API over HTTPS (`[tls]`): a TLS accept loop in front of the axum
//! router (axum 0.7's `serve` only takes plain TCP). A client that speaks plain HTTP to the
//! HTTPS port gets one plain `400` answer naming the problem instead of a silent close.

use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How long a client may take for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The first byte of a TLS record carrying a handshake.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What a plain-HTTP client gets on the HTTPS port (JSON like every API error).
const PLAIN_HTTP_ANSWER: &str = "{\"error\":\"tls_required\",\"message\":\"this admin API only speaks HTTPS (TLS); use https:// and the cluster CA (bootctl --ca FILE)\"}";

/// Serve `router` over TLS on `listener` until `stop` fires; then stop accepting and give
/// open connections a graceful shutdown.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    acceptor: TlsAcceptor,
    stop: CancellationToken,
) {
    loop {
        let (tcp, remote) = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let acceptor = acceptor.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(tcp, &acceptor)).await
            {
                Ok(Ok(Some(s))) => s,
                Ok(Ok(None)) => return,
                Ok(Err(e)) => {
                    tracing::info!(%remote, error = %e, "admin TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(%remote, "admin TLS handshake timed out");
                    return;
                }
            };
            let service = TowerToHyperService::new(router);
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%remote, error = %e, "admin connection ended");
                    }
                }
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
}

/// Accept TLS on `tcp`; a client that starts with anything but a TLS handshake record gets
/// the plain-HTTP answer and `None`.
async fn handshake(
    mut tcp: TcpStream,
    acceptor: &TlsAcceptor,
) -> std::io::Result<Option<tokio_rustls::server::TlsStream<TcpStream>>> {
    let mut first = [0u8; 1];
    let n = tcp.peek(&mut first).await?;
    if n == 0 {
        return Ok(None);
    }
    if first[0] != TLS_HANDSHAKE_RECORD {
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PLAIN_HTTP_ANSWER}",
            PLAIN_HTTP_ANSWER.len()
        );
        let _ = tcp.write_all(answer.as_bytes()).await;
        let _ = tcp.shutdown().await;
        return Ok(None);
    }
    acceptor.accept(tcp).await.map(Some)
}
