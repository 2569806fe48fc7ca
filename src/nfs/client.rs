//! [`NfsClient`]: a small blocking NFSv3 + MOUNT v3 + portmapper client over TCP — what the
//! boot simulator, the failover drill and the test suites use to mount an export the way
//! an initramfs does (GETPORT, MNT, LOOKUP, READ) and to send raw handles. Every failure is a
//! typed [`NfsClientError`]; nothing from the network can make it panic.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::attrs::{decode_post_op_attr, Fattr3};
use super::mount::{self, MOUNT_PROG};
use super::nfs3::procs;
use super::portmap::{Mapping, IPPROTO_TCP, NFS_PROG, PMAP_PROG, PMAP_VERS};
use super::rpc::{decode_reply, encode_call, frame_record, AcceptStat, AuthUnix, RecordReader};
use super::status::NFS3_OK;
use super::xdr::{XdrError, XdrReader, XdrWriter};

/// Largest reply record accepted.
const MAX_RECORD: usize = 8 << 20;

/// Why an NFS client call failed.
#[derive(Debug, thiserror::Error)]
pub enum NfsClientError {
    /// Connecting, sending or receiving failed (including timeouts).
    #[error("NFS transport: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection.
    #[error("the NFS server closed the connection")]
    Closed,
    /// A reply did not decode.
    #[error("malformed NFS reply: {0}")]
    Malformed(String),
    /// The call was not accepted (denied, program or procedure unavailable).
    #[error("RPC call not accepted: {0}")]
    NotAccepted(String),
    /// The procedure answered with an NFS or MOUNT error status.
    #[error("{what} failed with status {status}")]
    Status {
        /// The operation.
        what: &'static str,
        /// `nfsstat3` or `mountstat3`.
        status: u32,
    },
    /// The portmapper does not know the program.
    #[error("the portmapper has no TCP port for program {0}")]
    NotRegistered(u32),
}

impl From<XdrError> for NfsClientError {
    fn from(e: XdrError) -> Self {
        NfsClientError::Malformed(e.to_string())
    }
}

/// One TCP connection to an RPC server (NFS, MOUNT or the portmapper).
pub struct NfsClient {
    stream: TcpStream,
    xid: u32,
    records: RecordReader,
    /// The credential sent with every call (root by default).
    pub auth: AuthUnix,
}

/// Arguments that start with a file handle.
pub fn fh_args(f: &[u8]) -> XdrWriter {
    let mut a = XdrWriter::new();
    a.opaque(f);
    a
}

