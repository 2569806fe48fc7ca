//! BlobStore: dedup, atomicity, verified reads at chunk boundaries, corruption handling.

use std::fs::{self, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;

use super::fixture::{bytes, K64};
use crate::cas::{BlobStore, CasError, Digest, CHUNK_SIZE};

fn store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = BlobStore::open(dir.path()).unwrap();
    (dir, s)
}

fn flip_byte(s: &BlobStore, d: &Digest, at: u64) {
    let f = OpenOptions::new()
        .write(true)
        .read(true)
        .open(s.blob_path(d))
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).unwrap();
    b[0] ^= 0x40;
    f.write_all_at(&b, at).unwrap();
}

fn tmp_is_empty(s: &BlobStore) -> bool {
    fs::read_dir(s.root().join("tmp")).unwrap().next().is_none()
}

#[test]
fn put_dedups_and_lists() {
    let (_d, s) = store();
    let a = s.put(b"hello").unwrap();
    assert_eq!(a, Digest::of(b"hello"));
    assert_eq!(s.put(b"hello").unwrap(), a);
    let b = s.put(b"").unwrap();
    assert!(s.contains(&a) && s.contains(&b));
    assert_eq!(s.len_of(&a).unwrap(), 5);
    // Blobs of one chunk need no sidecar; larger ones have one.
    assert!(!s.sidecar_path(&a).exists());
    let big = s.put(&bytes(K64 + 1, 1)).unwrap();
    assert!(s.sidecar_path(&big).exists());
    assert!(s.remove(&big).unwrap());
    assert!(!s.sidecar_path(&big).exists());
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(s.list().unwrap(), want);
    assert!(s.remove(&a).unwrap());
    assert!(!s.remove(&a).unwrap());
    assert!(!s.contains(&a));
    assert!(matches!(s.len_of(&a), Err(CasError::NotFound(_))));
    assert!(matches!(s.read_at(&a, 0, 1), Err(CasError::NotFound(_))));
    assert_eq!(s.list().unwrap(), vec![b]);
    assert!(tmp_is_empty(&s));
}

#[test]
fn read_at_chunk_boundaries_returns_exact_bytes() {
    let (_d, s) = store();
    for (seed, n) in [0, 1, K64 - 1, K64, K64 + 1, 3 * K64, (1 << 20) + 123]
        .into_iter()
        .enumerate()
    {
        let data = bytes(n, seed as u64);
        let d = s.put(&data).unwrap();
        s.verify(&d).unwrap();
        let n64 = n as u64;
        let offsets = [
            0,
            1,
            K64 as u64 - 1,
            K64 as u64,
            K64 as u64 + 1,
            2 * K64 as u64,
        ]
        .into_iter()
        .chain([n64.saturating_sub(1), n64, n64 + 5]);
        for off in offsets {
            for len in [0, 1, 2, K64 - 1, K64, K64 + 1, 1 << 20, usize::MAX] {
                let got = s.read_at(&d, off, len).unwrap();
                let start = (off as usize).min(n);
                let end = start.saturating_add(len).min(n);
                assert_eq!(got, &data[start..end], "n={n} off={off} len={len}");
            }
        }
        let mut all = Vec::new();
        s.open_reader(&d).unwrap().read_to_end(&mut all).unwrap();
        assert_eq!(all, data);
    }
}

