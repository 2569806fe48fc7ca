//! Manifest: canonical order, index helpers, validation of hostile bytes, round trips.

use proptest::prelude::*;

use crate::cas::{CasError, Digest, EntryKind, Manifest, ManifestEntry};

fn dir(p: &str) -> ManifestEntry {
    ManifestEntry {
        mode: 0o755,
        ..ManifestEntry::new(p, EntryKind::Dir)
    }
}

fn file(p: &str, content: &[u8]) -> ManifestEntry {
    ManifestEntry {
        mode: 0o644,
        size: content.len() as u64,
        ..ManifestEntry::new(
            p,
            EntryKind::File {
                digest: Digest::of(content),
            },
        )
    }
}

fn sample() -> Manifest {
    Manifest::from_entries(vec![
        file("a/b", b"ab"),
        dir("a"),
        file("a-b", b"dash"),
        dir(""),
        ManifestEntry::new(
            "a/link",
            EntryKind::Symlink {
                target: "../a-b".into(),
            },
        ),
        ManifestEntry::new(
            "z",
            EntryKind::HardLink {
                target: "a/b".into(),
            },
        ),
        dir("a/sub"),
        ManifestEntry::new("a/sub/null", EntryKind::CharDevice { major: 1, minor: 3 }),
        ManifestEntry::new("a0", EntryKind::Fifo),
    ])
    .unwrap()
}

#[test]
fn order_index_and_derived_fields() {
    let m = sample();
    let paths: Vec<&str> = m.entries().iter().map(|e| e.path.as_str()).collect();
    // Byte order: '-' < '/' < '0', so "a-b" sorts between "a" and "a/b".
    assert_eq!(
        paths,
        [
            "",
            "a",
            "a-b",
            "a/b",
            "a/link",
            "a/sub",
            "a/sub/null",
            "a0",
            "z"
        ]
    );
    let (i, e) = m.lookup("/a/b").unwrap();
    assert_eq!((i, e.nlink, e.size), (3, 2, 2));
    let z = m.lookup("z").unwrap().1;
    assert_eq!((z.nlink, z.size, z.mode), (2, 2, 0o644));
    assert_eq!(m.lookup("a/link").unwrap().1.size, 6);
    assert_eq!(m.lookup("").unwrap().0, 0);
    assert_eq!(m.lookup("/").unwrap().0, 0);
    assert!(m.lookup("nope").is_none());
    assert_eq!(m.entry(0).unwrap().nlink, 3); // root: 2 + "a"
    assert_eq!(m.lookup("a").unwrap().1.nlink, 3); // 2 + "a/sub"
    let kids: Vec<&str> = m.children(1).map(|(_, e)| e.name()).collect();
    assert_eq!(kids, ["b", "link", "sub"]);
    let root_kids: Vec<usize> = m.children(0).map(|(i, _)| i).collect();
    assert_eq!(root_kids, [1, 2, 7, 8]);
    assert_eq!(m.children(3).count(), 0);
    assert_eq!(m.children(999).count(), 0);
    assert_eq!(m.parent(6), Some(5));
    assert_eq!(m.parent(1), Some(0));
    assert_eq!(m.parent(0), None);
    assert_eq!(m.lookup_child(1, "sub").unwrap().0, 5);
    assert_eq!(m.lookup_child(0, "a-b").unwrap().0, 2);
    assert!(m.lookup_child(3, "x").is_none());
    assert_eq!(m.total_file_bytes(), 6);
    assert_eq!(m.blobs().len(), 2);
}

#[test]
fn bytes_round_trip_and_digest_is_hash_of_bytes() {
    let m = sample();
    let b = m.to_bytes().unwrap();
    assert_eq!(m.digest(), Digest::of(&b));
    let back = Manifest::from_bytes(&b).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.digest(), m.digest());
    let mut trailing = b.clone();
    trailing.push(0);
    assert!(matches!(
        Manifest::from_bytes(&trailing),
        Err(CasError::InvalidManifest(_))
    ));
    assert!(Manifest::from_bytes(&b[..b.len() - 1]).is_err());
    assert!(Manifest::from_bytes(&[]).is_err());
}

#[test]
fn large_directory_children_are_listed_in_order() {
    let mut entries = vec![dir(""), dir("d")];
    for i in (0..5000).rev() {
        entries.push(file(&format!("d/f{i:05}"), b""));
    }
    let m = Manifest::from_entries(entries).unwrap();
    let kids: Vec<usize> = m.children(1).map(|(i, _)| i).collect();
    assert_eq!(kids, (2..5002).collect::<Vec<_>>());
    assert_eq!(m.blobs().len(), 1);
}

fn invalid(entries: Vec<ManifestEntry>) -> String {
    match Manifest::from_entries(entries) {
        Err(CasError::InvalidManifest(m)) => m,
        other => panic!("expected InvalidManifest, got {other:?}"),
    }
}