impl NfsClient {
    /// Connect with `timeout` for the connection and for each reply.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<NfsClient, NfsClientError> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let _ = stream.set_nodelay(true);
        Ok(NfsClient {
            stream,
            xid: rand::random::<u32>() >> 1,
            records: RecordReader::new(MAX_RECORD),
            auth: AuthUnix::default(),
        })
    }

    /// Send raw bytes (for hostile-input tests).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), NfsClientError> {
        Ok(self.stream.write_all(bytes)?)
    }

    /// Read the next whole reply record.
    pub fn recv(&mut self) -> Result<Vec<u8>, NfsClientError> {
        let mut buf = vec![0u8; 65536];
        loop {
            match self.records.next_record() {
                Ok(Some(r)) => return Ok(r),
                Ok(None) => {}
                Err(e) => return Err(NfsClientError::Malformed(e.to_string())),
            }
            let n = self.stream.read(&mut buf)?;
            if n == 0 {
                return Err(NfsClientError::Closed);
            }
            self.records.push(buf.get(..n).unwrap_or_default());
        }
    }

    /// One call; the result bytes of an accepted, successful call.
    pub fn call(
        &mut self,
        prog: u32,
        vers: u32,
        proc_: u32,
        args: &[u8],
    ) -> Result<Vec<u8>, NfsClientError> {
        self.xid = self.xid.wrapping_add(1);
        let msg = encode_call(self.xid, prog, vers, proc_, Some(&self.auth), args);
        self.stream.write_all(&frame_record(&msg))?;
        loop {
            let reply = self.recv()?;
            let h = decode_reply(&reply).map_err(|e| NfsClientError::Malformed(e.to_string()))?;
            if h.xid != self.xid {
                // A late reply to an earlier call: skip it.
                continue;
            }
            if h.accept != Some(AcceptStat::Success) {
                return Err(NfsClientError::NotAccepted(format!(
                    "program {prog} procedure {proc_}: {:?}",
                    h.accept
                )));
            }
            return Ok(reply.get(h.results_at..).unwrap_or_default().to_vec());
        }
    }

    /// The NULL procedure of `prog` (a liveness check).
    pub fn null(&mut self, prog: u32, vers: u32) -> Result<(), NfsClientError> {
        self.call(prog, vers, 0, &[]).map(|_| ())
    }

    /// Portmapper GETPORT for `prog`/`vers` over TCP (this client must be connected to the
    /// portmapper).
    pub fn getport(&mut self, prog: u32, vers: u32) -> Result<u16, NfsClientError> {
        let mut a = XdrWriter::new();
        Mapping {
            prog,
            vers,
            prot: IPPROTO_TCP,
            port: 0,
        }
        .encode(&mut a);
        let res = self.call(PMAP_PROG, PMAP_VERS, 3, &a.into_bytes())?;
        let port = XdrReader::new(&res).u32()?;
        match u16::try_from(port) {
            Ok(0) | Err(_) => Err(NfsClientError::NotRegistered(prog)),
            Ok(p) => Ok(p),
        }
    }

    /// An NFSv3 call.
    pub fn nfs(&mut self, proc_: u32, args: XdrWriter) -> Result<Vec<u8>, NfsClientError> {
        self.call(NFS_PROG, 3, proc_, &args.into_bytes())
    }

    /// The `nfsstat3` of an NFSv3 call (for the write procedures' refusals).
    pub fn status(&mut self, proc_: u32, args: XdrWriter) -> Result<u32, NfsClientError> {
        Ok(XdrReader::new(&self.nfs(proc_, args)?).u32()?)
    }

    /// MOUNT MNT: the root handle of `path`.
    pub fn mnt(&mut self, path: &str) -> Result<Vec<u8>, NfsClientError> {
        let mut a = XdrWriter::new();
        a.opaque(path.as_bytes());
        let res = self.call(MOUNT_PROG, 3, mount::procs::MNT, &a.into_bytes())?;
        match mount::decode_mnt_result(&mut XdrReader::new(&res))? {
            Ok(h) => Ok(h),
            Err(status) => Err(NfsClientError::Status {
                what: "MNT",
                status,
            }),
        }
    }

    /// LOOKUP `name` in `dir`.
    pub fn lookup(&mut self, dir: &[u8], name: &str) -> Result<Vec<u8>, NfsClientError> {
        let mut a = fh_args(dir);
        a.opaque(name.as_bytes());
        let res = self.nfs(procs::LOOKUP, a)?;
        let mut r = XdrReader::new(&res);
        match r.u32()? {
            NFS3_OK => Ok(r.opaque(64)?.to_vec()),
            status => Err(NfsClientError::Status {
                what: "LOOKUP",
                status,
            }),
        }
    }

    /// LOOKUP each component of `path` from `root`.
    pub fn walk(&mut self, root: &[u8], path: &str) -> Result<Vec<u8>, NfsClientError> {
        let mut cur = root.to_vec();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            cur = self.lookup(&cur, part)?;
        }
        Ok(cur)
    }

    /// GETATTR.
    pub fn getattr(&mut self, f: &[u8]) -> Result<Fattr3, NfsClientError> {
        let res = self.nfs(procs::GETATTR, fh_args(f))?;
        let mut r = XdrReader::new(&res);
        match r.u32()? {
            NFS3_OK => Ok(Fattr3::decode(&mut r)?),
            status => Err(NfsClientError::Status {
                what: "GETATTR",
                status,
            }),
        }
    }

    /// ACCESS: the granted bits of `mask`.
    pub fn access(&mut self, f: &[u8], mask: u32) -> Result<u32, NfsClientError> {
        let mut a = fh_args(f);
        a.u32(mask);
        let res = self.nfs(procs::ACCESS, a)?;
        let mut r = XdrReader::new(&res);
        match r.u32()? {
            NFS3_OK => {
                decode_post_op_attr(&mut r)?;
                Ok(r.u32()?)
            }
            status => Err(NfsClientError::Status {
                what: "ACCESS",
                status,
            }),
        }
    }

    /// READLINK.
    pub fn readlink(&mut self, f: &[u8]) -> Result<String, NfsClientError> {
        let res = self.nfs(procs::READLINK, fh_args(f))?;
        let mut r = XdrReader::new(&res);
        let status = r.u32()?;
        decode_post_op_attr(&mut r)?;
        if status != NFS3_OK {
            return Err(NfsClientError::Status {
                what: "READLINK",
                status,
            });
        }
        String::from_utf8(r.opaque(4096)?.to_vec())
            .map_err(|e| NfsClientError::Malformed(e.to_string()))
    }

    /// READ `count` bytes at `offset`: the data and the EOF flag.
    pub fn read(
        &mut self,
        f: &[u8],
        offset: u64,
        count: u32,
    ) -> Result<(Vec<u8>, bool), NfsClientError> {
        let mut a = fh_args(f);
        a.u64(offset).u32(count);
        let res = self.nfs(procs::READ, a)?;
        let mut r = XdrReader::new(&res);
        let status = r.u32()?;
        decode_post_op_attr(&mut r)?;
        if status != NFS3_OK {
            return Err(NfsClientError::Status {
                what: "READ",
                status,
            });
        }
        let _count = r.u32()?;
        let eof = r.bool()?;
        Ok((r.opaque(u32::MAX)?.to_vec(), eof))
    }

    /// Read a whole file in `chunk`-byte READs.
    pub fn read_all(&mut self, f: &[u8], chunk: u32) -> Result<Vec<u8>, NfsClientError> {
        let mut out = Vec::new();
        loop {
            let (data, eof) = self.read(f, out.len() as u64, chunk)?;
            out.extend_from_slice(&data);
            if eof {
                return Ok(out);
            }
            if data.is_empty() {
                return Err(NfsClientError::Malformed(
                    "READ returned no data before EOF".into(),
                ));
            }
        }
    }
}
