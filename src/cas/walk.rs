//! Directory scanning for import: [`scan_dir`] walks a tree with `symlink_metadata` (never
//! following symlinks below the root), records every entry's attributes, detects hard
//! links and device numbers, and lists the regular files whose content must be hashed.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::digest::Digest;
use super::entry::{EntryKind, ManifestEntry};
use super::error::CasError;

/// A regular file whose content still has to be hashed.
#[derive(Debug, Clone)]
pub struct FileJob {
    /// Index of its entry in [`Scan::entries`].
    pub index: usize,
    /// Where it is on disk.
    pub path: PathBuf,
    /// Its size when scanned (for progress; the hashed length is authoritative).
    pub size: u64,
}

/// A scanned tree: sorted entries (files carry a placeholder digest) plus hashing jobs.
#[derive(Debug, Clone)]
pub struct Scan {
    /// Entries sorted by path, root first.
    pub entries: Vec<ManifestEntry>,
    /// One job per distinct inode of regular file.
    pub jobs: Vec<FileJob>,
}

/// Linux `major()` of a `dev_t` (glibc's encoding).
pub fn dev_major(rdev: u64) -> u32 {
    (((rdev >> 8) & 0xfff) | ((rdev >> 32) & 0xffff_f000)) as u32
}

/// Linux `minor()` of a `dev_t` (glibc's encoding).
pub fn dev_minor(rdev: u64) -> u32 {
    ((rdev & 0xff) | ((rdev >> 12) & 0xffff_ff00)) as u32
}

/// Walk `root` (which may itself be a symlink to a directory; nothing below it is
/// followed). Non-UTF-8 names are refused with [`CasError::NonUtf8Path`].
pub fn scan_dir(root: &Path) -> Result<Scan, CasError> {
    let root_meta = fs::metadata(root).map_err(|e| CasError::io("stat", root, e))?;
    if !root_meta.is_dir() {
        return Err(CasError::import(
            root.display().to_string(),
            "import root is not a directory",
        ));
    }
    let mut raw: Vec<(String, PathBuf, Metadata)> =
        vec![(String::new(), root.to_path_buf(), root_meta)];
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let rd = fs::read_dir(&dir).map_err(|e| CasError::io("list directory", &dir, e))?;
        for item in rd {
            let item = item.map_err(|e| CasError::io("list directory", &dir, e))?;
            let abs = item.path();
            let name = item.file_name();
            let name = name
                .to_str()
                .ok_or_else(|| CasError::NonUtf8Path { path: abs.clone() })?;
            let child = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            let meta = fs::symlink_metadata(&abs).map_err(|e| CasError::io("stat", &abs, e))?;
            if meta.is_dir() {
                stack.push((abs.clone(), child.clone()));
            }
            raw.push((child, abs, meta));
        }
    }
    raw.sort_unstable_by(|a, b| a.0.cmp(&b.0));

    let mut first_of_inode: HashMap<(u64, u64), usize> = HashMap::new();
    let mut entries = Vec::with_capacity(raw.len());
    let mut jobs = Vec::new();
    for (index, (rel, abs, meta)) in raw.iter().enumerate() {
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            let t = fs::read_link(abs).map_err(|e| CasError::io("read symlink", abs, e))?;
            let target = t
                .to_str()
                .ok_or_else(|| CasError::NonUtf8Path { path: t.clone() })?
                .to_string();
            EntryKind::Symlink { target }
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            match first_of_inode.get(&key) {
                Some(&first) if meta.nlink() > 1 => EntryKind::HardLink {
                    target: raw[first].0.clone(),
                },
                _ => {
                    if meta.nlink() > 1 {
                        first_of_inode.insert(key, index);
                    }
                    jobs.push(FileJob {
                        index,
                        path: abs.clone(),
                        size: meta.len(),
                    });
                    EntryKind::File {
                        digest: Digest::default(),
                    }
                }
            }
        } else if ft.is_char_device() {
            EntryKind::CharDevice {
                major: dev_major(meta.rdev()),
                minor: dev_minor(meta.rdev()),
            }
        } else if ft.is_block_device() {
            EntryKind::BlockDevice {
                major: dev_major(meta.rdev()),
                minor: dev_minor(meta.rdev()),
            }
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else if ft.is_socket() {
            EntryKind::Socket
        } else {
            return Err(CasError::import(rel.clone(), "unknown file type"));
        };
        let size = if matches!(kind, EntryKind::File { .. }) {
            meta.len()
        } else {
            0
        };
        entries.push(ManifestEntry {
            path: rel.clone(),
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            size,
            mtime_s: meta.mtime(),
            mtime_ns: u32::try_from(meta.mtime_nsec())
                .ok()
                .filter(|&n| n < 1_000_000_000)
                .unwrap_or(0),
            nlink: 1,
        });
    }
    Ok(Scan { entries, jobs })
}
