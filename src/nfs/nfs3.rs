//! [`Nfs3`]: the read-only NFSv3 program (100003 v3, RFC 1813) over an [`ImageFs`].
//!
//! Served: NULL, GETATTR, LOOKUP, ACCESS, READLINK, READ, READDIR, READDIRPLUS (in
//! `readdir`), FSSTAT, FSINFO, PATHCONF. Every operation that would change something —
//! SETATTR, WRITE, CREATE, MKDIR, SYMLINK, MKNOD, REMOVE, RMDIR, RENAME, LINK, COMMIT —
//! is answered NFS3ERR_ROFS without looking at its arguments; nothing is ever written.
//!
//! ACCESS answers from the entry's mode, owner and group and the caller's AUTH_UNIX
//! credential (root may read everything and execute what has any x bit): READ, LOOKUP for
//! searchable directories, EXECUTE for executable files, never MODIFY/EXTEND/DELETE.

use crate::cas::EntryKind;

use super::attrs::{post_op_attr, Fattr3};
use super::counters::NfsCounters;
use super::image_fs::{ImageFs, Node};
use super::rpc::AuthUnix;
use super::status::{self, NFS3ERR_INVAL, NFS3ERR_NAMETOOLONG, NFS3ERR_ROFS, NFS3_OK};
use super::xdr::{XdrError, XdrReader, XdrWriter};

/// Largest file handle (NFS3_FHSIZE).
pub const FHSIZE: u32 = 64;
/// Largest file name accepted.
pub const NAME_MAX: u32 = 255;
/// Largest READ served over TCP (also FSINFO rtmax).
pub const READ_MAX: u32 = 1024 * 1024;

/// ACCESS bits.
pub mod access {
    /// Read data / list directory.
    pub const READ: u32 = 0x01;
    /// Look up names in a directory.
    pub const LOOKUP: u32 = 0x02;
    /// Rewrite existing data.
    pub const MODIFY: u32 = 0x04;
    /// Write new data.
    pub const EXTEND: u32 = 0x08;
    /// Delete entries.
    pub const DELETE: u32 = 0x10;
    /// Execute a file.
    pub const EXECUTE: u32 = 0x20;
}

/// Procedure numbers.
pub mod procs {
    #![allow(missing_docs)]
    pub const NULL: u32 = 0;
    pub const GETATTR: u32 = 1;
    pub const SETATTR: u32 = 2;
    pub const LOOKUP: u32 = 3;
    pub const ACCESS: u32 = 4;
    pub const READLINK: u32 = 5;
    pub const READ: u32 = 6;
    pub const WRITE: u32 = 7;
    pub const CREATE: u32 = 8;
    pub const MKDIR: u32 = 9;
    pub const SYMLINK: u32 = 10;
    pub const MKNOD: u32 = 11;
    pub const REMOVE: u32 = 12;
    pub const RMDIR: u32 = 13;
    pub const RENAME: u32 = 14;
    pub const LINK: u32 = 15;
    pub const READDIR: u32 = 16;
    pub const READDIRPLUS: u32 = 17;
    pub const FSSTAT: u32 = 18;
    pub const FSINFO: u32 = 19;
    pub const PATHCONF: u32 = 20;
    pub const COMMIT: u32 = 21;
}

/// One call's view of the NFS program.
pub struct Nfs3<'a> {
    /// The served tree.
    pub fs: &'a ImageFs,
    /// Where to count.
    pub counters: &'a NfsCounters,
    /// Largest reply the transport can carry.
    pub max_reply: usize,
    /// The caller's credential.
    pub auth: Option<&'a AuthUnix>,
}

