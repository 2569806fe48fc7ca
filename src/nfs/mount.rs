//! The MOUNT program (100005 v3, RFC 1813 appendix I): MNT hands out the root handle of an
//! export (`/images/<name>`, `/groups/<group>`, optionally with a subdirectory), EXPORT
//! lists the exports, NULL/DUMP/UMNT/UMNTALL are answered (no mount list is kept: the
//! server is stateless).

use super::counters::NfsCounters;
use super::image_fs::{FsError, ImageFs};
use super::xdr::{XdrError, XdrReader, XdrWriter};

/// MOUNT program number.
pub const MOUNT_PROG: u32 = 100_005;
/// MOUNT version served.
pub const MOUNT_VERS: u32 = 3;
/// Largest export path (MNTPATHLEN).
pub const MNTPATHLEN: u32 = 1024;

/// Procedure numbers.
pub mod procs {
    #![allow(missing_docs)]
    pub const NULL: u32 = 0;
    pub const MNT: u32 = 1;
    pub const DUMP: u32 = 2;
    pub const UMNT: u32 = 3;
    pub const UMNTALL: u32 = 4;
    pub const EXPORT: u32 = 5;
}

/// `mountstat3` values used here.
pub mod mountstat {
    #![allow(missing_docs)]
    pub const OK: u32 = 0;
    pub const NOENT: u32 = 2;
    pub const IO: u32 = 5;
    pub const NOTDIR: u32 = 20;
    pub const INVAL: u32 = 22;
}

/// Append the results of MOUNT procedure `proc_`. `Ok(false)`: no such procedure.
pub fn call(
    fs: &ImageFs,
    counters: &NfsCounters,
    proc_: u32,
    args: &mut XdrReader<'_>,
    out: &mut XdrWriter,
    mounted: &mut dyn FnMut(&str),
) -> Result<bool, XdrError> {
    match proc_ {
        procs::NULL | procs::UMNTALL => {}
        procs::UMNT => {
            args.opaque(MNTPATHLEN)?;
        }
        procs::DUMP => {
            out.bool(false);
        }
        procs::MNT => {
            let path = args.opaque(MNTPATHLEN)?;
            let res = std::str::from_utf8(path)
                .map_err(|_| FsError::Inval)
                .and_then(|p| fs.mount(p));
            match res {
                Ok(node) => {
                    NfsCounters::inc(&counters.mounts);
                    mounted(&String::from_utf8_lossy(path));
                    tracing::info!(
                        path = %String::from_utf8_lossy(path),
                        seq = node.seq(),
                        "NFS export mounted"
                    );
                    out.u32(mountstat::OK).opaque(&node.handle().encode());
                    out.u32(2)
                        .u32(super::rpc::AUTH_UNIX)
                        .u32(super::rpc::AUTH_NONE);
                }
                Err(e) => {
                    let st = match e {
                        FsError::NoEnt => mountstat::NOENT,
                        FsError::NotDir => mountstat::NOTDIR,
                        FsError::Inval => mountstat::INVAL,
                        _ => {
                            NfsCounters::inc(&counters.errors);
                            mountstat::IO
                        }
                    };
                    tracing::info!(path = %String::from_utf8_lossy(path), error = %e, "NFS mount refused");
                    out.u32(st);
                }
            }
        }
        procs::EXPORT => {
            for path in fs.exports() {
                out.bool(true).opaque(path.as_bytes()).bool(false);
            }
            out.bool(false);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Decode a MNT reply's results: the root handle, or the `mountstat3` error (for clients).
pub fn decode_mnt_result(r: &mut XdrReader<'_>) -> Result<Result<Vec<u8>, u32>, XdrError> {
    let st = r.u32()?;
    if st != mountstat::OK {
        return Ok(Err(st));
    }
    let fh = r.opaque(64)?.to_vec();
    let n = r.u32()?;
    for _ in 0..n.min(16) {
        r.u32()?;
    }
    Ok(Ok(fh))
}
