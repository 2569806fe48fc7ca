//! A small raw NFSv3 + MOUNT v3 client over TCP (blocking), enough to check handles across
//! servers, ACCESS, READ and the write procedures' refusals.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use raftboot::nfs::mount::{self, MOUNT_PROG};
use raftboot::nfs::nfs3::procs;
use raftboot::nfs::portmap::NFS_PROG;
use raftboot::nfs::rpc::{
    decode_reply, encode_call, frame_record, AcceptStat, AuthUnix, RecordReader,
};
use raftboot::nfs::status::NFS3_OK;
use raftboot::nfs::xdr::{XdrReader, XdrWriter};
use raftboot::nfs::{decode_post_op_attr, Fattr3};

pub struct RawClient {
    stream: TcpStream,
    xid: u32,
    records: RecordReader,
    pub auth: AuthUnix,
}

/// `sattr3` with nothing set.
pub fn sattr_none(w: &mut XdrWriter) {
    w.bool(false)
        .bool(false)
        .bool(false)
        .bool(false)
        .u32(0)
        .u32(0);
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        RawClient {
            stream,
            xid: 100,
            records: RecordReader::new(8 << 20),
            auth: AuthUnix::default(),
        }
    }

    /// Send raw bytes (for hostile-input tests).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Read the next whole reply record.
    pub fn recv(&mut self) -> Vec<u8> {
        let mut buf = vec![0u8; 65536];
        loop {
            if let Some(r) = self.records.next_record().unwrap() {
                return r;
            }
            let n = self.stream.read(&mut buf).unwrap();
            assert!(n > 0, "server closed the connection");
            self.records.push(&buf[..n]);
        }
    }

    /// One call; returns the result bytes of a successful (accepted) call.
    pub fn call(&mut self, prog: u32, vers: u32, proc_: u32, args: &[u8]) -> Vec<u8> {
        self.xid += 1;
        let msg = encode_call(self.xid, prog, vers, proc_, Some(&self.auth), args);
        self.stream.write_all(&frame_record(&msg)).unwrap();
        let reply = self.recv();
        let h = decode_reply(&reply).unwrap();
        assert_eq!(h.xid, self.xid);
        assert_eq!(
            h.accept,
            Some(AcceptStat::Success),
            "prog {prog} proc {proc_}"
        );
        reply[h.results_at..].to_vec()
    }

    pub fn nfs(&mut self, proc_: u32, args: XdrWriter) -> Vec<u8> {
        self.call(NFS_PROG, 3, proc_, &args.into_bytes())
    }

    /// The NFS status of a call.
    pub fn status(&mut self, proc_: u32, args: XdrWriter) -> u32 {
        XdrReader::new(&self.nfs(proc_, args)).u32().unwrap()
    }

    pub fn mnt(&mut self, path: &str) -> Result<Vec<u8>, u32> {
        let mut a = XdrWriter::new();
        a.opaque(path.as_bytes());
        let res = self.call(MOUNT_PROG, 3, mount::procs::MNT, &a.into_bytes());
        mount::decode_mnt_result(&mut XdrReader::new(&res)).unwrap()
    }

    pub fn lookup(&mut self, dir: &[u8], name: &str) -> Result<Vec<u8>, u32> {
        let mut a = fh(dir);
        a.opaque(name.as_bytes());
        let res = self.nfs(procs::LOOKUP, a);
        let mut r = XdrReader::new(&res);
        match r.u32().unwrap() {
            NFS3_OK => Ok(r.opaque(64).unwrap().to_vec()),
            st => Err(st),
        }
    }

    pub fn walk(&mut self, root: &[u8], path: &str) -> Vec<u8> {
        let mut cur = root.to_vec();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            cur = self
                .lookup(&cur, part)
                .unwrap_or_else(|st| panic!("lookup {part}: {st}"));
        }
        cur
    }

    pub fn getattr(&mut self, f: &[u8]) -> Result<Fattr3, u32> {
        let res = self.nfs(procs::GETATTR, fh(f));
        let mut r = XdrReader::new(&res);
        match r.u32().unwrap() {
            NFS3_OK => Ok(Fattr3::decode(&mut r).unwrap()),
            st => Err(st),
        }
    }

    pub fn access(&mut self, f: &[u8], mask: u32) -> Result<u32, u32> {
        let mut a = fh(f);
        a.u32(mask);
        let res = self.nfs(procs::ACCESS, a);
        let mut r = XdrReader::new(&res);
        match r.u32().unwrap() {
            NFS3_OK => {
                decode_post_op_attr(&mut r).unwrap();
                Ok(r.u32().unwrap())
            }
            st => Err(st),
        }
    }

    pub fn readlink(&mut self, f: &[u8]) -> Result<String, u32> {
        let res = self.nfs(procs::READLINK, fh(f));
        let mut r = XdrReader::new(&res);
        let st = r.u32().unwrap();
        decode_post_op_attr(&mut r).unwrap();
        if st != NFS3_OK {
            return Err(st);
        }
        Ok(String::from_utf8(r.opaque(4096).unwrap().to_vec()).unwrap())
    }

    pub fn read(&mut self, f: &[u8], offset: u64, count: u32) -> Result<(Vec<u8>, bool), u32> {
        let mut a = fh(f);
        a.u64(offset).u32(count);
        let res = self.nfs(procs::READ, a);
        let mut r = XdrReader::new(&res);
        let st = r.u32().unwrap();
        decode_post_op_attr(&mut r).unwrap();
        if st != NFS3_OK {
            return Err(st);
        }
        let _count = r.u32().unwrap();
        let eof = r.bool().unwrap();
        Ok((r.opaque(u32::MAX).unwrap().to_vec(), eof))
    }

    /// Read a whole file in `chunk`-byte READs.
    pub fn read_all(&mut self, f: &[u8], chunk: u32) -> Result<Vec<u8>, u32> {
        let mut out = Vec::new();
        loop {
            let (data, eof) = self.read(f, out.len() as u64, chunk)?;
            out.extend_from_slice(&data);
            if eof {
                return Ok(out);
            }
            assert!(!data.is_empty(), "no progress before EOF");
        }
    }
}

/// Arguments starting with a file handle.
pub fn fh(f: &[u8]) -> XdrWriter {
    let mut a = XdrWriter::new();
    a.opaque(f);
    a
}
