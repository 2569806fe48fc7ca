//! READDIR and READDIRPLUS for [`Nfs3`]: directory listings that honor the position
//! cookie, so a directory larger than one reply is listed exactly once.
//!
//! The cookie of the child at position `p` (in the manifest's sorted order) is `p + 1`;
//! a call with cookie `c` continues at position `c`. Images never change, so every cookie
//! stays valid forever and the cookie verifier is always zero (RFC 1813 allows this); a
//! cookie past the end is NFS3ERR_BAD_COOKIE. Replies stop before `count` (READDIR) or
//! `maxcount`/`dircount` (READDIRPLUS) would be exceeded. "." and ".." are not listed
//! (LOOKUP resolves them).

use super::attrs::{post_op_attr, Fattr3, FATTR3_LEN};
use super::handle::HANDLE_LEN;
use super::nfs3::Nfs3;
use super::status::{NFS3ERR_BAD_COOKIE, NFS3ERR_NOTDIR, NFS3ERR_TOOSMALL, NFS3_OK};
use super::xdr::{opaque_size, XdrError, XdrReader, XdrWriter};

/// Bytes after the last entry: the list terminator and the eof flag.
const TAIL: usize = 8;

impl Nfs3<'_> {
    /// READDIR (`plus == false`) or READDIRPLUS.
    pub(super) fn readdir(
        &self,
        args: &mut XdrReader<'_>,
        out: &mut XdrWriter,
        plus: bool,
    ) -> Result<(), XdrError> {
        let dir = self.resolve(args)?;
        let cookie = args.u64()?;
        let _verf = args.fixed(8)?;
        let (dircount, maxcount) = if plus {
            let dircount = args.u32()? as usize;
            (dircount, args.u32()? as usize)
        } else {
            let count = args.u32()? as usize;
            (usize::MAX, count)
        };
        let dir = match dir {
            Ok(d) => d,
            Err(st) => {
                out.u32(st).bool(false);
                return Ok(());
            }
        };
        let dir_attr = Fattr3::of(&dir);
        if !dir.entry().is_dir() {
            out.u32(NFS3ERR_NOTDIR);
            post_op_attr(out, Some(&dir_attr));
            return Ok(());
        }
        let children: Vec<usize> = dir
            .manifest()
            .children(dir.index())
            .map(|(i, _)| i)
            .collect();
        let start = match usize::try_from(cookie) {
            Ok(c) if c <= children.len() => c,
            _ => {
                out.u32(NFS3ERR_BAD_COOKIE);
                post_op_attr(out, Some(&dir_attr));
                return Ok(());
            }
        };

        // Size budget: the reply body (status onward) must fit `maxcount`, the whole
        // reply must fit the transport.
        let header = out.len();
        let fixed = 4 + 4 + FATTR3_LEN + 8 + TAIL;
        let budget = maxcount.min(self.max_reply.saturating_sub(header));
        let mut body = XdrWriter::with_capacity(budget.min(1 << 20));
        let mut used = fixed;
        let mut dir_used = 0usize;
        let mut eof = true;
        let mut listed = 0usize;
        for (pos, &child) in children.iter().enumerate().skip(start) {
            let node = match dir.sibling(child) {
                Ok(n) => n,
                Err(e) => {
                    let st = self.fail(e);
                    out.u32(st);
                    post_op_attr(out, Some(&dir_attr));
                    return Ok(());
                }
            };
            let name = node_name(&dir, child);
            let base = 4 + 8 + opaque_size(name.len()) + 8;
            let size = if plus {
                base + 4 + FATTR3_LEN + 4 + opaque_size(HANDLE_LEN)
            } else {
                base
            };
            if used + size > budget || (listed > 0 && dir_used + base > dircount) {
                eof = false;
                break;
            }
            used += size;
            dir_used += base;
            listed += 1;
            body.bool(true).u64(node.fileid()).opaque(name.as_bytes());
            body.u64(pos as u64 + 1);
            if plus {
                post_op_attr(&mut body, Some(&Fattr3::of(&node)));
                body.bool(true).opaque(&node.handle().encode());
            }
        }
        if listed == 0 && !eof {
            out.u32(NFS3ERR_TOOSMALL);
            post_op_attr(out, Some(&dir_attr));
            return Ok(());
        }
        out.u32(NFS3_OK);
        post_op_attr(out, Some(&dir_attr));
        out.fixed(&[0u8; 8]); // cookie verifier
        out.raw(&body.into_bytes());
        out.bool(false).bool(eof);
        Ok(())
    }
}

/// The name of child `index` as listed (a hard link keeps its own name).
fn node_name(dir: &super::image_fs::Node, index: usize) -> String {
    dir.manifest()
        .entry(index)
        .map(|e| e.name().to_string())
        .unwrap_or_default()
}
