//! [`import_tar`]: import a tar stream (ustar, GNU or PAX) into the store.
//!
//! Regular files are streamed into the store as they are read. Supported entry types:
//! regular (incl. contiguous and GNU sparse, expanded), directory, symlink, hard link,
//! character/block device, fifo. Absolute paths and `..` components are refused; `./`
//! prefixes are dropped. A later entry for the same path replaces an earlier one (as
//! extraction would). Missing parent directories are created with mode 0755, owner 0:0,
//! mtime 0. Hard links are canonicalised like [`import_dir`](super::import_dir) does:
//! the path that sorts first holds the file, the others link to it; a hard link to a
//! symlink, device or fifo copies that entry, one to a directory is refused. Mtimes have whole-second precision unless a PAX `mtime`
//! record gives more. Non-UTF-8 names are refused. Progress totals are reported as 0
//! (unknown for a stream).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tar::EntryType;

use super::blob_store::BlobStore;
use super::entry::{parent_path, EntryKind, ManifestEntry};
use super::error::CasError;
use super::import::{Counting, ImportProgress};
use super::manifest::Manifest;

/// Import a tar archive from `reader`; returns its manifest.
pub fn import_tar(
    reader: impl Read,
    store: &BlobStore,
    progress: &dyn Fn(ImportProgress),
) -> Result<Manifest, CasError> {
    let tar_err = |e| CasError::io("read tar archive", "<tar stream>", e);
    let mut archive = tar::Archive::new(reader);
    let mut map: BTreeMap<String, ManifestEntry> = BTreeMap::new();
    let mut p = ImportProgress::default();
    for entry in archive.entries().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        let path = clean_path(&entry.path_bytes())?;
        let h = entry.header();
        let et = h.entry_type();
        let field = |what: &str, e: std::io::Error| {
            CasError::import(path.clone(), format!("bad {what} in tar header: {e}"))
        };
        let mode = h.mode().map_err(|e| field("mode", e))? & 0o7777;
        let uid = h.uid().map_err(|e| field("uid", e))?;
        let gid = h.gid().map_err(|e| field("gid", e))?;
        let mtime = h.mtime().map_err(|e| field("mtime", e))?;
        let (uid, gid, mut mtime_s) =
            match (u32::try_from(uid), u32::try_from(gid), i64::try_from(mtime)) {
                (Ok(u), Ok(g), Ok(m)) => (u, g, m),
                _ => return Err(CasError::import(path, "uid, gid or mtime out of range")),
            };
        let (mut major, mut minor) = (0, 0);
        if matches!(et, EntryType::Char | EntryType::Block) {
            major = h
                .device_major()
                .map_err(|e| field("device major", e))?
                .unwrap_or(0);
            minor = h
                .device_minor()
                .map_err(|e| field("device minor", e))?
                .unwrap_or(0);
        }
        let link = entry.link_name_bytes().map(|b| b.into_owned());
        let mut mtime_ns = 0;
        if let Some((s, ns)) = pax_mtime(&mut entry) {
            (mtime_s, mtime_ns) = (s, ns);
        }
        let link_text = || -> Result<String, CasError> {
            let b = link.as_deref().unwrap_or_default();
            std::str::from_utf8(b)
                .map(str::to_string)
                .map_err(|_| CasError::NonUtf8Path {
                    path: PathBuf::from(OsStr::from_bytes(b)),
                })
        };
        let mut size = 0;
        let kind = match et {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mut report = |n: u64| {
                    p.bytes_done = p.bytes_done.saturating_add(n);
                    progress(p);
                };
                let counting = Counting {
                    inner: &mut entry,
                    report: &mut report,
                };
                let (digest, len) = store.put_reader(counting, Path::new(&path))?;
                p.files_done += 1;
                progress(p);
                size = len;
                EntryKind::File { digest }
            }
            EntryType::Directory => EntryKind::Dir,
            EntryType::Symlink => EntryKind::Symlink {
                target: link_text()?,
            },
            EntryType::Link => EntryKind::HardLink {
                target: clean_path(link.as_deref().unwrap_or_default())?,
            },
            EntryType::Char => EntryKind::CharDevice { major, minor },
            EntryType::Block => EntryKind::BlockDevice { major, minor },
            EntryType::Fifo => EntryKind::Fifo,
            EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink => continue,
            other => {
                return Err(CasError::import(
                    path,
                    format!("unsupported tar entry type {other:?}"),
                ))
            }
        };
        let e = ManifestEntry {
            path: path.clone(),
            kind,
            mode,
            uid,
            gid,
            size,
            mtime_s,
            mtime_ns,
            nlink: 1,
        };
        map.insert(path, e);
    }
    resolve_hard_links(&mut map)?;
    add_missing_dirs(&mut map);
    Manifest::from_entries(map.into_values().collect())
}

