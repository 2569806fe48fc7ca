//! Directory import: entries, attributes, hard links, dedup, determinism, plan/commit.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixListener;

use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;

use super::fixture::{build, bytes, K64};
use crate::cas::{
    hash_dir, import_dir, store_files, BlobStore, CasError, EntryKind, ImportProgress,
};

fn no_progress(_: ImportProgress) {}

#[test]
fn import_dir_preserves_the_tree() {
    let src = tempfile::tempdir().unwrap();
    let made = build(src.path(), true);
    let data = tempfile::tempdir().unwrap();
    let store = BlobStore::open(data.path()).unwrap();
    let last = Cell::new(ImportProgress::default());
    let m = import_dir(src.path(), &store, &|p| last.set(p)).unwrap();

    let p = last.get();
    assert_eq!(p.files_done, p.files_total);
    assert_eq!(p.bytes_done, p.bytes_total);
    assert!(p.files_total > 5000);

    let get = |path: &str| m.lookup(path).unwrap_or_else(|| panic!("{path} missing")).1;
    for (path, n) in [
        ("empty", 0),
        ("one", 1),
        ("exact64k", K64),
        ("over64k", K64 + 1),
    ] {
        assert_eq!(get(path).size, n as u64, "{path}");
    }
    let big = get("big.bin");
    let big_src = fs::read(src.path().join("big.bin")).unwrap();
    assert_eq!(big.size, big_src.len() as u64);
    let d = big.file_digest().unwrap();
    for off in [
        0u64,
        K64 as u64 - 1,
        K64 as u64,
        8 * K64 as u64 + 1,
        big.size - 1,
    ] {
        let got = store.read_at(&d, off, 2 * K64).unwrap();
        let o = off as usize;
        assert_eq!(got, &big_src[o..(o + 2 * K64).min(big_src.len())]);
    }
    assert_eq!(get("setuid").mode, 0o4755);
    assert_eq!(get("script.sh").mode, 0o755);
    assert_eq!(get("one").mode, 0o600);
    assert_eq!(get("sticky").mode, 0o1777);
    assert_eq!(
        get("link").kind,
        EntryKind::Symlink {
            target: "big.bin".into()
        }
    );
    assert_eq!(get("link").size, 7);
    assert_eq!(
        get("dangling").kind,
        EntryKind::Symlink {
            target: "/nonexistent/target".into()
        }
    );
    assert!(matches!(get("hard_a").kind, EntryKind::File { .. }));
    assert_eq!(
        get("nested/hard_b").kind,
        EntryKind::HardLink {
            target: "hard_a".into()
        }
    );
    assert_eq!((get("hard_a").nlink, get("nested/hard_b").nlink), (2, 2));
    assert_eq!(get("nested/hard_b").size, 19);
    assert!(get("nested/deeper/deepest").is_dir());
    assert_eq!(get("nested/deeper/deepest/file.txt").mode, 0o444);
    assert_eq!(get("fifo").kind, EntryKind::Fifo);
    assert_eq!(get("fifo").mode, 0o640);
    if made.devices {
        assert_eq!(
            get("null_dev").kind,
            EntryKind::CharDevice { major: 1, minor: 3 }
        );
        assert_eq!(
            get("loop_dev").kind,
            EntryKind::BlockDevice {
                major: 7,
                minor: 300
            }
        );
    }
    if made.chowned {
        assert_eq!((get("setuid").uid, get("setuid").gid), (1234, 5678));
        assert_eq!((get("link").uid, get("link").gid), (42, 43));
    }
    assert_eq!(get("").mtime_s, 1_600_000_000);
    assert_eq!(get("nested").nlink, 3);

    let (many, _) = m.lookup("many").unwrap();
    let kids: Vec<&str> = m.children(many).map(|(_, e)| e.name()).collect();
    assert_eq!(kids.len(), 5000);
    assert!(kids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(kids[0], "f00000");

    // Dedup: dup_a and sub/dup_b share one blob; "many" holds 100 distinct contents.
    assert_eq!(get("dup_a").file_digest(), get("sub/dup_b").file_digest());
    assert_eq!(store.list().unwrap().len(), m.blobs().len());
    let stored: BTreeSet<_> = store.list().unwrap().into_iter().collect();
    assert_eq!(stored, m.blobs());

    // Determinism: a second import (into a fresh store) gives the same image id.
    let data2 = tempfile::tempdir().unwrap();
    let store2 = BlobStore::open(data2.path()).unwrap();
    let m2 = import_dir(src.path(), &store2, &no_progress).unwrap();
    assert_eq!(m2.digest(), m.digest());
    assert_eq!(m2, m);
    assert_eq!(
        import_dir(src.path(), &store, &no_progress)
            .unwrap()
            .digest(),
        m.digest()
    );

    // Plan/commit: hashing alone gives the same manifest; upload only what is missing.
    let (planned, files) = hash_dir(src.path(), &no_progress).unwrap();
    assert_eq!(planned.digest(), m.digest());
    assert_eq!(files.len(), m.blobs().len());
    let data3 = tempfile::tempdir().unwrap();
    let store3 = BlobStore::open(data3.path()).unwrap();
    store3.put(b"file 7").unwrap();
    let missing: Vec<_> = files
        .iter()
        .filter(|(d, _)| !store3.contains(d))
        .cloned()
        .collect();
    assert_eq!(missing.len(), files.len() - 1);
    store_files(&store3, &missing, &no_progress).unwrap();
    let stored3: BTreeSet<_> = store3.list().unwrap().into_iter().collect();
    assert_eq!(stored3, m.blobs());
}

#[test]
fn nanosecond_mtimes_sockets_and_changed_files() {
    let src = tempfile::tempdir().unwrap();
    let f = src.path().join("f");
    fs::write(&f, bytes(100, 1)).unwrap();
    let t = TimeSpec::new(1_700_000_000, 123_456_789);
    utimensat(None, &f, &t, &t, UtimensatFlags::NoFollowSymlink).unwrap();
    let _sock = UnixListener::bind(src.path().join("sock")).unwrap();
    let (m, files) = hash_dir(src.path(), &no_progress).unwrap();
    let e = m.lookup("f").unwrap().1;
    assert_eq!((e.mtime_s, e.mtime_ns), (1_700_000_000, 123_456_789));
    assert_eq!(m.lookup("sock").unwrap().1.kind, EntryKind::Socket);

    // The file changes between plan and upload: refused, nothing stored.
    fs::write(&f, b"changed").unwrap();
    let data = tempfile::tempdir().unwrap();
    let store = BlobStore::open(data.path()).unwrap();
    let err = store_files(&store, &files, &no_progress).unwrap_err();
    assert!(matches!(err, CasError::DigestMismatch { .. }), "{err}");
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn non_utf8_names_are_refused_naming_the_path() {
    let src = tempfile::tempdir().unwrap();
    fs::create_dir(src.path().join("d")).unwrap();
    let bad = src.path().join("d").join(OsStr::from_bytes(b"caf\xe9"));
    fs::write(&bad, b"x").unwrap();
    let err = hash_dir(src.path(), &no_progress).unwrap_err();
    assert!(
        matches!(&err, CasError::NonUtf8Path { path } if *path == bad),
        "{err}"
    );
    assert!(err.to_string().contains("caf"), "{err}");
}

#[test]
fn import_root_must_be_a_directory() {
    let src = tempfile::tempdir().unwrap();
    let f = src.path().join("file");
    fs::write(&f, b"x").unwrap();
    assert!(hash_dir(&f, &no_progress).is_err());
    assert!(hash_dir(&src.path().join("missing"), &no_progress).is_err());
}
