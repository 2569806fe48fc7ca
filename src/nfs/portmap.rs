//! The portmapper (RPC program 100000, version 2; RFC 1833 section 3): tells clients which
//! port serves NFS (100003 v3) and MOUNT (100005 v3). klibc's `nfsmount` (initramfs NFS
//! root) always asks it over UDP for the MOUNT port, so it answers on UDP and TCP.
//!
//! The table is fixed at start-up (registrations are refused). NULL, GETPORT and DUMP are
//! answered; SET/UNSET answer `false`; CALLIT is never answered (it would make the server
//! an amplifier). Everything here is pure: [`PortmapTable::answer`] turns one received
//! message into a reply or a drop and never panics.

use super::rpc::{accepted_reply, decode_call, encode_call, AcceptStat, RpcError, RPC_VERSION};
use super::xdr::{XdrError, XdrReader, XdrWriter};

/// Portmapper program number.
pub const PMAP_PROG: u32 = 100_000;
/// Portmapper version served.
pub const PMAP_VERS: u32 = 2;
/// NFS program number.
pub const NFS_PROG: u32 = 100_003;
/// MOUNT program number.
pub const MOUNT_PROG: u32 = 100_005;
/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: u32 = 6;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: u32 = 17;

/// Procedures of portmapper version 2.
const PROC_NULL: u32 = 0;
const PROC_SET: u32 = 1;
const PROC_UNSET: u32 = 2;
const PROC_GETPORT: u32 = 3;
const PROC_DUMP: u32 = 4;
const PROC_CALLIT: u32 = 5;

/// One `mapping` (program, version, protocol, port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// Program number.
    pub prog: u32,
    /// Program version.
    pub vers: u32,
    /// `IPPROTO_TCP` or `IPPROTO_UDP`.
    pub prot: u32,
    /// Port (0 = not registered).
    pub port: u32,
}

impl Mapping {
    /// Append the XDR form.
    pub fn encode(&self, w: &mut XdrWriter) {
        w.u32(self.prog)
            .u32(self.vers)
            .u32(self.prot)
            .u32(self.port);
    }

    /// Decode the XDR form.
    pub fn decode(r: &mut XdrReader<'_>) -> Result<Mapping, XdrError> {
        Ok(Mapping {
            prog: r.u32()?,
            vers: r.u32()?,
            prot: r.u32()?,
            port: r.u32()?,
        })
    }
}

/// What to do with one received portmapper message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortmapOutcome {
    /// Send this reply.
    Reply(Vec<u8>),
    /// Send nothing: the input was malformed (count it) …
    Malformed(RpcError),
    /// … or deliberately unanswered (CALLIT).
    Ignore,
}

/// The fixed registrations this server announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortmapTable {
    mappings: Vec<Mapping>,
}

impl PortmapTable {
    /// NFS v3 and MOUNT v3 on `nfs_port` (TCP and UDP), the portmapper itself on
    /// `portmap_port`.
    pub fn new(nfs_port: u16, portmap_port: u16) -> PortmapTable {
        let mut mappings = Vec::new();
        for (prog, vers, port) in [
            (PMAP_PROG, PMAP_VERS, portmap_port),
            (NFS_PROG, 3, nfs_port),
            (MOUNT_PROG, 3, nfs_port),
        ] {
            for prot in [IPPROTO_TCP, IPPROTO_UDP] {
                mappings.push(Mapping {
                    prog,
                    vers,
                    prot,
                    port: u32::from(port),
                });
            }
        }
        PortmapTable { mappings }
    }

    /// All registrations.
    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// The port for (prog, vers, prot), 0 if not registered.
    pub fn getport(&self, want: &Mapping) -> u32 {
        self.mappings
            .iter()
            .find(|m| m.prog == want.prog && m.vers == want.vers && m.prot == want.prot)
            .map_or(0, |m| m.port)
    }