#[test]
fn corruption_is_detected_quarantined_and_repaired() {
    let (_d, s) = store();
    let data = bytes((1 << 20) + 7, 9);
    let d = s.put(&data).unwrap();
    let bad_at = 3 * CHUNK_SIZE + 100;
    flip_byte(&s, &d, bad_at);

    // Any read touching chunk 3 fails and returns no bytes; others still verify.
    for (off, len) in [
        (3 * CHUNK_SIZE, 1),
        (bad_at, 1),
        (0, 1 << 20),
        (2 * CHUNK_SIZE + 5, K64),
    ] {
        match s.read_at(&d, off, len) {
            Err(CasError::Corrupt { digest, offset }) => {
                assert_eq!(digest, d);
                assert_eq!(offset, 3 * CHUNK_SIZE);
            }
            other => panic!("read at {off}+{len}: expected Corrupt, got {other:?}"),
        }
    }
    assert_eq!(s.read_at(&d, 0, K64).unwrap(), &data[..K64]);
    assert_eq!(
        s.read_at(&d, 4 * CHUNK_SIZE, 10).unwrap(),
        &data[4 * K64..4 * K64 + 10]
    );
    let mut sink = Vec::new();
    assert!(s.open_reader(&d).unwrap().read_to_end(&mut sink).is_err());
    assert!(matches!(
        s.verify(&d),
        Err(CasError::Corrupt { offset, .. }) if offset == 3 * CHUNK_SIZE
    ));

    let other = s.put(b"healthy").unwrap();
    let report = s.scrub().unwrap();
    assert_eq!(report.checked, 2);
    assert_eq!(report.corrupt, vec![d]);
    assert!(report.errors.is_empty());
    assert!(!s.contains(&d));
    assert_eq!(s.list().unwrap(), vec![other]);
    assert_eq!(s.quarantined().unwrap(), vec![d]);
    assert!(matches!(s.read_at(&d, 0, 1), Err(CasError::NotFound(_))));

    // Wrong bytes are refused and nothing is stored.
    let mut wrong = data.clone();
    wrong[0] ^= 1;
    assert!(matches!(
        s.put_verified(d, &wrong),
        Err(CasError::DigestMismatch { expected, .. }) if expected == d
    ));
    assert!(!s.contains(&d));
    assert!(!s.contains(&Digest::of(&wrong)));
    assert!(tmp_is_empty(&s));

    // The right bytes repair it.
    s.put_verified(d, &data).unwrap();
    s.verify(&d).unwrap();
    assert_eq!(s.read_at(&d, 0, usize::MAX).unwrap(), data);
    assert_eq!(s.scrub().unwrap().corrupt, vec![]);
}

#[test]
fn small_blob_and_truncation_are_detected() {
    let (_d, s) = store();
    let small = s.put(b"just a few bytes").unwrap();
    flip_byte(&s, &small, 3);
    assert!(matches!(
        s.read_at(&small, 10, 2),
        Err(CasError::Corrupt { offset: 0, .. })
    ));
    assert!(s.verify(&small).is_err());

    let data = bytes(3 * K64, 5);
    let d = s.put(&data).unwrap();
    let f = OpenOptions::new()
        .write(true)
        .open(s.blob_path(&d))
        .unwrap();
    f.set_len(2 * K64 as u64 + 10).unwrap();
    assert!(matches!(
        s.read_at(&d, 0, 1),
        Err(CasError::Corrupt { offset, .. }) if offset == 2 * CHUNK_SIZE
    ));
    assert!(s.verify(&d).unwrap_err().is_corruption());
}

#[test]
fn damaged_or_missing_sidecar_is_rebuilt_only_for_good_blobs() {
    let data = bytes(5 * K64 + 3, 11);
    for damage in ["delete", "garbage", "other-blob"] {
        let (_d, s) = store();
        let d = s.put(&data).unwrap();
        let side = s.sidecar_path(&d);
        match damage {
            "delete" => fs::remove_file(&side).unwrap(),
            "garbage" => fs::write(&side, b"RBCHNK01 nonsense").unwrap(),
            _ => {
                let o = s.put(&bytes(5 * K64 + 3, 12)).unwrap();
                fs::copy(s.sidecar_path(&o), &side).unwrap();
            }
        }
        assert_eq!(
            s.read_at(&d, K64 as u64, 10).unwrap(),
            &data[K64..K64 + 10],
            "{damage}"
        );
        s.verify(&d).unwrap();
        assert!(crate::cas::ChunkTable::decode(&d, &fs::read(&side).unwrap()).is_some());
    }
    // A bad sidecar next to a bad blob: nothing is served.
    let (_d, s) = store();
    let d = s.put(&data).unwrap();
    fs::remove_file(s.sidecar_path(&d)).unwrap();
    flip_byte(&s, &d, 10);
    assert!(s
        .read_at(&d, 4 * K64 as u64, 1)
        .unwrap_err()
        .is_corruption());
}

#[test]
fn put_file_streams_and_refuses_mismatch() {
    let (dir, s) = store();
    let src = dir.path().join("src.bin");
    let data = bytes(3 * K64 + 17, 21);
    fs::write(&src, &data).unwrap();
    let (d, len) = s.put_file(&src).unwrap();
    assert_eq!((d, len), (Digest::of(&data), data.len() as u64));
    assert_eq!(s.read_at(&d, 0, usize::MAX).unwrap(), data);

    let src2 = dir.path().join("src2.bin");
    fs::write(&src2, b"changed").unwrap();
    let err = s
        .put_file_verified(Digest::of(b"original"), &src2)
        .unwrap_err();
    assert!(matches!(err, CasError::DigestMismatch { .. }));
    assert!(!s.contains(&Digest::of(b"changed")));
    assert!(tmp_is_empty(&s));
    assert_eq!(
        s.put_file_verified(Digest::of(b"changed"), &src2).unwrap(),
        7
    );
}

