//! Manifest invariants: [`normalize`] turns importer output into canonical form and
//! [`validate`] checks that any entry list (e.g. decoded from hostile bytes) is canonical,
//! returning the parent index. Canonical means: sorted by path bytes with the root `""`
//! (a directory) first, unique, well-formed paths, parents present and directories, hard
//! links pointing at an earlier regular file and carrying its attributes, sizes and link
//! counts as documented on [`ManifestEntry`].

use std::collections::HashMap;

use super::entry::{is_valid_path, parent_path, EntryKind, ManifestEntry};
use super::error::CasError;

fn bad(msg: String) -> CasError {
    CasError::InvalidManifest(msg)
}

fn find(entries: &[ManifestEntry], path: &str) -> Option<usize> {
    entries.binary_search_by(|e| e.path.as_str().cmp(path)).ok()
}

/// Sort, fill in derived fields (sizes of non-files, hard-link attributes, link counts)
/// and check the result. Duplicate paths are an error.
pub fn normalize(entries: &mut [ManifestEntry]) -> Result<(), CasError> {
    entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    if let Some(w) = entries.windows(2).find(|w| w[0].path == w[1].path) {
        return Err(bad(format!("duplicate path {:?}", w[0].path)));
    }
    let mut link_counts: HashMap<usize, u32> = HashMap::new();
    let mut subdirs: HashMap<usize, u32> = HashMap::new();
    for i in 0..entries.len() {
        let (is_dir, kind) = (entries[i].is_dir(), entries[i].kind.clone());
        if i > 0 && is_dir {
            if let Some(p) = find(entries, parent_path(&entries[i].path)) {
                *subdirs.entry(p).or_default() += 1;
            }
        }
        match kind {
            EntryKind::Dir
            | EntryKind::CharDevice { .. }
            | EntryKind::BlockDevice { .. }
            | EntryKind::Fifo
            | EntryKind::Socket => entries[i].size = 0,
            EntryKind::Symlink { target } => entries[i].size = target.len() as u64,
            EntryKind::File { .. } => {}
            EntryKind::HardLink { target } => {
                let j = find(entries, &target)
                    .filter(|&j| j < i && matches!(entries[j].kind, EntryKind::File { .. }))
                    .ok_or_else(|| {
                        bad(format!(
                            "hard link {:?} -> {target:?}: target must be a regular file \
                             that sorts before it",
                            entries[i].path
                        ))
                    })?;
                *link_counts.entry(j).or_default() += 1;
                let t = entries[j].clone();
                let e = &mut entries[i];
                (e.mode, e.uid, e.gid, e.size) = (t.mode, t.uid, t.gid, t.size);
                (e.mtime_s, e.mtime_ns) = (t.mtime_s, t.mtime_ns);
            }
        }
    }
    for i in 0..entries.len() {
        entries[i].nlink = match &entries[i].kind {
            EntryKind::Dir => 2u32.saturating_add(subdirs.get(&i).copied().unwrap_or(0)),
            EntryKind::File { .. } => {
                1u32.saturating_add(link_counts.get(&i).copied().unwrap_or(0))
            }
            EntryKind::HardLink { target } => match find(entries, target) {
                Some(j) => 1u32.saturating_add(link_counts.get(&j).copied().unwrap_or(0)),
                None => 1,
            },
            _ => 1,
        };
    }
    validate(entries).map(|_| ())
}

/// Check every invariant; returns each entry's parent index (the root is its own parent).
pub fn validate(entries: &[ManifestEntry]) -> Result<Vec<u32>, CasError> {
    let root = entries.first().ok_or_else(|| bad("no entries".into()))?;
    if !root.path.is_empty() || !root.is_dir() {
        return Err(bad("the first entry must be the root directory \"\"".into()));
    }
    if u32::try_from(entries.len()).is_err() {
        return Err(bad("too many entries".into()));
    }
    let mut parents = Vec::with_capacity(entries.len());
    let mut subdirs = vec![0u32; entries.len()];
    let mut link_counts = vec![0u32; entries.len()];
    for (i, e) in entries.iter().enumerate() {
        let p = &e.path;
        if !is_valid_path(p) {
            return Err(bad(format!("malformed path {p:?}")));
        }
        if i > 0 && entries[i - 1].path.as_str() >= p.as_str() {
            return Err(bad(format!("entries not sorted and unique at {p:?}")));
        }
        if e.mode > 0o7777 || e.mtime_ns >= 1_000_000_000 {
            return Err(bad(format!("mode or mtime out of range at {p:?}")));
        }
        let parent = if i == 0 {
            0
        } else {
            let pp = parent_path(p);
            let j = find(entries, pp)
                .filter(|&j| entries[j].is_dir())
                .ok_or_else(|| bad(format!("parent of {p:?} is missing or not a directory")))?;
            if e.is_dir() {
                subdirs[j] = subdirs[j].saturating_add(1);
            }
            j
        };
        parents.push(parent as u32);
        let want_size = match &e.kind {
            EntryKind::File { .. } => e.size,
            EntryKind::Symlink { target } => target.len() as u64,
            EntryKind::HardLink { target } => {
                let j = find(entries, target)
                    .filter(|&j| j < i && matches!(entries[j].kind, EntryKind::File { .. }))
                    .ok_or_else(|| bad(format!("hard link {p:?} has a bad target {target:?}")))?;
                let t = &entries[j];
                let same = (e.mode, e.uid, e.gid, e.mtime_s, e.mtime_ns)
                    == (t.mode, t.uid, t.gid, t.mtime_s, t.mtime_ns);
                if !same {
                    return Err(bad(format!("hard link {p:?} differs from its target")));
                }
                link_counts[j] = link_counts[j].saturating_add(1);
                t.size
            }
            _ => 0,
        };
        if e.size != want_size {
            return Err(bad(format!("wrong size at {p:?}")));
        }
    }
    for (i, e) in entries.iter().enumerate() {
        let want = match &e.kind {
            EntryKind::Dir => 2u32.saturating_add(subdirs[i]),
            EntryKind::File { .. } => 1u32.saturating_add(link_counts[i]),
            EntryKind::HardLink { target } => {
                let j = find(entries, target).unwrap_or(i);
                1u32.saturating_add(link_counts[j])
            }
            _ => 1,
        };
        if e.nlink != want {
            return Err(bad(format!("wrong link count at {:?}", e.path)));
        }
    }
    Ok(parents)
}