/// Normalise an archive path: strip `./` and trailing `/`; refuse absolute paths and `..`.
fn clean_path(bytes: &[u8]) -> Result<String, CasError> {
    let s = std::str::from_utf8(bytes).map_err(|_| CasError::NonUtf8Path {
        path: PathBuf::from(OsStr::from_bytes(bytes)),
    })?;
    if s.starts_with('/') {
        return Err(CasError::import(s, "absolute path in archive"));
    }
    let mut parts = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(CasError::import(s, "'..' component in archive path")),
            c if c.contains('\0') => return Err(CasError::import(s, "NUL in archive path")),
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// A PAX `mtime` record ("seconds[.fraction]"), if present and well-formed.
fn pax_mtime<R: Read>(entry: &mut tar::Entry<'_, R>) -> Option<(i64, u32)> {
    let exts = entry.pax_extensions().ok()??;
    let mut found = None;
    for ext in exts.flatten() {
        if ext.key() == Ok("mtime") {
            found = ext.value().ok().map(str::to_string);
        }
    }
    let v = found?;
    let (s, frac) = v.split_once('.').unwrap_or((v.as_str(), ""));
    let secs: i64 = s.parse().ok()?;
    if secs < 0 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Some((secs, 0)).filter(|_| frac.is_empty());
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    Some((secs, digits.parse().ok()?))
}

/// Turn tar hard links (each pointing at some earlier archive member) into canonical
/// form: within each inode group, the path that sorts first holds the file.
fn resolve_hard_links(map: &mut BTreeMap<String, ManifestEntry>) -> Result<(), CasError> {
    let links: Vec<String> = map
        .iter()
        .filter(|(_, e)| matches!(e.kind, EntryKind::HardLink { .. }))
        .map(|(p, _)| p.clone())
        .collect();
    // origin path (a non-link entry) → paths linking to it
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for link in links {
        let mut at = link.clone();
        let mut hops = 0;
        let origin = loop {
            let target = match map.get(&at).map(|e| &e.kind) {
                Some(EntryKind::HardLink { target }) => target.clone(),
                Some(_) => break at,
                None => {
                    return Err(CasError::import(
                        link,
                        format!("hard link target {at:?} is not in the archive"),
                    ))
                }
            };
            hops += 1;
            if hops > map.len() || target == link {
                return Err(CasError::import(link, "hard link cycle"));
            }
            at = target;
        };
        groups.entry(origin).or_default().insert(link);
    }
    for (origin, members) in groups {
        let Some(src) = map.get(&origin).cloned() else {
            continue;
        };
        if src.is_dir() {
            return Err(CasError::import(origin, "hard link to a directory"));
        }
        if !matches!(src.kind, EntryKind::File { .. }) {
            for m in members {
                map.insert(
                    m.clone(),
                    ManifestEntry {
                        path: m,
                        ..src.clone()
                    },
                );
            }
            continue;
        }
        let first = members.first().filter(|m| **m < origin).cloned();
        let holder = first.unwrap_or_else(|| origin.clone());
        for m in members.iter().chain(std::iter::once(&origin)) {
            let e = if *m == holder {
                ManifestEntry {
                    path: m.clone(),
                    ..src.clone()
                }
            } else {
                ManifestEntry {
                    path: m.clone(),
                    kind: EntryKind::HardLink {
                        target: holder.clone(),
                    },
                    ..src.clone()
                }
            };
            map.insert(m.clone(), e);
        }
    }
    Ok(())
}

/// Create directories an archive implies but does not list (and the root).
fn add_missing_dirs(map: &mut BTreeMap<String, ManifestEntry>) {
    let mut missing = BTreeSet::new();
    missing.insert(String::new());
    for path in map.keys().filter(|p| !p.is_empty()) {
        let mut p = parent_path(path);
        while !p.is_empty() && !map.contains_key(p) && missing.insert(p.to_string()) {
            p = parent_path(p);
        }
    }
    for p in missing {
        map.entry(p.clone()).or_insert_with(|| ManifestEntry {
            mode: 0o755,
            nlink: 2,
            ..ManifestEntry::new(p, EntryKind::Dir)
        });
    }
}
