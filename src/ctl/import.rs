//! `bootctl image import`: hash a root tree (a directory, or a tar archive unpacked into a
//! private temporary store) in parallel, upload only the blobs the cluster node lacks, then
//! register the image through Raft; with a group, wait until a majority of boot servers is
//! ready and activate it. An interrupted import registers nothing and can simply be re-run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use raftboot_raft::state::Image;

use super::client::{AdminClient, CtlError};
use crate::api::images::{ActivateImage, DigestList, ImageView, RegisterImage};
use crate::cas::{hash_dir, import_tar, BlobStore, Digest, ImportProgress, Manifest};

/// What an import did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportReport {
    pub image: Image,
    pub files: usize,
    pub blobs: usize,
    pub uploaded_blobs: usize,
    pub uploaded_bytes: u64,
    pub hash_secs: f64,
    pub upload_secs: f64,
    pub activated_in: Option<String>,
}

fn progress_line(label: &str, files: u64, files_total: u64, bytes: u64, started: Instant) {
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "\r{label}: {files}/{files_total} files, {:.1} MiB, {:.0} files/s, {:.1} MiB/s   ",
        bytes as f64 / 1048576.0,
        files as f64 / secs,
        bytes as f64 / 1048576.0 / secs
    );
    let _ = err.flush();
}

/// A hashed tree: its manifest, the local file of each blob, and (for a tar archive) the
/// temporary store those files live in, which must outlive the upload.
struct Hashed {
    manifest: Manifest,
    files: Vec<(Digest, PathBuf)>,
    _tmp: Option<(tempfile::TempDir, BlobStore)>,
}

/// Hash `path` (a directory, or a tar archive unpacked into a temporary store).
fn hash(path: &Path, quiet: bool) -> Result<Hashed, CtlError> {
    let started = Instant::now();
    let show = |p: ImportProgress| {
        if !quiet {
            progress_line(
                "hashing",
                p.files_done,
                p.files_total,
                p.bytes_done,
                started,
            );
        }
    };
    let invalid = |e: crate::cas::CasError| CtlError::Invalid(format!("{}: {e}", path.display()));
    let meta = std::fs::metadata(path)
        .map_err(|e| CtlError::Invalid(format!("{}: {e}", path.display())))?;
    if meta.is_dir() {
        let (manifest, files) = hash_dir(path, &show).map_err(invalid)?;
        Ok(Hashed {
            manifest,
            files,
            _tmp: None,
        })
    } else {
        let tmp = tempfile::tempdir().map_err(|e| CtlError::Other(e.to_string()))?;
        let store = BlobStore::open(tmp.path()).map_err(invalid)?;
        let f = std::fs::File::open(path)
            .map_err(|e| CtlError::Invalid(format!("{}: {e}", path.display())))?;
        let m = import_tar(std::io::BufReader::new(f), &store, &show).map_err(invalid)?;
        let files = m
            .blobs()
            .into_iter()
            .map(|d| (d, store.blob_path(&d)))
            .collect();
        Ok(Hashed {
            manifest: m,
            files,
            _tmp: Some((tmp, store)),
        })
    }
}

/// Import `path` as image `name`, optionally activating it in `group`.
pub fn import(
    c: &AdminClient,
    path: &Path,
    name: &str,
    group: Option<&str>,
    quiet: bool,
) -> Result<ImportReport, CtlError> {
    let t0 = Instant::now();
    let hashed = hash(path, quiet)?;
    let (manifest, files) = (&hashed.manifest, &hashed.files);
    let hash_secs = t0.elapsed().as_secs_f64();
    let manifest_bytes = manifest
        .to_bytes()
        .map_err(|e| CtlError::Other(e.to_string()))?;
    let manifest_digest = manifest.digest();
    let mut wanted: Vec<Digest> = files.iter().map(|(d, _)| *d).collect();
    wanted.push(manifest_digest);
    let missing: DigestList = c.post("/v1/blobs/missing", &DigestList { digests: wanted })?;
    let missing: std::collections::BTreeSet<Digest> = missing.digests.into_iter().collect();

    let t1 = Instant::now();
    let mut uploaded_bytes = 0u64;
    let mut uploaded = 0usize;
    let todo: Vec<&(Digest, PathBuf)> = files.iter().filter(|(d, _)| missing.contains(d)).collect();
    for (d, p) in &todo {
        let bytes =
            std::fs::read(p).map_err(|e| CtlError::Invalid(format!("{}: {e}", p.display())))?;
        c.put_bytes(&format!("/v1/blobs/{d}"), &bytes)?;
        uploaded += 1;
        uploaded_bytes += bytes.len() as u64;
        if !quiet {
            progress_line(
                "uploading",
                uploaded as u64,
                todo.len() as u64,
                uploaded_bytes,
                t1,
            );
        }
    }
    if missing.contains(&manifest_digest) {
        c.put_bytes(&format!("/v1/blobs/{manifest_digest}"), &manifest_bytes)?;
        uploaded += 1;
        uploaded_bytes += manifest_bytes.len() as u64;
    }
    if !quiet {
        eprintln!();
    }
    let upload_secs = t1.elapsed().as_secs_f64();
    let image: Image = c.post(
        "/v1/images",
        &RegisterImage {
            name: name.to_string(),
            manifest: manifest_digest,
            size: manifest.total_file_bytes(),
        },
    )?;
    let activated_in = match group {
        Some(g) => {
            wait_majority_ready(c, name, Duration::from_secs(600))?;
            c.post::<_, ()>(
                &format!("/v1/images/{name}/activate"),
                &ActivateImage {
                    group: g.to_string(),
                },
            )?;
            Some(g.to_string())
        }
        None => None,
    };
    Ok(ImportReport {
        image,
        files: manifest.len(),
        blobs: files.len() + 1,
        uploaded_blobs: uploaded,
        uploaded_bytes,
        hash_secs,
        upload_secs,
        activated_in,
    })
}

/// Poll until a majority of boot servers report the image ready.
pub fn wait_majority_ready(c: &AdminClient, name: &str, timeout: Duration) -> Result<(), CtlError> {
    let start = Instant::now();
    loop {
        let views: Vec<ImageView> = c.get("/v1/images")?;
        let v = views
            .iter()
            .find(|v| v.image.name == name)
            .ok_or_else(|| CtlError::Other(format!("image {name} vanished")))?;
        if v.ready > v.replicas / 2 {
            return Ok(());
        }
        if start.elapsed() > timeout {
            let reasons: Vec<String> = v
                .readiness
                .iter()
                .filter_map(|(id, r)| r.reason.as_ref().map(|m| format!("node {id}: {m}")))
                .collect();
            return Err(CtlError::Other(format!(
                "image {name} ready on {} of {} boot servers after {timeout:?}: {}",
                v.ready,
                v.replicas,
                reasons.join("; ")
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