#[test]
fn invariants_are_enforced() {
    assert!(invalid(vec![]).contains("no entries"));
    assert!(invalid(vec![file("", b"")]).contains("root"));
    assert!(invalid(vec![dir("a")]).contains("root"));
    assert!(invalid(vec![dir(""), dir("a"), dir("a")]).contains("duplicate"));
    assert!(invalid(vec![dir(""), file("a/b", b"")]).contains("parent"));
    assert!(invalid(vec![dir(""), file("a", b""), file("a/b", b"")]).contains("parent"));
    assert!(invalid(vec![dir(""), dir("a//b")]).contains("malformed"));
    assert!(invalid(vec![dir(""), dir("..")]).contains("malformed"));
    assert!(invalid(vec![dir(""), dir("a/")]).contains("malformed"));
    let hl = |t: &str| ManifestEntry::new("b", EntryKind::HardLink { target: t.into() });
    assert!(invalid(vec![dir(""), dir("a"), hl("a")]).contains("hard link"));
    assert!(invalid(vec![dir(""), hl("missing")]).contains("hard link"));
    assert!(invalid(vec![dir(""), hl("c"), file("c", b"")]).contains("hard link"));
    let bad_mode = ManifestEntry {
        mode: 0o170000,
        ..file("f", b"")
    };
    assert!(invalid(vec![dir(""), bad_mode]).contains("mode"));
}

/// Hand-built (not normalized) lists must be canonical to decode.
#[test]
fn non_canonical_lists_are_refused_on_decode() {
    #[derive(serde::Serialize)]
    struct Wire {
        entries: Vec<ManifestEntry>,
    }
    let enc =
        |entries: Vec<ManifestEntry>| raftboot_raft::codec::encode(&Wire { entries }).unwrap();
    let ok = sample();
    let mut e = ok.entries().to_vec();
    assert!(Manifest::from_bytes(&enc(e.clone())).is_ok());
    e[1].nlink = 7;
    assert!(Manifest::from_bytes(&enc(e)).is_err());
    let mut e = ok.entries().to_vec();
    e.swap(1, 2);
    assert!(Manifest::from_bytes(&enc(e)).is_err());
    let mut e = ok.entries().to_vec();
    e[8].mode = 0o600; // hard link differing from its target
    assert!(Manifest::from_bytes(&enc(e)).is_err());
    let mut e = ok.entries().to_vec();
    e[2].size += 1;
    assert!(Manifest::from_bytes(&enc(e)).is_ok()); // file sizes are free
    let mut e = ok.entries().to_vec();
    e[4].size += 1; // symlink size must be its target length
    assert!(Manifest::from_bytes(&enc(e)).is_err());
}

fn arb_manifest() -> impl Strategy<Value = Manifest> {
    let name = prop::sample::select(vec!["a", "b", "a-b", "a.b", "é", "0", "ä/x"]);
    let kind = prop_oneof![Just(0u8), Just(1), Just(2), Just(3), Just(4), Just(5),];
    prop::collection::vec(
        (name, kind, any::<u32>(), any::<i64>(), 0u32..1_000_000_000),
        0..40,
    )
    .prop_map(|items| {
        let mut entries = vec![dir("")];
        let mut dirs = vec![String::new()];
        let mut files: Vec<String> = Vec::new();
        for (i, (name, kind, n, t, ns)) in items.into_iter().enumerate() {
            let name = name.replace('/', "_");
            let parent = &dirs[n as usize % dirs.len()];
            let path = if parent.is_empty() {
                format!("{name}{i}")
            } else {
                format!("{parent}/{name}{i}")
            };
            let k = match kind {
                0 => EntryKind::Dir,
                1 => EntryKind::File {
                    digest: Digest::of(&n.to_le_bytes()),
                },
                2 => EntryKind::Symlink {
                    target: format!("t{n}"),
                },
                3 if !files.is_empty() => EntryKind::HardLink {
                    target: files[n as usize % files.len()].clone(),
                },
                4 => EntryKind::BlockDevice {
                    major: n >> 20,
                    minor: n & 0xfffff,
                },
                _ => EntryKind::Socket,
            };
            match &k {
                EntryKind::Dir => dirs.push(path.clone()),
                EntryKind::File { .. } => files.push(path.clone()),
                _ => {}
            }
            let e = ManifestEntry {
                mode: n & 0o7777,
                uid: n,
                gid: n / 3,
                size: u64::from(n),
                mtime_s: t,
                mtime_ns: ns,
                ..ManifestEntry::new(path, k)
            };
            entries.push(e);
        }
        // Hard links must sort after their target: drop the ones that would not.
        let m = Manifest::from_entries(entries.clone());
        m.unwrap_or_else(|_| {
            entries.retain(|e| !matches!(e.kind, EntryKind::HardLink { .. }));
            Manifest::from_entries(entries).unwrap()
        })
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Manifest::from_bytes(&b);
        let mut v = vec![raftboot_raft::codec::FORMAT_VERSION];
        v.extend_from_slice(&b);
        let _ = Manifest::from_bytes(&v);
    }

    #[test]
    fn decode_encode_round_trips(m in arb_manifest()) {
        let b = m.to_bytes().unwrap();
        let back = Manifest::from_bytes(&b).unwrap();
        prop_assert_eq!(back.digest(), m.digest());
        prop_assert_eq!(back, m);
    }

    #[test]
    fn mutated_encodings_never_panic(m in arb_manifest(), at in any::<usize>(), x in 1u8..) {
        let mut b = m.to_bytes().unwrap();
        let i = at % b.len();
        b[i] ^= x;
        if let Ok(back) = Manifest::from_bytes(&b) {
            prop_assert_eq!(back.digest(), Digest::of(&b));
        }
        let _ = Manifest::from_bytes(&b[..i]);
    }
}
