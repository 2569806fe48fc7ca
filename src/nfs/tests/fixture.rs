//! A small image (files, an executable, a 0600 file, a symlink, a hard link, a directory
//! larger than one READDIR reply) imported into a temp blob store and registered in a
//! `State`, and helpers that send RPC calls straight to a `Dispatcher`.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::sync::Arc;

use raftboot_raft::{Command, Request, SharedState, State};
use tempfile::TempDir;

use crate::cas::{import_dir, BlobStore, Manifest};
use crate::nfs::portmap::PortmapTable;
use crate::nfs::rpc::{decode_reply, encode_call, AcceptStat, AuthUnix};
use crate::nfs::{Dispatcher, ImageFs, NfsCounters};

pub const MANY: usize = 300;

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

pub struct Fixture {
    pub _dir: TempDir,
    pub store: Arc<BlobStore>,
    pub state: State,
    pub manifest: Manifest,
}

pub fn apply(state: &mut State, cmd: Command) {
    let r = state.apply(&Request { now_ms: 1, cmd });
    assert!(!matches!(r, raftboot_raft::Response::Rejected(_)), "{r:?}");
}

pub fn fixture() -> Fixture {
    let dir = tempdir();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("bin")).unwrap();
    fs::create_dir_all(src.join("many")).unwrap();
    fs::write(src.join("bin/init"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(src.join("bin/init"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(src.join("secret"), b"s").unwrap();
    fs::set_permissions(src.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(src.join("data"), bytes(200_000, 1)).unwrap();
    fs::hard_link(src.join("data"), src.join("data.hard")).unwrap();
    symlink("bin/init", src.join("init-link")).unwrap();
    for i in 0..MANY {
        fs::write(
            src.join(format!("many/file-with-a-longish-name-{i:05}")),
            b"x",
        )
        .unwrap();
    }
    let store = Arc::new(BlobStore::open(&dir.path().join("store")).unwrap());
    let manifest = import_dir(&src, &store, &|_| {}).unwrap();
    let digest = store.put(&manifest.to_bytes().unwrap()).unwrap();
    assert_eq!(digest, manifest.digest());
    let mut state = State::default();
    apply(
        &mut state,
        Command::RegisterImage {
            name: "other".into(),
            manifest: "00".repeat(32),
            size: 0,
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
    Fixture {
        _dir: dir,
        store,
        state,
        manifest,
    }
}

pub fn dispatcher(fx: &Fixture) -> Dispatcher {
    let fs = ImageFs::new(
        SharedState::from_state(fx.state.clone()),
        Arc::clone(&fx.store),
    );
    Dispatcher::new(
        fs,
        Arc::new(NfsCounters::default()),
        PortmapTable::new(2049, 111),
    )
}

/// Send one call; returns the accept status and the result bytes.
pub fn call(
    d: &Dispatcher,
    prog: u32,
    vers: u32,
    proc_: u32,
    auth: Option<&AuthUnix>,
    args: &[u8],
) -> (AcceptStat, Vec<u8>) {
    let msg = encode_call(7, prog, vers, proc_, auth, args);
    let reply = d.answer(&msg, 2 << 20).expect("a reply");
    let h = decode_reply(&reply).unwrap();
    assert_eq!(h.xid, 7);
    (h.accept.expect("accepted"), reply[h.results_at..].to_vec())
}
