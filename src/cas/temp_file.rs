//! [`TempFile`]: a file under the store's `tmp/` that becomes visible only by an atomic
//! rename after `fsync`, and is deleted if dropped before that (so an error or a full disk
//! never leaves a half-written blob behind).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::CasError;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temp file that is removed on drop unless [`TempFile::persist`] succeeded.
pub struct TempFile {
    path: PathBuf,
    file: File,
    persisted: bool,
}

impl TempFile {
    /// Create a fresh, uniquely named file in `dir`.
    pub fn new_in(dir: &Path) -> Result<TempFile, CasError> {
        let pid = std::process::id();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("{pid}-{n}.tmp"));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file,
                        persisted: false,
                    })
                }
                // A leftover from an earlier process with the same pid: take the next name.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(CasError::io("create temp file", path, e)),
            }
        }
    }

    /// Append bytes.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), CasError> {
        self.file
            .write_all(bytes)
            .map_err(|e| CasError::io("write temp file", &self.path, e))
    }

    /// `fsync` the contents, then rename over `dest` (same filesystem). The caller syncs
    /// the destination directory once all its renames are done.
    pub fn persist(mut self, dest: &Path) -> Result<(), CasError> {
        self.file
            .sync_all()
            .map_err(|e| CasError::io("fsync temp file", &self.path, e))?;
        fs::rename(&self.path, dest).map_err(|e| CasError::io("rename into place", dest, e))?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            // Best effort; a leftover is removed when the store is next opened.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// `fsync` a directory so that renames into it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), CasError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| CasError::io("fsync directory", dir, e))
}
