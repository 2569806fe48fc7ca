//! [`Fattr3`]: NFSv3 file attributes of a manifest entry, and their XDR form.
//!
//! Everything comes from the manifest and the image's sequence number: type, permission
//! bits (incl. setuid/setgid/sticky), uid, gid, size, link count, device numbers, mtime
//! (atime and ctime are reported as mtime), fsid = image seq, fileid from the handle.
//! Like knfsd, `mode` carries the 12 permission bits and the type travels in `type`.

use crate::cas::EntryKind;

use super::image_fs::Node;
use super::xdr::{XdrError, XdrReader, XdrWriter};

/// NFSv3 file types (`ftype3`).
pub mod ftype {
    /// Regular file.
    pub const REG: u32 = 1;
    /// Directory.
    pub const DIR: u32 = 2;
    /// Block device.
    pub const BLK: u32 = 3;
    /// Character device.
    pub const CHR: u32 = 4;
    /// Symbolic link.
    pub const LNK: u32 = 5;
    /// Socket.
    pub const SOCK: u32 = 6;
    /// Named pipe.
    pub const FIFO: u32 = 7;
}

/// Encoded size of an `fattr3`.
pub const FATTR3_LEN: usize = 84;

/// NFSv3 `fattr3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fattr3 {
    /// `ftype3`.
    pub ftype: u32,
    /// Permission bits (`mode & 0o7777`).
    pub mode: u32,
    /// Link count.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Bytes used on disk (reported as the size).
    pub used: u64,
    /// Device major and minor (`specdata3`).
    pub rdev: (u32, u32),
    /// File system id: the image sequence number.
    pub fsid: u64,
    /// Inode number.
    pub fileid: u64,
    /// Modification time (seconds, nanoseconds); also sent as atime and ctime.
    pub mtime: (u32, u32),
}

impl Fattr3 {
    /// Attributes of a resolved entry.
    pub fn of(node: &Node) -> Fattr3 {
        let e = node.entry();
        let (ftype, rdev) = match &e.kind {
            EntryKind::Dir => (ftype::DIR, (0, 0)),
            EntryKind::File { .. } | EntryKind::HardLink { .. } => (ftype::REG, (0, 0)),
            EntryKind::Symlink { .. } => (ftype::LNK, (0, 0)),
            EntryKind::CharDevice { major, minor } => (ftype::CHR, (*major, *minor)),
            EntryKind::BlockDevice { major, minor } => (ftype::BLK, (*major, *minor)),
            EntryKind::Fifo => (ftype::FIFO, (0, 0)),
            EntryKind::Socket => (ftype::SOCK, (0, 0)),
        };
        let secs = u32::try_from(e.mtime_s.max(0)).unwrap_or(u32::MAX);
        Fattr3 {
            ftype,
            mode: e.mode & 0o7777,
            nlink: e.nlink,
            uid: e.uid,
            gid: e.gid,
            size: e.size,
            used: e.size,
            rdev,
            fsid: node.seq(),
            fileid: node.fileid(),
            mtime: (secs, e.mtime_ns.min(999_999_999)),
        }
    }

    /// Append the XDR form.
    pub fn encode(&self, w: &mut XdrWriter) {
        w.u32(self.ftype)
            .u32(self.mode)
            .u32(self.nlink)
            .u32(self.uid)
            .u32(self.gid)
            .u64(self.size)
            .u64(self.used)
            .u32(self.rdev.0)
            .u32(self.rdev.1)
            .u64(self.fsid)
            .u64(self.fileid);
        for _ in 0..3 {
            w.u32(self.mtime.0).u32(self.mtime.1);
        }
    }

    /// Decode the XDR form (for clients).
    pub fn decode(r: &mut XdrReader<'_>) -> Result<Fattr3, XdrError> {
        let a = Fattr3 {
            ftype: r.u32()?,
            mode: r.u32()?,
            nlink: r.u32()?,
            uid: r.u32()?,
            gid: r.u32()?,
            size: r.u64()?,
            used: r.u64()?,
            rdev: (r.u32()?, r.u32()?),
            fsid: r.u64()?,
            fileid: r.u64()?,
            mtime: (0, 0),
        };
        let _atime = (r.u32()?, r.u32()?);
        let mtime = (r.u32()?, r.u32()?);
        let _ctime = (r.u32()?, r.u32()?);
        Ok(Fattr3 { mtime, ..a })
    }
}

/// Append a `post_op_attr`.
pub fn post_op_attr(w: &mut XdrWriter, attr: Option<&Fattr3>) {
    match attr {
        Some(a) => {
            w.bool(true);
            a.encode(w);
        }
        None => {
            w.bool(false);
        }
    }
}

/// Decode a `post_op_attr` (for clients).
pub fn decode_post_op_attr(r: &mut XdrReader<'_>) -> Result<Option<Fattr3>, XdrError> {
    if r.bool()? {
        Ok(Some(Fattr3::decode(r)?))
    } else {
        Ok(None)
    }
}
