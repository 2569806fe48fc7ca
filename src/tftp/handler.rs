//! [`RoHandler`]: the async-tftp handler — resolve a read request into a [`BootReader`],
//! refuse every write request.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use async_tftp::packet;
use tokio::runtime::Handle;

use crate::bootcfg::{ResolveError, Target, Transport};
use crate::bootfiles::{BootFiles, ServeStats};

use super::reader::BootReader;

/// Read-only handler. async-tftp calls it under one lock, so it only resolves (on the
/// blocking pool) and hands back a lazy reader; file data is read while sending.
pub(crate) struct RoHandler {
    pub files: Arc<BootFiles>,
    pub stats: Arc<ServeStats>,
    pub rt: Handle,
}

impl async_tftp::server::Handler for RoHandler {
    type Reader = BootReader;
    type Writer = futures::io::Sink;

    async fn read_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
    ) -> Result<(BootReader, Option<u64>), packet::Error> {
        ServeStats::bump(&self.stats.requests);
        let raw = path.to_string_lossy().into_owned();
        let res = match self
            .files
            .resolve_async(raw.clone(), Transport::Tftp, client.ip())
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.stats.count_resolve_error(&e);
                tracing::debug!(%client, path = %raw, error = %e, "TFTP read refused");
                return Err(match e {
                    ResolveError::BadPath(_) => packet::Error::PermissionDenied,
                    ResolveError::NotFound(_) => packet::Error::FileNotFound,
                    ResolveError::Unavailable { .. } => packet::Error::Msg(e.to_string()),
                });
            }
        };
        tracing::debug!(%client, path = %raw, stage = res.stage.as_str(), "TFTP read");
        let stats = Arc::clone(&self.stats);
        Ok(match res.target {
            Target::Generated(text) => {
                let len = text.len() as u64;
                (BootReader::text(text, stats), Some(len))
            }
            Target::Blob { digest, size } => {
                let files = Arc::clone(&self.files);
                let reader = BootReader::blob(files, self.rt.clone(), digest, size, stats);
                (reader, Some(size))
            }
        })
    }

    async fn write_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
        _size: Option<u64>,
    ) -> Result<futures::io::Sink, packet::Error> {
        ServeStats::bump(&self.stats.requests);
        ServeStats::bump(&self.stats.write_refused);
        tracing::info!(%client, path = %path.display(), "TFTP write refused (read-only server)");
        Err(packet::Error::PermissionDenied)
    }
}