    /// Answer one received message (a whole UDP datagram or TCP record).
    pub fn answer(&self, msg: &[u8]) -> PortmapOutcome {
        let call = match decode_call(msg) {
            Ok(c) => c,
            Err(e) => return PortmapOutcome::Malformed(e),
        };
        if call.rpcvers != RPC_VERSION {
            return PortmapOutcome::Reply(super::rpc::rpc_mismatch_reply(call.xid));
        }
        if call.prog != PMAP_PROG {
            return PortmapOutcome::Reply(
                accepted_reply(call.xid, AcceptStat::ProgUnavail).into_bytes(),
            );
        }
        if call.vers != PMAP_VERS {
            let stat = AcceptStat::ProgMismatch {
                low: PMAP_VERS,
                high: PMAP_VERS,
            };
            return PortmapOutcome::Reply(accepted_reply(call.xid, stat).into_bytes());
        }
        let mut args = XdrReader::new(msg.get(call.args_at..).unwrap_or(&[]));
        let garbage = || {
            PortmapOutcome::Reply(accepted_reply(call.xid, AcceptStat::GarbageArgs).into_bytes())
        };
        let mut w;
        match call.proc_ {
            PROC_NULL => w = accepted_reply(call.xid, AcceptStat::Success),
            PROC_SET | PROC_UNSET => {
                if Mapping::decode(&mut args).is_err() {
                    return garbage();
                }
                w = accepted_reply(call.xid, AcceptStat::Success);
                w.bool(false);
            }
            PROC_GETPORT => {
                let Ok(m) = Mapping::decode(&mut args) else {
                    return garbage();
                };
                w = accepted_reply(call.xid, AcceptStat::Success);
                w.u32(self.getport(&m));
            }
            PROC_DUMP => {
                w = accepted_reply(call.xid, AcceptStat::Success);
                for m in &self.mappings {
                    w.bool(true);
                    m.encode(&mut w);
                }
                w.bool(false);
            }
            PROC_CALLIT => return PortmapOutcome::Ignore,
            _ => w = accepted_reply(call.xid, AcceptStat::ProcUnavail),
        }
        PortmapOutcome::Reply(w.into_bytes())
    }
}

/// A GETPORT call message (for clients and tests).
pub fn encode_getport_call(xid: u32, prog: u32, vers: u32, prot: u32) -> Vec<u8> {
    let mut args = XdrWriter::new();
    Mapping {
        prog,
        vers,
        prot,
        port: 0,
    }
    .encode(&mut args);
    encode_call(
        xid,
        PMAP_PROG,
        PMAP_VERS,
        PROC_GETPORT,
        None,
        &args.into_bytes(),
    )
}

/// A DUMP call message (for clients and tests).
pub fn encode_dump_call(xid: u32) -> Vec<u8> {
    encode_call(xid, PMAP_PROG, PMAP_VERS, PROC_DUMP, None, &[])
}

/// Decode a GETPORT reply: `(xid, port)`. Never panics.
pub fn decode_getport_reply(msg: &[u8]) -> Result<(u32, u32), RpcError> {
    let h = super::rpc::decode_reply(msg)?;
    if h.accept != Some(AcceptStat::Success) {
        return Err(RpcError::Xdr(XdrError::BadDiscriminant(1)));
    }
    let mut r = XdrReader::new(msg.get(h.results_at..).unwrap_or(&[]));
    Ok((h.xid, r.u32()?))
}

/// Decode a DUMP reply: `(xid, mappings)`. Never panics; at most 1024 mappings.
pub fn decode_dump_reply(msg: &[u8]) -> Result<(u32, Vec<Mapping>), RpcError> {
    let h = super::rpc::decode_reply(msg)?;
    if h.accept != Some(AcceptStat::Success) {
        return Err(RpcError::Xdr(XdrError::BadDiscriminant(1)));
    }
    let mut r = XdrReader::new(msg.get(h.results_at..).unwrap_or(&[]));
    let mut out = Vec::new();
    while r.bool()? {
        if out.len() >= 1024 {
            return Err(RpcError::Xdr(XdrError::TooLong {
                len: 1025,
                max: 1024,
            }));
        }
        out.push(Mapping::decode(&mut r)?);
    }
    Ok((h.xid, out))
}
