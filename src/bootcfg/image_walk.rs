//! Finding a regular file inside an image manifest by path, following symbolic links the
//! way a kernel would inside a chroot of the image: absolute targets start again at the
//! image root, `..` stops at the root, hard links lead to their file, and at most
//! [`MAX_SYMLINK_HOPS`] links are followed.

use std::collections::VecDeque;

use crate::cas::{EntryKind, Manifest, ManifestEntry};

use super::error::ResolveError;

/// Most symbolic links followed for one lookup (Linux allows 40; boot trees need few).
pub const MAX_SYMLINK_HOPS: usize = 16;

/// The regular file `path` names in `m`: its index and entry (an [`EntryKind::File`]).
/// Directories, devices, dangling links and link loops are [`ResolveError::NotFound`].
pub fn resolve_file<'m>(
    m: &'m Manifest,
    path: &str,
) -> Result<(usize, &'m ManifestEntry), ResolveError> {
    let nf = |why: &str| ResolveError::not_found(format!("{path}: {why}"));
    let mut queue: VecDeque<String> = split(path).collect();
    let mut dir: Vec<String> = Vec::new();
    let mut hops = 0usize;
    while let Some(comp) = queue.pop_front() {
        match comp.as_str() {
            "." => continue,
            ".." => {
                dir.pop();
                continue;
            }
            _ => {}
        }
        let full = if dir.is_empty() {
            comp.clone()
        } else {
            format!("{}/{comp}", dir.join("/"))
        };
        let Some((index, entry)) = m.lookup(&full) else {
            return Err(nf("no such file"));
        };
        match &entry.kind {
            EntryKind::Dir => dir.push(comp),
            EntryKind::Symlink { target } => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(nf("too many levels of symbolic links"));
                }
                if target.starts_with('/') {
                    dir.clear();
                }
                for (i, c) in split(target).enumerate() {
                    queue.insert(i, c);
                }
            }
            EntryKind::File { .. } if queue.is_empty() => return Ok((index, entry)),
            EntryKind::HardLink { target } if queue.is_empty() => {
                return match m.lookup(target) {
                    Some((i, e)) if matches!(e.kind, EntryKind::File { .. }) => Ok((i, e)),
                    _ => Err(nf("dangling hard link")),
                };
            }
            EntryKind::File { .. } | EntryKind::HardLink { .. } => {
                return Err(nf("not a directory"))
            }
            _ => return Err(nf("not a regular file")),
        }
    }
    Err(nf("is a directory"))
}

/// Non-empty components of a `/`-separated path.
fn split(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}
