//! [`Connection`]: one TCP connection of the NFS service (NFS + MOUNT, or the portmapper),
//! served on an OS thread of its own with blocking socket calls.
//!
//! Why a thread and not tokio tasks: an NFS client mostly waits for each answer before it
//! sends the next call (libnfs, a directory walk, `ls -l`), so the cost that counts is the
//! latency of one call. On a thread the path is read -> answer -> write with one wake-up;
//! the earlier design (a reader task, a task per call, a blocking-pool thread for the
//! answer, a channel to a writer task) paid three or four thread hand-offs per call, which
//! made a metadata walk slower than nfs-ganesha's (see docs/benchmarks.md, NFS). Calls on
//! one connection are answered in order; READs block this thread only, never a runtime
//! worker. Replies to calls that arrived together go out in one `writev`, each with its
//! record mark, without copying the (up to 1 MiB) reply bodies again.
//!
//! Shutdown: a small task waits on the service's cancellation token (or the end of the
//! connection) and shuts the socket down, which ends the blocking read at once.

use std::io::{ErrorKind, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::counters::NfsCounters;
use super::dispatch::Dispatcher;
use super::rpc::{RecordReader, MAX_RECORD};

/// Which program set a socket serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// NFS v3 and MOUNT v3.
    Nfs,
    /// The portmapper.
    Portmap,
}

/// Connections served at once by one service (each is a thread); more are closed at once
/// and counted.
pub const MAX_CONNECTIONS: usize = 1024;
/// Replies are written once this many bytes are queued (or no more calls are buffered).
const FLUSH_BYTES: usize = 256 * 1024;
/// Longest a reply write may make no progress before the connection is dropped.
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Socket read size.
const READ_BUF: usize = 64 * 1024;

/// One accepted TCP connection and what it needs to answer calls.
pub(super) struct Connection {
    stream: TcpStream,
    dispatcher: Arc<Dispatcher>,
    role: Role,
    max_reply: usize,
    peer: Option<std::net::IpAddr>,
}

/// Decrements the live-connection count when the thread ends.
struct Live(Arc<AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connection {
    /// Serve `stream` on a new thread until the peer closes it, it breaks the protocol, or
    /// `cancel` fires. Must be called inside a tokio runtime (for the shutdown watcher).
    /// `live` counts this service's connections; past [`MAX_CONNECTIONS`] the stream is
    /// closed at once.
    pub(super) fn spawn(
        stream: tokio::net::TcpStream,
        dispatcher: Arc<Dispatcher>,
        role: Role,
        max_reply: usize,
        cancel: &CancellationToken,
        live: &Arc<AtomicUsize>,
    ) {
        let counters = Arc::clone(dispatcher.counters());
        if live.fetch_add(1, Ordering::Relaxed) >= MAX_CONNECTIONS {
            live.fetch_sub(1, Ordering::Relaxed);
            NfsCounters::inc(&counters.refused_connections);
            tracing::warn!(?role, "too many NFS connections: closing a new one");
            return;
        }
        let guard = Live(Arc::clone(live));
        let stream = match stream.into_std().and_then(|s| {
            s.set_nonblocking(false)?;
            // A peer that stops reading for this long is gone; a write never blocks the
            // thread forever.
            s.set_write_timeout(Some(WRITE_TIMEOUT))?;
            // Replies go out whole (one writev per batch): never hold a reply's tail back
            // waiting for the peer's ACK of the previous one.
            s.set_nodelay(true)?;
            Ok(s)
        }) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot serve an accepted connection");
                return;
            }
        };
        let watcher = match stream.try_clone() {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot serve an accepted connection");
                return;
            }
        };
        // Closing: the thread ends (or never starts) -> `done` fires -> the socket is shut.
        let done = cancel.child_token();
        let ended = done.clone();
        let on_exit = done.clone().drop_guard();
        tokio::spawn(async move {
            ended.cancelled().await;
            let _ = watcher.shutdown(Shutdown::Both);
        });
        let peer = stream.peer_addr().ok().map(|a| a.ip());
        let conn = Connection {
            peer,
            stream,
            dispatcher,
            role,
            max_reply,
        };
        let spawned = std::thread::Builder::new()
            .name("nfs-conn".into())
            .spawn(move || {
                let _guard = guard;
                let _on_exit = on_exit;
                conn.serve(&done);
            });
        if let Err(e) = spawned {
            // The closure (with `guard` and `on_exit`) was dropped: the watcher closes the
            // socket.
            tracing::warn!(error = %e, "cannot start an NFS connection thread");
        }
    }

    fn answer(&self, msg: &[u8]) -> Option<Vec<u8>> {
        match self.role {
            Role::Nfs => self.dispatcher.answer_from(msg, self.max_reply, self.peer),
            Role::Portmap => self.dispatcher.answer_portmap(msg),
        }
    }

    fn serve(mut self, cancel: &CancellationToken) {
        let mut records = RecordReader::new(MAX_RECORD);
        let mut buf = vec![0u8; READ_BUF];
        let mut replies: Vec<Vec<u8>> = Vec::new();
        let mut queued = 0usize;
        while !cancel.is_cancelled() {
            let n = match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            records.push(&buf[..n]);
            loop {
                let msg = match records.next_record() {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(e) => {
                        NfsCounters::inc(&self.dispatcher.counters().bad_rpc);
                        tracing::warn!(error = %e, "closing RPC connection: oversized record");
                        let _ = write_records(&mut self.stream, &replies);
                        return;
                    }
                };
                if let Some(reply) = self.answer(&msg) {
                    queued += reply.len();
                    replies.push(reply);
                }
                if queued >= FLUSH_BYTES {
                    if write_records(&mut self.stream, &replies).is_err() {
                        return;
                    }
                    replies.clear();
                    queued = 0;
                }
            }
            if !replies.is_empty() {
                if write_records(&mut self.stream, &replies).is_err() {
                    return;
                }
                replies.clear();
                queued = 0;
            }
        }
    }
}

/// Write each message as one record (a last fragment) with as few `writev` calls as the
/// socket allows; the bodies are not copied.
fn write_records(stream: &mut TcpStream, msgs: &[Vec<u8>]) -> std::io::Result<()> {
    let marks: Vec<[u8; 4]> = msgs
        .iter()
        .map(|m| (0x8000_0000 | (m.len() as u32 & 0x7fff_ffff)).to_be_bytes())
        .collect();
    let parts: Vec<&[u8]> = marks
        .iter()
        .zip(msgs)
        .flat_map(|(mark, msg)| [&mark[..], &msg[..]])
        .collect();
    let (mut part, mut at) = (0usize, 0usize);
    while part < parts.len() {
        let mut slices = Vec::with_capacity(parts.len() - part);
        slices.push(IoSlice::new(&parts[part][at..]));
        slices.extend(parts[part + 1..].iter().map(|p| IoSlice::new(p)));
        let mut n = match stream.write_vectored(&slices) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // Advance past what was written.
        while n > 0 && part < parts.len() {
            let left = parts[part].len() - at;
            if n >= left {
                n -= left;
                part += 1;
                at = 0;
            } else {
                at += n;
                n = 0;
            }
        }
        while part < parts.len() && parts[part].len() == at {
            part += 1;
            at = 0;
        }
    }
    stream.flush()
}
