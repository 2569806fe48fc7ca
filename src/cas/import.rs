//! Importing a directory tree: [`import_dir`] (scan, then hash and store file contents in
//! parallel) and the plan/commit split [`hash_dir`] + [`store_files`], which lets a client
//! hash locally, ask the cluster which blobs it lacks and upload only those.
//!
//! Preserved: type, permission bits incl. setuid/setgid/sticky, uid, gid, mtime (ns),
//! symlink targets (never followed), device numbers, fifos, sockets, and hard links
//! between regular files (same device + inode → [`EntryKind::HardLink`] to the path that
//! sorts first). A hard-linked symlink/device/fifo becomes independent entries.
//! Directory sizes are recorded as 0 and link counts are computed within the image.
//! Not preserved: xattrs, ACLs, atime/ctime. Non-UTF-8 names are refused.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use super::blob_store::{BlobStore, COPY_BUF};
use super::digest::Digest;
use super::entry::EntryKind;
use super::error::CasError;
use super::manifest::Manifest;
use super::parallel::run_parallel;
use super::walk::{scan_dir, FileJob, Scan};

/// Import progress, reported on the importing thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportProgress {
    /// Regular files hashed so far.
    pub files_done: u64,
    /// Regular files to hash (0 when unknown, e.g. for a tar stream).
    pub files_total: u64,
    /// Content bytes hashed so far.
    pub bytes_done: u64,
    /// Content bytes to hash (0 when unknown).
    pub bytes_total: u64,
}

/// Import the tree at `root` into `store`; returns its manifest.
pub fn import_dir(
    root: &Path,
    store: &BlobStore,
    progress: &dyn Fn(ImportProgress),
) -> Result<Manifest, CasError> {
    let scan = scan_dir(root)?;
    let results = hash_jobs(
        &scan.jobs,
        |job, report| {
            let f = File::open(&job.path)
                .map_err(|e| CasError::io("open source file", &job.path, e))?;
            store.put_reader(Counting { inner: f, report }, &job.path)
        },
        progress,
    )?;
    finish(scan, &results)
}

/// Hash the tree at `root` without storing anything. Returns the manifest and, for each
/// distinct content digest, one file that has it (to upload with [`store_files`]).
pub fn hash_dir(
    root: &Path,
    progress: &dyn Fn(ImportProgress),
) -> Result<(Manifest, Vec<(Digest, PathBuf)>), CasError> {
    let scan = scan_dir(root)?;
    let results = hash_jobs(
        &scan.jobs,
        |job, report| hash_file(&job.path, report),
        progress,
    )?;
    let mut files = BTreeMap::new();
    for (job, (digest, _)) in scan.jobs.iter().zip(&results) {
        files.entry(*digest).or_insert_with(|| job.path.clone());
    }
    let manifest = finish(scan, &results)?;
    Ok((manifest, files.into_iter().collect()))
}

/// Store planned files (typically the subset of [`hash_dir`]'s list the cluster lacks),
/// in parallel. A file whose content changed since it was hashed is refused with
/// [`CasError::DigestMismatch`] and not stored.
pub fn store_files(
    store: &BlobStore,
    files: &[(Digest, PathBuf)],
    progress: &dyn Fn(ImportProgress),
) -> Result<(), CasError> {
    let jobs: Vec<FileJob> = files
        .iter()
        .enumerate()
        .map(|(index, (_, path))| FileJob {
            index,
            path: path.clone(),
            size: std::fs::symlink_metadata(path).map_or(0, |m| m.len()),
        })
        .collect();
    hash_jobs(
        &jobs,
        |job, report| {
            let expected = files.get(job.index).map(|f| f.0).unwrap_or_default();
            let f = File::open(&job.path)
                .map_err(|e| CasError::io("open source file", &job.path, e))?;
            let len =
                store.put_reader_verified(expected, Counting { inner: f, report }, &job.path)?;
            Ok((expected, len))
        },
        progress,
    )?;
    Ok(())
}

/// Run `work` over the jobs in parallel with progress accounting.
fn hash_jobs<W>(
    jobs: &[FileJob],
    work: W,
    progress: &dyn Fn(ImportProgress),
) -> Result<Vec<(Digest, u64)>, CasError>
where
    W: Fn(&FileJob, &mut dyn FnMut(u64)) -> Result<(Digest, u64), CasError> + Sync,
{
    let p = ImportProgress {
        files_total: jobs.len() as u64,
        bytes_total: jobs.iter().fold(0u64, |a, j| a.saturating_add(j.size)),
        ..ImportProgress::default()
    };
    progress(p);
    let p = std::cell::Cell::new(p);
    let results = run_parallel(
        jobs,
        work,
        |n| {
            let mut v = p.get();
            v.bytes_done = v.bytes_done.saturating_add(n);
            p.set(v);
            progress(v);
        },
        || {
            let mut v = p.get();
            v.files_done += 1;
            p.set(v);
            progress(v);
        },
    )?;
    Ok(results)
}

/// Put the hashed digests and lengths into the scanned entries and build the manifest.
fn finish(scan: Scan, results: &[(Digest, u64)]) -> Result<Manifest, CasError> {
    let mut entries = scan.entries;
    for (job, &(digest, len)) in scan.jobs.iter().zip(results) {
        if let Some(e) = entries.get_mut(job.index) {
            e.kind = EntryKind::File { digest };
            e.size = len;
        }
    }
    Manifest::from_entries(entries)
}

/// BLAKE3 of a file, streamed.
fn hash_file(path: &Path, report: &mut dyn FnMut(u64)) -> Result<(Digest, u64), CasError> {
    let mut f = File::open(path).map_err(|e| CasError::io("open source file", path, e))?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; COPY_BUF];
    let mut len = 0u64;
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                h.update(&buf[..n]);
                len += n as u64;
                report(n as u64);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(CasError::io("read", path, e)),
        }
    }
    Ok((h.finalize().into(), len))
}

/// A reader that reports how many bytes passed through it.
pub(super) struct Counting<'a, R> {
    pub(super) inner: R,
    pub(super) report: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.report)(n as u64);
        Ok(n)
    }
}
