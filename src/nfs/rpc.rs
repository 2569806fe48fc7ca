//! ONC RPC version 2 (RFC 5531): call headers, AUTH_UNIX credentials, reply headers and
//! TCP record marking. Pure encode/decode functions; the socket loops live in `server`.

use super::xdr::{XdrError, XdrReader, XdrWriter};

/// RPC protocol version this server speaks.
pub const RPC_VERSION: u32 = 2;
/// `msg_type` CALL.
const CALL: u32 = 0;
/// `msg_type` REPLY.
const REPLY: u32 = 1;
/// Maximum body of an authentication field (RFC 5531).
const MAX_AUTH: u32 = 400;

/// `AUTH_NONE`.
pub const AUTH_NONE: u32 = 0;
/// `AUTH_UNIX` (`AUTH_SYS`).
pub const AUTH_UNIX: u32 = 1;

/// Largest RPC record accepted over TCP (a READ/READDIR call is < 1 KiB; WRITE calls,
/// which are refused anyway, are bounded by the write size we advertise).
pub const MAX_RECORD: usize = 1024 * 1024 + 64 * 1024;

/// Why a received message is not a call this server can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The bytes do not decode.
    #[error("malformed RPC message: {0}")]
    Xdr(#[from] XdrError),
    /// A REPLY (or unknown `msg_type`) arrived where a CALL was expected.
    #[error("RPC message type {0} is not a call")]
    NotACall(u32),
}

/// `AUTH_UNIX` credential body (RFC 5531 appendix A).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthUnix {
    /// Caller's effective user id.
    pub uid: u32,
    /// Caller's effective group id.
    pub gid: u32,
    /// Supplementary groups (at most 16).
    pub gids: Vec<u32>,
}

impl AuthUnix {
    /// Decode the body of an `AUTH_UNIX` credential.
    pub fn decode(body: &[u8]) -> Result<AuthUnix, XdrError> {
        let mut r = XdrReader::new(body);
        let _stamp = r.u32()?;
        let _machine = r.opaque(255)?;
        let uid = r.u32()?;
        let gid = r.u32()?;
        let n = r.u32()?;
        if n > 16 {
            return Err(XdrError::TooLong { len: n, max: 16 });
        }
        let gids = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
        Ok(AuthUnix { uid, gid, gids })
    }

    /// Encode as an `AUTH_UNIX` credential body (used by the test clients).
    pub fn encode(&self, machine: &str) -> Vec<u8> {
        let mut w = XdrWriter::new();
        w.u32(0)
            .opaque(machine.as_bytes())
            .u32(self.uid)
            .u32(self.gid);
        w.u32(self.gids.len() as u32);
        for g in &self.gids {
            w.u32(*g);
        }
        w.into_bytes()
    }
}

/// The fixed part of an RPC call, plus where its arguments start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallHeader {
    /// Transaction id, echoed in the reply.
    pub xid: u32,
    /// RPC version the caller speaks (must be 2 to be served).
    pub rpcvers: u32,
    /// Program number.
    pub prog: u32,
    /// Program version.
    pub vers: u32,
    /// Procedure number.
    pub proc_: u32,
    /// The caller's `AUTH_UNIX` credential (None for other flavors or a malformed body).
    pub auth: Option<AuthUnix>,
    /// Offset of the procedure arguments in the message.
    pub args_at: usize,
}

/// Decode the header of an RPC call message. Never panics.
pub fn decode_call(msg: &[u8]) -> Result<CallHeader, RpcError> {
    let mut r = XdrReader::new(msg);
    let xid = r.u32()?;
    let mtype = r.u32()?;
    if mtype != CALL {
        return Err(RpcError::NotACall(mtype));
    }
    let rpcvers = r.u32()?;
    let prog = r.u32()?;
    let vers = r.u32()?;
    let proc_ = r.u32()?;
    let cred_flavor = r.u32()?;
    let cred = r.opaque(MAX_AUTH)?;
    let _verf_flavor = r.u32()?;
    let _verf = r.opaque(MAX_AUTH)?;
    let auth = if cred_flavor == AUTH_UNIX {
        AuthUnix::decode(cred).ok()
    } else {
        None
    };
    Ok(CallHeader {
        xid,
        rpcvers,
        prog,
        vers,
        proc_,
        auth,
        args_at: msg.len() - r.remaining(),
    })
}

/// Encode a call message (header with the given credential, then `args`). For clients:
/// the test suites' raw NFS client and the portmapper tests.
pub fn encode_call(
    xid: u32,
    prog: u32,
    vers: u32,
    proc_: u32,
    auth: Option<&AuthUnix>,
    args: &[u8],
) -> Vec<u8> {
    let mut w = XdrWriter::with_capacity(64 + args.len());
    w.u32(xid)
        .u32(CALL)
        .u32(RPC_VERSION)
        .u32(prog)
        .u32(vers)
        .u32(proc_);
    match auth {
        Some(a) => w.u32(AUTH_UNIX).opaque(&a.encode("raftboot-test")),
        None => w.u32(AUTH_NONE).opaque(&[]),
    };
    w.u32(AUTH_NONE).opaque(&[]).raw(args);
    w.into_bytes()
}

