//! The test suites' raw NFS client: the library's [`NfsClient`] with failures turned into
//! panics (test code), plus argument helpers for the write procedures' refusals.

use std::net::SocketAddr;
use std::time::Duration;

use raftboot::nfs::client::{NfsClient, NfsClientError};
use raftboot::nfs::rpc::AuthUnix;
use raftboot::nfs::xdr::XdrWriter;
use raftboot::nfs::Fattr3;

pub use raftboot::nfs::client::fh_args as fh;

pub struct RawClient {
    inner: NfsClient,
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

/// An NFS error status as the old `Err(u32)` form; other failures panic.
fn st<T>(r: Result<T, NfsClientError>) -> Result<T, u32> {
    match r {
        Ok(v) => Ok(v),
        Err(NfsClientError::Status { status, .. }) => Err(status),
        Err(e) => panic!("NFS call failed: {e}"),
    }
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        RawClient {
            inner: NfsClient::connect(addr, Duration::from_secs(20)).unwrap(),
            auth: AuthUnix::default(),
        }
    }

    fn c(&mut self) -> &mut NfsClient {
        self.inner.auth = self.auth.clone();
        &mut self.inner
    }

    /// Send raw bytes (for hostile-input tests).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.c().send_raw(bytes).unwrap();
    }

    /// Read the next whole reply record.
    pub fn recv(&mut self) -> Vec<u8> {
        self.c().recv().unwrap()
    }

    /// One call; returns the result bytes of a successful (accepted) call.
    pub fn call(&mut self, prog: u32, vers: u32, proc_: u32, args: &[u8]) -> Vec<u8> {
        self.c()
            .call(prog, vers, proc_, args)
            .unwrap_or_else(|e| panic!("prog {prog} proc {proc_}: {e}"))
    }

    pub fn nfs(&mut self, proc_: u32, args: XdrWriter) -> Vec<u8> {
        self.c().nfs(proc_, args).unwrap()
    }

    /// The NFS status of a call.
    pub fn status(&mut self, proc_: u32, args: XdrWriter) -> u32 {
        self.c().status(proc_, args).unwrap()
    }

    pub fn mnt(&mut self, path: &str) -> Result<Vec<u8>, u32> {
        st(self.c().mnt(path))
    }

    pub fn lookup(&mut self, dir: &[u8], name: &str) -> Result<Vec<u8>, u32> {
        st(self.c().lookup(dir, name))
    }

    pub fn walk(&mut self, root: &[u8], path: &str) -> Vec<u8> {
        self.c()
            .walk(root, path)
            .unwrap_or_else(|e| panic!("walk {path}: {e}"))
    }

    pub fn getattr(&mut self, f: &[u8]) -> Result<Fattr3, u32> {
        st(self.c().getattr(f))
    }

    pub fn access(&mut self, f: &[u8], mask: u32) -> Result<u32, u32> {
        st(self.c().access(f, mask))
    }

    pub fn readlink(&mut self, f: &[u8]) -> Result<String, u32> {
        st(self.c().readlink(f))
    }

    pub fn read(&mut self, f: &[u8], offset: u64, count: u32) -> Result<(Vec<u8>, bool), u32> {
        st(self.c().read(f, offset, count))
    }

    /// Read a whole file in `chunk`-byte READs.
    pub fn read_all(&mut self, f: &[u8], chunk: u32) -> Result<Vec<u8>, u32> {
        st(self.c().read_all(f, chunk))
    }
}
