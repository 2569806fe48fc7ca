//! NFSv3 status codes (`nfsstat3`, RFC 1813 section 2.6) and the mapping from [`FsError`].

use super::image_fs::FsError;

/// Success.
pub const NFS3_OK: u32 = 0;
/// No such file or directory.
pub const NFS3ERR_NOENT: u32 = 2;
/// Hard I/O error (here: stored data failed verification).
pub const NFS3ERR_IO: u32 = 5;
/// Not a directory.
pub const NFS3ERR_NOTDIR: u32 = 20;
/// Is a directory.
pub const NFS3ERR_ISDIR: u32 = 21;
/// Invalid argument.
pub const NFS3ERR_INVAL: u32 = 22;
/// Read-only file system.
pub const NFS3ERR_ROFS: u32 = 30;
/// Name too long.
pub const NFS3ERR_NAMETOOLONG: u32 = 63;
/// Stale file handle.
pub const NFS3ERR_STALE: u32 = 70;
/// Illegal file handle.
pub const NFS3ERR_BADHANDLE: u32 = 10001;
/// READDIR cookie out of range.
pub const NFS3ERR_BAD_COOKIE: u32 = 10003;
/// Reply buffer too small for even one entry.
pub const NFS3ERR_TOOSMALL: u32 = 10005;
/// Try again later (the data is not on this replica yet).
pub const NFS3ERR_JUKEBOX: u32 = 10008;

/// The status for a failed file-system operation.
pub fn of(e: FsError) -> u32 {
    match e {
        FsError::Stale => NFS3ERR_STALE,
        FsError::BadHandle => NFS3ERR_BADHANDLE,
        FsError::NoEnt => NFS3ERR_NOENT,
        FsError::NotDir => NFS3ERR_NOTDIR,
        FsError::IsDir => NFS3ERR_ISDIR,
        FsError::Inval => NFS3ERR_INVAL,
        FsError::Io => NFS3ERR_IO,
        FsError::NotYet => NFS3ERR_JUKEBOX,
    }
}
