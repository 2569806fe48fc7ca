//! [`NfsCounters`]: what the NFS, MOUNT and portmapper services did, as plain atomics for the
//! Prometheus exporter (monotonic counters; read with `Ordering::Relaxed`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one [`NfsService`](super::NfsService).
#[derive(Debug, Default)]
pub struct NfsCounters {
    /// RPC calls answered (all programs, both transports).
    pub calls: AtomicU64,
    /// Successful NFS READs.
    pub reads: AtomicU64,
    /// Bytes returned by NFS READs.
    pub read_bytes: AtomicU64,
    /// NFS and MOUNT replies with an I/O error (corrupt or unreadable data, a manifest that
    /// does not load) or a "not on this replica yet" (NFS3ERR_JUKEBOX).
    pub errors: AtomicU64,
    /// Handles refused as stale (image no longer in the replicated state, or a handle of
    /// another cluster) or malformed.
    pub stale_handles: AtomicU64,
    /// Write operations refused with NFS3ERR_ROFS.
    pub rofs_refusals: AtomicU64,
    /// Malformed RPC input dropped (undecodable headers or arguments, oversized records,
    /// replies sent to the server).
    pub bad_rpc: AtomicU64,
    /// Successful MOUNT MNT calls.
    pub mounts: AtomicU64,
    /// Portmapper calls answered.
    pub portmap_calls: AtomicU64,
    /// TCP connections accepted (NFS and portmapper).
    pub connections: AtomicU64,
    /// TCP connections closed at once because the service already served its maximum.
    pub refused_connections: AtomicU64,
}

impl NfsCounters {
    /// Add `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Add one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `(name, help, value)` for every counter, for exporters.
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("nfs_calls_total", "RPC calls answered", g(&self.calls)),
            ("nfs_reads_total", "NFS READs served", g(&self.reads)),
            (
                "nfs_read_bytes_total",
                "bytes served by NFS READ",
                g(&self.read_bytes),
            ),
            ("nfs_errors_total", "NFS/MOUNT I/O errors", g(&self.errors)),
            (
                "nfs_stale_handles_total",
                "stale or bad file handles",
                g(&self.stale_handles),
            ),
            (
                "nfs_rofs_refusals_total",
                "write operations refused",
                g(&self.rofs_refusals),
            ),
            (
                "nfs_bad_rpc_total",
                "malformed RPC input dropped",
                g(&self.bad_rpc),
            ),
            (
                "nfs_mounts_total",
                "successful MOUNT calls",
                g(&self.mounts),
            ),
            (
                "nfs_portmap_calls_total",
                "portmapper calls",
                g(&self.portmap_calls),
            ),
            (
                "nfs_connections_total",
                "TCP connections accepted",
                g(&self.connections),
            ),
            (
                "nfs_refused_connections_total",
                "TCP connections closed at once (connection limit)",
                g(&self.refused_connections),
            ),
        ]
    }
}
