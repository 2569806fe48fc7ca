//! [`Dispatcher`]: turns one received RPC message into one reply (or a counted drop) —
//! NFS v3 and MOUNT v3 on the NFS port, the portmapper on its own port. Synchronous and
//! transport-free; the socket loops in `server` frame, send and run it on blocking threads.

use std::net::IpAddr;
use std::sync::Arc;

use super::counters::NfsCounters;
use super::image_fs::ImageFs;
use super::mount::{self, MOUNT_PROG, MOUNT_VERS};
use super::mount_observer::MountObserver;
use super::nfs3::Nfs3;
use super::portmap::{PortmapOutcome, PortmapTable, NFS_PROG};
use super::rpc::{accepted_reply, decode_call, rpc_mismatch_reply, AcceptStat, RPC_VERSION};
use super::xdr::XdrReader;

/// NFS version served.
const NFS_VERS: u32 = 3;

/// Answers RPC messages for one NFS service.
pub struct Dispatcher {
    fs: ImageFs,
    counters: Arc<NfsCounters>,
    portmap: PortmapTable,
    observer: Option<Arc<dyn MountObserver>>,
}

impl Dispatcher {
    /// Serve `fs`, counting into `counters`, announcing `portmap`'s registrations.
    pub fn new(fs: ImageFs, counters: Arc<NfsCounters>, portmap: PortmapTable) -> Dispatcher {
        Dispatcher {
            fs,
            counters,
            portmap,
            observer: None,
        }
    }

    /// Tell `observer` of every successful MNT.
    pub fn with_observer(mut self, observer: Option<Arc<dyn MountObserver>>) -> Dispatcher {
        self.observer = observer;
        self
    }

    /// The served tree.
    pub fn fs(&self) -> &ImageFs {
        &self.fs
    }

    /// The counters.
    pub fn counters(&self) -> &Arc<NfsCounters> {
        &self.counters
    }

    /// Answer one NFS/MOUNT call message; `None` means drop it (malformed input, counted).
    /// The reply never exceeds `max_reply` bytes (READ and READDIR shrink to fit).
    pub fn answer(&self, msg: &[u8], max_reply: usize) -> Option<Vec<u8>> {
        self.answer_from(msg, max_reply, None)
    }

    /// [`answer`](Self::answer) for a call from `client` (told to the mount observer).
    pub fn answer_from(
        &self,
        msg: &[u8],
        max_reply: usize,
        client: Option<IpAddr>,
    ) -> Option<Vec<u8>> {
        let call = match decode_call(msg) {
            Ok(c) => c,
            Err(e) => {
                NfsCounters::inc(&self.counters.bad_rpc);
                tracing::debug!(error = %e, "dropping malformed RPC message");
                return None;
            }
        };
        NfsCounters::inc(&self.counters.calls);
        if call.rpcvers != RPC_VERSION {
            return Some(rpc_mismatch_reply(call.xid));
        }
        let mismatch = |v| AcceptStat::ProgMismatch { low: v, high: v };
        let mut args = XdrReader::new(msg.get(call.args_at..).unwrap_or(&[]));
        let mut out = accepted_reply(call.xid, AcceptStat::Success);
        let done = match (call.prog, call.vers) {
            (NFS_PROG, NFS_VERS) => Nfs3 {
                fs: &self.fs,
                counters: &self.counters,
                max_reply,
                auth: call.auth.as_ref(),
            }
            .call(call.proc_, &mut args, &mut out),
            (MOUNT_PROG, MOUNT_VERS) => {
                let mut mounted = |path: &str| {
                    if let (Some(o), Some(c)) = (&self.observer, client) {
                        o.mounted(c, path);
                    }
                };
                mount::call(
                    &self.fs,
                    &self.counters,
                    call.proc_,
                    &mut args,
                    &mut out,
                    &mut mounted,
                )
            }
            (NFS_PROG, _) => {
                return Some(accepted_reply(call.xid, mismatch(NFS_VERS)).into_bytes())
            }
            (MOUNT_PROG, _) => {
                return Some(accepted_reply(call.xid, mismatch(MOUNT_VERS)).into_bytes())
            }
            (super::portmap::PMAP_PROG, _) => return self.answer_portmap(msg),
            _ => return Some(accepted_reply(call.xid, AcceptStat::ProgUnavail).into_bytes()),
        };
        match done {
            Ok(true) => Some(out.into_bytes()),
            Ok(false) => Some(accepted_reply(call.xid, AcceptStat::ProcUnavail).into_bytes()),
            Err(e) => {
                NfsCounters::inc(&self.counters.bad_rpc);
                tracing::debug!(xid = call.xid, prog = call.prog, proc_ = call.proc_, error = %e,
                    "garbage RPC arguments");
                Some(accepted_reply(call.xid, AcceptStat::GarbageArgs).into_bytes())
            }
        }
    }

    /// Answer one portmapper message; `None` means send nothing.
    pub fn answer_portmap(&self, msg: &[u8]) -> Option<Vec<u8>> {
        match self.portmap.answer(msg) {
            PortmapOutcome::Reply(r) => {
                NfsCounters::inc(&self.counters.portmap_calls);
                Some(r)
            }
            PortmapOutcome::Malformed(e) => {
                NfsCounters::inc(&self.counters.bad_rpc);
                tracing::debug!(error = %e, "dropping malformed portmapper message");
                None
            }
            PortmapOutcome::Ignore => None,
        }
    }
}
