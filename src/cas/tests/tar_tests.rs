//! Tar import: same image as the directory, canonical hard links, unsafe paths refused.

use std::fs;

use super::fixture::{build, set_whole_second_mtimes, tar_of};
use crate::cas::{import_dir, import_tar, BlobStore, CasError, EntryKind, ImportProgress};

fn no_progress(_: ImportProgress) {}

fn store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = BlobStore::open(dir.path()).unwrap();
    (dir, s)
}

#[test]
fn tar_of_the_tree_gives_the_same_image_id() {
    let src = tempfile::tempdir().unwrap();
    build(src.path(), true);
    let (_d, s) = store();
    let from_dir = import_dir(src.path(), &s, &no_progress).unwrap();
    let tar = tar_of(src.path());
    let (_d2, s2) = store();
    let from_tar = import_tar(&tar[..], &s2, &no_progress).unwrap();
    for (a, b) in from_dir.entries().iter().zip(from_tar.entries()) {
        assert_eq!(a, b);
    }
    assert_eq!(from_dir.len(), from_tar.len());
    assert_eq!(from_tar.digest(), from_dir.digest());
    assert_eq!(s2.list().unwrap(), s.list().unwrap());
}

#[test]
fn hard_links_are_canonical_whatever_the_archive_order() {
    // On disk: "a_link" and "z_orig" are one inode; "a_link" sorts first.
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("z_orig"), b"shared").unwrap();
    fs::hard_link(src.path().join("z_orig"), src.path().join("a_link")).unwrap();
    set_whole_second_mtimes(src.path());
    let (_d, s) = store();
    let from_dir = import_dir(src.path(), &s, &no_progress).unwrap();
    assert_eq!(
        from_dir.lookup("z_orig").unwrap().1.kind,
        EntryKind::HardLink {
            target: "a_link".into()
        }
    );

    // The archive stores z_orig's data first and a_link as a link to it.
    let mut b = tar::Builder::new(Vec::new());
    let root_meta = fs::metadata(src.path()).unwrap();
    let meta = fs::metadata(src.path().join("z_orig")).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_metadata(&root_meta);
    h.set_entry_type(tar::EntryType::Directory);
    b.append_data(&mut h, "./", &[][..]).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_metadata(&meta);
    b.append_data(&mut h, "z_orig", &b"shared"[..]).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_metadata(&meta);
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    b.append_link(&mut h, "a_link", "z_orig").unwrap();
    let tar = b.into_inner().unwrap();
    let from_tar = import_tar(&tar[..], &s, &no_progress).unwrap();
    assert_eq!(from_tar.digest(), from_dir.digest());
}

fn raw_tar(name: &[u8], ty: tar::EntryType, link: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(ty);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(0);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &[][..]).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn unsafe_or_broken_archives_are_refused() {
    let (_d, s) = store();
    let cases: [(&[u8], tar::EntryType, &[u8], &str); 6] = [
        (b"/etc/passwd", tar::EntryType::Regular, b"", "absolute"),
        (b"a/../../x", tar::EntryType::Regular, b"", ".."),
        (b"ok", tar::EntryType::Link, b"../outside", ".."),
        (
            b"ok",
            tar::EntryType::Link,
            b"missing",
            "not in the archive",
        ),
        (b"bad\xff", tar::EntryType::Regular, b"", "UTF-8"),
        (b"ok", tar::EntryType::new(b'Z'), b"", "unsupported"),
    ];
    for (name, ty, link, want) in cases {
        let err = import_tar(&raw_tar(name, ty, link)[..], &s, &no_progress).unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
    }
    assert!(matches!(
        import_tar(
            &b"not a tar archive at all, definitely not"[..],
            &s,
            &no_progress
        ),
        Err(CasError::Io { .. } | CasError::Import { .. })
    ));
}

#[test]
fn implicit_directories_are_created() {
    let (_d, s) = store();
    let tar = raw_tar(b"./a/b/c.txt", tar::EntryType::Regular, b"");
    let m = import_tar(&tar[..], &s, &no_progress).unwrap();
    let paths: Vec<&str> = m.entries().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["", "a", "a/b", "a/b/c.txt"]);
    assert_eq!(m.lookup("a").unwrap().1.mode, 0o755);
    assert_eq!(m.lookup("a/b/c.txt").unwrap().1.mode, 0o644);
}