#[test]
fn open_cleans_stale_temp_files_and_io_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let s = BlobStore::open(dir.path()).unwrap();
    let stale = dir.path().join("tmp/123-4.tmp");
    fs::write(&stale, b"half a blob").unwrap();
    drop(s);
    let s = BlobStore::open(dir.path()).unwrap();
    assert!(!stale.exists());
    assert!(s.list().unwrap().is_empty());

    fs::remove_dir(dir.path().join("tmp")).unwrap();
    let err = s.put(b"data").unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            CasError::Io {
                op: "create temp file",
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("tmp"), "{msg}");
    assert!(!s.contains(&Digest::of(b"data")));
}

#[test]
fn concurrent_puts_of_the_same_blob_are_safe() {
    let (_d, s) = store();
    let data = bytes(2 * K64 + 1, 33);
    std::thread::scope(|sc| {
        for _ in 0..8 {
            sc.spawn(|| s.put(&data).unwrap());
        }
    });
    let d = Digest::of(&data);
    assert_eq!(s.list().unwrap(), vec![d]);
    s.verify(&d).unwrap();
    assert!(tmp_is_empty(&s));
}

#[test]
fn cached_reads_return_exact_bytes_and_hit_after_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = BlobStore::open(dir.path()).unwrap();
    s.set_chunk_cache(64 * K64);
    let n = (1 << 20) + 123;
    let data = bytes(n, 3);
    let d = s.put(&data).unwrap();
    for round in 0..2 {
        for off in [
            0,
            1,
            K64 as u64 - 1,
            K64 as u64,
            5 * K64 as u64 + 7,
            n as u64 - 1,
        ] {
            for len in [1, K64 - 1, K64, K64 + 1, 1 << 20] {
                let mut out = b"head".to_vec();
                let got = s.read_at_into(&d, off, len, &mut out).unwrap();
                let start = off as usize;
                let end = start.saturating_add(len).min(n);
                assert_eq!(got, end - start);
                assert_eq!(&out[..4], b"head", "round {round}");
                assert_eq!(&out[4..], &data[start..end], "off={off} len={len}");
            }
        }
    }
    let c = s.chunk_cache();
    assert!(c.hits.load(std::sync::atomic::Ordering::Relaxed) > 0);
    assert!(c.bytes() <= 64 * K64);
    // The plain read path never fills the cache.
    let (_d2, plain) = store();
    let d2 = plain.put(&data).unwrap();
    plain.read_at(&d2, 0, n).unwrap();
    assert_eq!(plain.chunk_cache().bytes(), 0);
}

#[test]
fn a_cached_chunk_whose_file_is_rewritten_is_read_and_verified_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = BlobStore::open(dir.path()).unwrap();
    s.set_chunk_cache(64 * K64);
    let data = bytes(4 * K64, 5);
    let d = s.put(&data).unwrap();
    // An old mtime, so the damage below changes the file's stamp even within one
    // timestamp tick of the put.
    let f = OpenOptions::new()
        .write(true)
        .open(s.blob_path(&d))
        .unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
        .unwrap();
    drop(f);
    let mut out = Vec::new();
    s.read_at_into(&d, 0, 4 * K64, &mut out).unwrap();
    assert_eq!(out, data);
    assert!(s.chunk_cache().bytes() >= 4 * K64);
    flip_byte(&s, &d, 2 * CHUNK_SIZE + 9);
    let mut out = b"keep".to_vec();
    match s.read_at_into(&d, 2 * CHUNK_SIZE, 10, &mut out) {
        Err(CasError::Corrupt { offset, .. }) => assert_eq!(offset, 2 * CHUNK_SIZE),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(out, b"keep", "nothing appended on error");
    // Chunks that are still good read (and verify) from disk again.
    let mut out = Vec::new();
    s.read_at_into(&d, 0, K64, &mut out).unwrap();
    assert_eq!(out, &data[..K64]);
}
