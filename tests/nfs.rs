//! The NFS service end to end on loopback: real clients (libnfs-utils `nfs-ls`, `nfs-cat`,
//! `nfs-cp`) against the source tree, handle portability across replicas and restarts with
//! a raw client (`nfs/portability.rs`), read-only refusals, corruption, the portmapper over
//! UDP and TCP (`nfs/transport.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod nfs_support;
#[path = "nfs/portability.rs"]
mod portability;
#[path = "nfs/transport.rs"]
mod transport;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;

use nfs_support::{Image, Server, MANY};

pub fn have_libnfs() -> bool {
    Command::new("nfs-ls").arg("--usage").output().is_ok()
}

/// What `nfs-ls -l` prints for a mode: type letter and rwx bits.
fn ls_mode(meta: &fs::Metadata) -> String {
    let ft = meta.file_type();
    let t = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else {
        '-'
    };
    let m = meta.permissions().mode();
    let mut s = String::from(t);
    for shift in [6, 3, 0] {
        let b = (m >> shift) & 7;
        s.push(if b & 4 != 0 { 'r' } else { '-' });
        s.push(if b & 2 != 0 { 'w' } else { '-' });
        s.push(if b & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// Walk the source tree: relative path -> metadata.
fn source_entries(root: &Path) -> BTreeMap<String, fs::Metadata> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            if meta.is_dir() {
                stack.push(p);
            }
            out.insert(rel, meta);
        }
    }
    out
}

fn subdirs(root: &Path, rel: &str) -> u64 {
    fs::read_dir(root.join(rel))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
        .count() as u64
}

fn nfs_cat(srv: &Server, rel: &str) -> std::process::Output {
    Command::new("nfs-cat")
        .arg(srv.url(&format!("/images/demo/{rel}")))
        .output()
        .unwrap()
}

#[test]
fn real_clients_list_and_read_the_image_like_the_source_tree() {
    if !have_libnfs() {
        panic!("libnfs-utils is not installed (scripts/test-all.sh installs it)");
    }
    let img = Image::build();
    let srv = Server::start(&img.state, &img.store_dir);
    let src = source_entries(&img.src);

    for export in ["/images/demo", "/groups/web"] {
        let out = Command::new("nfs-ls")
            .arg("-R")
            .arg(srv.url(export))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 6, "unexpected nfs-ls line {line:?}");
            seen.entry(f[5].to_string())
                .or_default()
                .push(line.to_string());
        }
        // Every entry exactly once, including all 5,000 of the large directory.
        assert!(seen.values().all(|v| v.len() == 1), "listed twice");
        assert_eq!(
            seen.keys().filter(|k| k.starts_with("many/")).count(),
            MANY,
            "large directory"
        );
        assert_eq!(
            seen.keys().collect::<BTreeSet<_>>(),
            src.keys().collect::<BTreeSet<_>>()
        );
        for (rel, meta) in &src {
            let f: Vec<String> = seen[rel][0].split_whitespace().map(String::from).collect();
            assert_eq!(f[0], ls_mode(meta), "{rel} mode");
            let nlink = if meta.is_dir() {
                2 + subdirs(&img.src, rel)
            } else {
                meta.nlink()
            };
            assert_eq!(f[1], nlink.to_string(), "{rel} nlink");
            assert_eq!(f[2], meta.uid().to_string(), "{rel} uid");
            assert_eq!(f[3], meta.gid().to_string(), "{rel} gid");
            let size = if meta.is_dir() { 0 } else { meta.len() };
            assert_eq!(f[4], size.to_string(), "{rel} size");
        }
    }

    // Content: every file outside the large directory, a sample inside it, and through
    // the symlink (whose target libnfs resolves on the server's tree).
    let mut files: Vec<&String> = src
        .iter()
        .filter(|(k, m)| m.is_file() && !k.starts_with("many/"))
        .map(|(k, _)| k)
        .collect();
    let sample: Vec<String> = (0..MANY)
        .step_by(997)
        .map(|i| format!("many/entry-{i:05}"))
        .collect();
    files.extend(sample.iter());
    for rel in files {
        let out = nfs_cat(&srv, rel);
        assert!(
            out.status.success(),
            "nfs-cat {rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = fs::read(img.src.join(rel)).unwrap();
        assert_eq!(
            blake3::hash(&out.stdout),
            blake3::hash(&want),
            "{rel} content"
        );
    }
    // (libnfs mounts the file's directory, so the link stays inside it.)
    let out = nfs_cat(&srv, "etc/hostname-link");
    assert_eq!(out.stdout, b"demo\n", "content through the symlink");

    // nfs-cp of the 1 MiB+ file.
    let local = img.dir.path().join("big.copy");
    let out = Command::new("nfs-cp")
        .arg(srv.url("/images/demo/var/big.bin"))
        .arg(&local)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read(&local).unwrap(),
        fs::read(img.src.join("var/big.bin")).unwrap()
    );
    assert!(srv.counters.reads.load(Ordering::Relaxed) > 0);
}