impl Nfs3<'_> {
    /// Append the results of procedure `proc_` to `out` (which holds the reply header).
    /// `Ok(false)`: no such procedure. `Err`: the arguments do not decode.
    pub fn call(
        &self,
        proc_: u32,
        args: &mut XdrReader<'_>,
        out: &mut XdrWriter,
    ) -> Result<bool, XdrError> {
        use procs::*;
        match proc_ {
            NULL => {}
            GETATTR => self.getattr(args, out)?,
            LOOKUP => self.lookup(args, out)?,
            ACCESS => self.access(args, out)?,
            READLINK => self.readlink(args, out)?,
            READ => self.read(args, out)?,
            READDIR => self.readdir(args, out, false)?,
            READDIRPLUS => self.readdir(args, out, true)?,
            FSSTAT | FSINFO | PATHCONF => self.fs_info(proc_, args, out)?,
            SETATTR | WRITE | CREATE | MKDIR | SYMLINK | MKNOD | REMOVE | RMDIR | COMMIT => {
                self.rofs(out, 2)
            }
            RENAME => self.rofs(out, 4),
            LINK => self.rofs(out, 3),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// NFS3ERR_ROFS followed by `nones` absent optional attributes (the `*resfail` body).
    fn rofs(&self, out: &mut XdrWriter, nones: usize) {
        NfsCounters::inc(&self.counters.rofs_refusals);
        out.u32(NFS3ERR_ROFS);
        for _ in 0..nones {
            out.bool(false);
        }
    }

    /// Decode a file handle and resolve it, counting stale handles and I/O errors.
    pub(super) fn resolve(&self, args: &mut XdrReader<'_>) -> Result<Result<Node, u32>, XdrError> {
        let fh = args.opaque(FHSIZE)?;
        Ok(self.fs.resolve(fh).map_err(|e| self.fail(e)))
    }

    /// Count a failure and return its status.
    pub(super) fn fail(&self, e: super::image_fs::FsError) -> u32 {
        use super::image_fs::FsError;
        match e {
            FsError::Stale | FsError::BadHandle => NfsCounters::inc(&self.counters.stale_handles),
            FsError::Io | FsError::NotYet => NfsCounters::inc(&self.counters.errors),
            _ => {}
        }
        status::of(e)
    }

    fn getattr(&self, args: &mut XdrReader<'_>, out: &mut XdrWriter) -> Result<(), XdrError> {
        match self.resolve(args)? {
            Ok(node) => {
                out.u32(NFS3_OK);
                Fattr3::of(&node).encode(out);
            }
            Err(st) => {
                out.u32(st);
            }
        }
        Ok(())
    }

    fn lookup(&self, args: &mut XdrReader<'_>, out: &mut XdrWriter) -> Result<(), XdrError> {
        let dir = self.resolve(args)?;
        let name = args.opaque(u32::MAX)?;
        let dir = match dir {
            Ok(d) => d,
            Err(st) => {
                out.u32(st).bool(false);
                return Ok(());
            }
        };
        let dir_attr = Fattr3::of(&dir);
        let found = if name.len() > NAME_MAX as usize {
            Err(NFS3ERR_NAMETOOLONG)
        } else {
            self.fs.lookup(&dir, name).map_err(|e| self.fail(e))
        };
        match found {
            Ok(node) => {
                out.u32(NFS3_OK).opaque(&node.handle().encode());
                post_op_attr(out, Some(&Fattr3::of(&node)));
                post_op_attr(out, Some(&dir_attr));
            }
            Err(st) => {
                out.u32(st);
                post_op_attr(out, Some(&dir_attr));
            }
        }
        Ok(())
    }

    fn access(&self, args: &mut XdrReader<'_>, out: &mut XdrWriter) -> Result<(), XdrError> {
        let node = self.resolve(args)?;
        let wanted = args.u32()?;
        match node {
            Ok(node) => {
                out.u32(NFS3_OK);
                post_op_attr(out, Some(&Fattr3::of(&node)));
                out.u32(granted(&node, self.auth) & wanted);
            }
            Err(st) => {
                out.u32(st).bool(false);
            }
        }
        Ok(())
    }

    fn readlink(&self, args: &mut XdrReader<'_>, out: &mut XdrWriter) -> Result<(), XdrError> {
        let node = match self.resolve(args)? {
            Ok(n) => n,
            Err(st) => {
                out.u32(st).bool(false);
                return Ok(());
            }
        };
        let attr = Fattr3::of(&node);
        match &node.entry().kind {
            EntryKind::Symlink { target } => {
                out.u32(NFS3_OK);
                post_op_attr(out, Some(&attr));
                out.opaque(target.as_bytes());
            }
            _ => {
                out.u32(NFS3ERR_INVAL);
                post_op_attr(out, Some(&attr));
            }
        }
        Ok(())
    }

    fn read(&self, args: &mut XdrReader<'_>, out: &mut XdrWriter) -> Result<(), XdrError> {
        let node = self.resolve(args)?;
        let offset = args.u64()?;
        let count = args.u32()?;
        let node = match node {
            Ok(n) => n,
            Err(st) => {
                out.u32(st).bool(false);
                return Ok(());
            }
        };
        let limit = self.max_reply.saturating_sub(out.len() + 128);
        let count = count
            .min(READ_MAX)
            .min(u32::try_from(limit).unwrap_or(READ_MAX));
        let attr = Fattr3::of(&node);
        // The data goes straight from the blob into the reply: count and eof are written
        // as placeholders and filled in once the verified read is done.
        let mark = out.len();
        out.u32(NFS3_OK);
        post_op_attr(out, Some(&attr));
        let count_at = out.len();
        out.u32(0).bool(false);
        let mut eof = false;
        let read = out.opaque_with(count as usize, |buf| {
            eof = self.fs.read_into(&node, offset, count, buf)?;
            Ok::<(), super::image_fs::FsError>(())
        });
        match read {
            Ok(n) => {
                NfsCounters::inc(&self.counters.reads);
                NfsCounters::add(&self.counters.read_bytes, n as u64);
                out.patch_u32(count_at, n as u32);
                out.patch_u32(count_at + 4, u32::from(eof));
            }
            Err(e) => {
                if e == super::image_fs::FsError::Io {
                    tracing::error!(
                        seq = node.seq(),
                        path = %node.entry().path,
                        offset,
                        "NFS READ refused: stored data failed verification or is unreadable"
                    );
                }
                out.truncate(mark);
                out.u32(self.fail(e));
                post_op_attr(out, Some(&attr));
            }
        }
        Ok(())
    }

    fn fs_info(
        &self,
        proc_: u32,
        args: &mut XdrReader<'_>,
        out: &mut XdrWriter,
    ) -> Result<(), XdrError> {
        let node = match self.resolve(args)? {
            Ok(n) => n,
            Err(st) => {
                out.u32(st).bool(false);
                return Ok(());
            }
        };
        out.u32(NFS3_OK);
        post_op_attr(out, Some(&Fattr3::of(&node)));
        let m = node.manifest();
        match proc_ {
            procs::FSSTAT => {
                out.u64(m.total_file_bytes()).u64(0).u64(0);
                out.u64(m.len() as u64).u64(0).u64(0);
                out.u32(u32::MAX); // invarsec: the image never changes
            }
            procs::FSINFO => {
                // 1 MiB over TCP; what fits one datagram (in 4 KiB units) over UDP.
                let fits = self.max_reply.saturating_sub(4096) / 4096 * 4096;
                let rtmax = READ_MAX.min(u32::try_from(fits).unwrap_or(READ_MAX));
                out.u32(rtmax).u32(rtmax).u32(4096); // rtmax, rtpref, rtmult
                out.u32(65536).u32(65536).u32(4096); // wtmax, wtpref, wtmult
                out.u32(65536); // dtpref
                out.u64(u64::MAX); // maxfilesize
                out.u32(0).u32(1); // time_delta: 1 ns
                                   // FSF3_LINK | FSF3_SYMLINK | FSF3_HOMOGENEOUS | FSF3_CANSETTIME
                out.u32(0x1 | 0x2 | 0x8 | 0x10);
            }
            _ => {
                out.u32(u32::MAX).u32(NAME_MAX); // linkmax, name_max
                out.bool(true).bool(true).bool(false).bool(true);
            }
        }
        Ok(())
    }
}

/// The ACCESS bits the caller holds on `node`.
pub fn granted(node: &Node, auth: Option<&AuthUnix>) -> u32 {
    let e = node.entry();
    let is_dir = e.is_dir();
    let (read, exec) = match auth {
        Some(a) if a.uid == 0 => (true, is_dir || e.mode & 0o111 != 0),
        _ => {
            let bits = match auth {
                Some(a) if a.uid == e.uid => e.mode >> 6,
                Some(a) if a.gid == e.gid || a.gids.contains(&e.gid) => e.mode >> 3,
                _ => e.mode,
            };
            (bits & 0o4 != 0, bits & 0o1 != 0)
        }
    };
    let mut bits = 0;
    if read {
        bits |= access::READ;
    }
    if exec {
        bits |= if is_dir {
            access::LOOKUP
        } else {
            access::EXECUTE
        };
    }
    bits
}