/// How an accepted call was answered (RFC 5531 `accept_stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptStat {
    /// Executed; results follow.
    Success,
    /// The program is not served here.
    ProgUnavail,
    /// The program is served, but not this version.
    ProgMismatch {
        /// Lowest version served.
        low: u32,
        /// Highest version served.
        high: u32,
    },
    /// The procedure does not exist.
    ProcUnavail,
    /// The arguments do not decode.
    GarbageArgs,
}

/// Start an accepted reply (`AUTH_NONE` verifier); append the results after it.
pub fn accepted_reply(xid: u32, stat: AcceptStat) -> XdrWriter {
    let mut w = XdrWriter::with_capacity(128);
    w.u32(xid).u32(REPLY).u32(0).u32(AUTH_NONE).opaque(&[]);
    match stat {
        AcceptStat::Success => w.u32(0),
        AcceptStat::ProgUnavail => w.u32(1),
        AcceptStat::ProgMismatch { low, high } => w.u32(2).u32(low).u32(high),
        AcceptStat::ProcUnavail => w.u32(3),
        AcceptStat::GarbageArgs => w.u32(4),
    };
    w
}

/// A denied reply: RPC version mismatch (we speak only version 2).
pub fn rpc_mismatch_reply(xid: u32) -> Vec<u8> {
    let mut w = XdrWriter::new();
    w.u32(xid)
        .u32(REPLY)
        .u32(1)
        .u32(0)
        .u32(RPC_VERSION)
        .u32(RPC_VERSION);
    w.into_bytes()
}

/// A decoded reply header (for clients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyHeader {
    /// Transaction id.
    pub xid: u32,
    /// `None` when the call was denied.
    pub accept: Option<AcceptStat>,
    /// Offset of the results.
    pub results_at: usize,
}

/// Decode a reply header. Never panics.
pub fn decode_reply(msg: &[u8]) -> Result<ReplyHeader, RpcError> {
    let mut r = XdrReader::new(msg);
    let xid = r.u32()?;
    let mtype = r.u32()?;
    if mtype != REPLY {
        return Err(RpcError::NotACall(mtype));
    }
    let accept = match r.u32()? {
        0 => {
            let _flavor = r.u32()?;
            let _body = r.opaque(MAX_AUTH)?;
            Some(match r.u32()? {
                0 => AcceptStat::Success,
                1 => AcceptStat::ProgUnavail,
                2 => AcceptStat::ProgMismatch {
                    low: r.u32()?,
                    high: r.u32()?,
                },
                3 => AcceptStat::ProcUnavail,
                4 => AcceptStat::GarbageArgs,
                v => return Err(XdrError::BadDiscriminant(v).into()),
            })
        }
        1 => None,
        v => return Err(XdrError::BadDiscriminant(v).into()),
    };
    Ok(ReplyHeader {
        xid,
        accept,
        results_at: msg.len() - r.remaining(),
    })
}

/// Frame one message as a single last fragment (TCP record marking).
pub fn frame_record(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 4);
    let len = (msg.len() as u32) & 0x7fff_ffff;
    out.extend_from_slice(&(0x8000_0000 | len).to_be_bytes());
    out.extend_from_slice(msg);
    out
}

/// Reassembles TCP record-marked fragments into whole messages, refusing records larger
/// than a limit. Feed bytes with [`push`](Self::push), take messages with
/// [`next_record`](Self::next_record).
#[derive(Debug)]
pub struct RecordReader {
    pending: Vec<u8>,
    record: Vec<u8>,
    max: usize,
}

/// A record (or fragment) larger than the limit: the stream cannot be resynchronized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("RPC record exceeds {max} bytes")]
pub struct RecordTooLarge {
    /// The limit.
    pub max: usize,
}

impl RecordReader {
    /// A reader that accepts records of up to `max` bytes.
    pub fn new(max: usize) -> RecordReader {
        RecordReader {
            pending: Vec::new(),
            record: Vec::new(),
            max,
        }
    }

    /// Append received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next complete record, if one has fully arrived.
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>, RecordTooLarge> {
        loop {
            if self.pending.len() < 4 {
                return Ok(None);
            }
            let head = u32::from_be_bytes([
                self.pending[0],
                self.pending[1],
                self.pending[2],
                self.pending[3],
            ]);
            let last = head & 0x8000_0000 != 0;
            let len = (head & 0x7fff_ffff) as usize;
            if self.record.len().saturating_add(len) > self.max {
                return Err(RecordTooLarge { max: self.max });
            }
            if self.pending.len() < 4 + len {
                return Ok(None);
            }
            self.record.extend_from_slice(&self.pending[4..4 + len]);
            self.pending.drain(..4 + len);
            if last {
                return Ok(Some(std::mem::take(&mut self.record)));
            }
        }
    }
}
