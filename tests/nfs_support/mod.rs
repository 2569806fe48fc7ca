//! Shared by the NFS integration tests: a fixture tree, a server harness that runs an
//! `NfsService` on its own runtime, and a raw NFSv3/MOUNT client over TCP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod client;

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::{lchown, symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use raftboot::cas::{import_dir, BlobStore, Manifest};
use raftboot::nfs::{NfsCounters, NfsService};
use raftboot_raft::{Command, Request, Response, SharedState, State};
use tokio_util::sync::CancellationToken;

/// Entries in the large directory.
pub const MANY: usize = 5000;

/// A temp dir in memory (tmpfs) when the machine has one: these tests create and fsync tens
/// of thousands of small files, which is slow on some disks. Falls back to the default.
pub fn tempdir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::Builder::new()
            .prefix("raftboot-nfs-")
            .tempdir_in(shm)
        {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}

/// Deterministic pseudo-random bytes.
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn write(root: &Path, rel: &str, data: &[u8], mode: u32) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, data).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Whether this process may chown (root).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let f = tempfile::NamedTempFile::new().unwrap();
    f.as_file().metadata().unwrap().uid() == 0
}

/// Build the source tree: an executable, a setuid file, empty and 1 MiB+ files, a
/// symlink, a hard link, nested directories, a 5,000-entry directory, and (as root)
/// files owned by other users.
pub fn make_tree(root: &Path) {
    write(root, "sbin/init", b"#!/bin/sh\nexec /bin/sh\n", 0o755);
    write(root, "bin/su", b"setuid", 0o4755);
    write(root, "etc/hostname", b"demo\n", 0o644);
    write(root, "etc/shadow", b"root:*:1:0:99999:7:::\n", 0o640);
    write(root, "etc/empty", b"", 0o644);
    write(root, "var/big.bin", &bytes(1024 * 1024 + 12_345, 7), 0o644);
    write(root, "a/b/c/deep.txt", b"deep\n", 0o600);
    fs::hard_link(root.join("etc/hostname"), root.join("etc/hostname.hard")).unwrap();
    symlink("../etc/hostname", root.join("bin/hostname-link")).unwrap();
    symlink("hostname", root.join("etc/hostname-link")).unwrap();
    symlink("/nonexistent/target", root.join("dangling")).unwrap();
    for i in 0..MANY {
        write(
            root,
            &format!("many/entry-{i:05}"),
            format!("{i}\n").as_bytes(),
            0o644,
        );
    }
    if is_root() {
        lchown(root.join("etc/shadow"), Some(0), Some(42)).unwrap();
        lchown(root.join("a/b/c/deep.txt"), Some(1234), Some(5678)).unwrap();
        lchown(root.join("bin/hostname-link"), Some(1234), Some(5678)).unwrap();
    }
}

/// A tree imported into a blob store, registered as image `demo` (group `web`).
pub struct Image {
    pub dir: tempfile::TempDir,
    pub src: PathBuf,
    pub store_dir: PathBuf,
    pub manifest: Manifest,
    pub state: State,
}

fn apply(state: &mut State, cmd: Command) {
    let r = state.apply(&Request { now_ms: 1000, cmd });
    assert!(!matches!(r, Response::Rejected(_)), "{r:?}");
}

impl Image {
    /// The full fixture tree.
    pub fn build() -> Image {
        Image::build_with(make_tree)
    }

    /// A few files only (for tests about transports, not trees).
    pub fn build_small() -> Image {
        Image::build_with(|root| write(root, "etc/hostname", b"demo\n", 0o644))
    }

    fn build_with(make: impl Fn(&Path)) -> Image {
        let dir = tempdir();
        let src = dir.path().join("src");
        make(&src);
        let store_dir = dir.path().join("store-a");
        let store = BlobStore::open(&store_dir).unwrap();
        let manifest = import_dir(&src, &store, &|_| {}).unwrap();
        let digest = store.put(&manifest.to_bytes().unwrap()).unwrap();
        let mut state = State::default();
        apply(
            &mut state,
            Command::RegisterImage {
                name: "older".into(),
                manifest: "11".repeat(32),
                size: 1,
            },
        );
        apply(
            &mut state,
            Command::RegisterImage {
                name: "demo".into(),
                manifest: digest.to_hex(),
                size: manifest.total_file_bytes(),
            },
        );
        apply(
            &mut state,
            Command::ActivateImage {
                group: "web".into(),
                image: "demo".into(),
            },
        );
        Image {
            dir,
            src,
            store_dir,
            manifest,
            state,
        }
    }

    /// A copy of the blob store (another replica's data dir holding the same blobs).
    pub fn copy_store(&self, name: &str) -> PathBuf {
        let to = self.dir.path().join(name);
        copy_dir(&self.store_dir, &to);
        to
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// Every file under `dir` with its length and BLAKE3 (to show nothing changed on disk).
pub fn disk_snapshot(dir: &Path) -> Vec<(PathBuf, u64, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                out.push((p.clone(), 0, String::from("dir")));
                stack.push(p);
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(&p).unwrap();
                out.push((p, meta.len(), target.display().to_string()));
            } else {
                let data = fs::read(&p).unwrap();
                out.push((p, meta.len(), blake3::hash(&data).to_hex().to_string()));
            }
        }
    }
    out.sort();
    out
}

/// An `NfsService` running on its own runtime; stopped on drop.
pub struct Server {
    rt: Option<tokio::runtime::Runtime>,
    cancel: CancellationToken,
    pub nfs: SocketAddr,
    pub portmap: SocketAddr,
    pub counters: Arc<NfsCounters>,
}

impl Server {
    pub fn start(state: &State, store_dir: &Path) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // As in bootd: the serving path keeps verified chunks in memory.
        let mut store = BlobStore::open(store_dir).unwrap();
        store.set_chunk_cache(raftboot::cas::SERVE_CACHE_BYTES);
        let store = Arc::new(store);
        let svc = NfsService::new(SharedState::from_state(state.clone()), store);
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let bound = rt.block_on(svc.bind(any, any)).unwrap();
        let cancel = CancellationToken::new();
        let (nfs, portmap, counters) = (bound.nfs_addr(), bound.portmap_addr(), bound.counters());
        rt.spawn(bound.run(cancel.clone()));
        Server {
            rt: Some(rt),
            cancel,
            nfs,
            portmap,
            counters,
        }
    }

    /// A libnfs URL for `path` on this server (ports given, so no portmapper needed).
    pub fn url(&self, path: &str) -> String {
        let p = self.nfs.port();
        format!("nfs://127.0.0.1{path}?nfsport={p}&mountport={p}&version=3")
    }

    pub fn stop(&mut self) {
        self.cancel.cancel();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
