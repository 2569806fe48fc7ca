//! [`BootReader`]: the `AsyncRead` async-tftp sends from — generated text, or a blob read
//! in verified [`READ_STEP`] pieces on the blocking pool.

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures::io::{AsyncRead, Cursor};
use futures::Future;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::bootfiles::{BootFiles, ServeStats, READ_STEP};
use crate::cas::{CasError, Digest};

/// A blob being streamed.
struct BlobSource {
    files: Arc<BootFiles>,
    rt: Handle,
    digest: Digest,
    size: u64,
    /// Offset of the next read from the store.
    pos: u64,
    buf: Vec<u8>,
    at: usize,
    pending: Option<JoinHandle<Result<Vec<u8>, CasError>>>,
}

enum Inner {
    Text(Cursor<Vec<u8>>),
    Blob(Box<BlobSource>),
}

/// What one TFTP read request sends. Counts bytes, completion (read to the end) and
/// corruption in the service's [`ServeStats`]; a reader dropped before its end counts
/// as an abandoned transfer (`other_errors`).
pub struct BootReader {
    inner: Inner,
    stats: Arc<ServeStats>,
    done: bool,
    failed: bool,
}

impl BootReader {
    /// A reader over generated text.
    pub fn text(text: String, stats: Arc<ServeStats>) -> BootReader {
        BootReader {
            inner: Inner::Text(Cursor::new(text.into_bytes())),
            stats,
            done: false,
            failed: false,
        }
    }

    /// A verified reader over a stored blob of `size` bytes.
    pub fn blob(
        files: Arc<BootFiles>,
        rt: Handle,
        digest: Digest,
        size: u64,
        stats: Arc<ServeStats>,
    ) -> BootReader {
        BootReader {
            inner: Inner::Blob(Box::new(BlobSource {
                files,
                rt,
                digest,
                size,
                pos: 0,
                buf: Vec::new(),
                at: 0,
                pending: None,
            })),
            stats,
            done: false,
            failed: false,
        }
    }
}

impl BlobSource {
    fn poll_read(&mut self, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            if self.at < self.buf.len() {
                let n = out.len().min(self.buf.len() - self.at);
                out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
                self.at += n;
                return Poll::Ready(Ok(n));
            }
            if let Some(task) = self.pending.as_mut() {
                let joined = ready!(Pin::new(task).poll(cx));
                self.pending = None;
                let bytes = match joined {
                    Ok(Ok(b)) => b,
                    Ok(Err(CasError::Io { source, .. })) => return Poll::Ready(Err(source)),
                    Ok(Err(e)) => {
                        return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)))
                    }
                    Err(e) => return Poll::Ready(Err(io::Error::other(e))),
                };
                if bytes.is_empty() {
                    // The store holds fewer bytes than the manifest said: never pad.
                    self.size = self.pos;
                    return Poll::Ready(Ok(0));
                }
                self.pos += bytes.len() as u64;
                self.buf = bytes;
                self.at = 0;
                continue;
            }
            if self.pos >= self.size {
                return Poll::Ready(Ok(0));
            }
            let step =
                usize::try_from(self.size - self.pos).map_or(READ_STEP, |r| r.min(READ_STEP));
            self.pending = Some(
                self.files
                    .read_blob_task(&self.rt, self.digest, self.pos, step),
            );
        }
    }
}

impl AsyncRead for BootReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = match &mut this.inner {
            Inner::Text(c) => Pin::new(c).poll_read(cx, out),
            Inner::Blob(b) => b.poll_read(cx, out),
        };
        match &r {
            Poll::Ready(Ok(0)) if !out.is_empty() && !this.done => {
                this.done = true;
                ServeStats::bump(&this.stats.completed);
            }
            Poll::Ready(Ok(n)) => {
                this.stats.bytes.fetch_add(*n as u64, Ordering::Relaxed);
            }
            Poll::Ready(Err(e)) if !this.failed => {
                this.failed = true;
                let corrupt = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<CasError>())
                    .is_some_and(CasError::is_corruption);
                ServeStats::bump(if corrupt {
                    &this.stats.corrupt
                } else {
                    &this.stats.other_errors
                });
            }
            _ => {}
        }
        r
    }
}

impl Drop for BootReader {
    fn drop(&mut self) {
        if !self.done && !self.failed {
            ServeStats::bump(&self.stats.other_errors);
        }
        if let Inner::Blob(b) = &self.inner {
            if let Some(t) = &b.pending {
                t.abort();
            }
        }
    }
}
