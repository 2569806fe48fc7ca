//! Test fixture: a source tree exercising every entry kind and size boundary, and a tar
//! writer for it that preserves everything tar can carry.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{lchown, symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sys::stat::{utimensat, Mode, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::cas::{dev_major, dev_minor};

pub const K64: usize = 64 * 1024;

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

/// What the fixture managed to create (device nodes and chown need root).
#[derive(Debug, Clone, Copy)]
pub struct Made {
    pub devices: bool,
    pub chowned: bool,
}

fn write(root: &Path, rel: &str, data: &[u8], mode: u32) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, data).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

fn mknod(path: &Path, kind: &str, major: u32, minor: u32) -> bool {
    Command::new("mknod")
        .arg(path)
        .arg(kind)
        .arg(major.to_string())
        .arg(minor.to_string())
        .status()
        .is_ok_and(|s| s.success())
}

/// Build the tree under `root` (which must exist and be empty). With `many`, adds a
/// directory of 5,000 files.
pub fn build(root: &Path, many: bool) -> Made {
    write(root, "empty", b"", 0o644);
    write(root, "one", b"x", 0o600);
    write(root, "exact64k", &bytes(K64, 1), 0o644);
    write(root, "over64k", &bytes(K64 + 1, 2), 0o644);
    write(root, "big.bin", &bytes((1 << 20) + 123, 3), 0o644);
    write(root, "dup_a", &bytes(5000, 4), 0o644);
    write(root, "sub/dup_b", &bytes(5000, 4), 0o640);
    write(root, "script.sh", b"#!/bin/sh\necho hi\n", 0o755);
    write(root, "hard_a", b"hard linked content", 0o644);
    write(root, "nested/deeper/deepest/file.txt", b"deep", 0o444);
    fs::hard_link(root.join("hard_a"), root.join("nested/hard_b")).unwrap();
    symlink("big.bin", root.join("link")).unwrap();
    symlink("/nonexistent/target", root.join("dangling")).unwrap();
    fs::create_dir(root.join("sticky")).unwrap();
    nix::unistd::mkfifo(&root.join("fifo"), Mode::from_bits_truncate(0o640)).unwrap();
    if many {
        let dir = root.join("many");
        fs::create_dir(&dir).unwrap();
        for i in 0..5000 {
            fs::write(dir.join(format!("f{i:05}")), format!("file {}", i % 100)).unwrap();
        }
    }
    write(root, "setuid", b"#!/bin/sh\n", 0o755);
    let chowned = lchown(root.join("setuid"), Some(1234), Some(5678)).is_ok()
        && lchown(root.join("link"), Some(42), Some(43)).is_ok();
    // chown clears setuid, so set the mode afterwards.
    let set = |rel: &str, m: u32| {
        fs::set_permissions(root.join(rel), fs::Permissions::from_mode(m)).unwrap()
    };
    set("setuid", 0o4755);
    set("sticky", 0o1777);
    let devices =
        mknod(&root.join("null_dev"), "c", 1, 3) && mknod(&root.join("loop_dev"), "b", 7, 300);
    if !devices {
        eprintln!("note: mknod unavailable (not root?): device nodes not tested");
    }
    set_whole_second_mtimes(root);
    Made { devices, chowned }
}

/// Every path under `root` (root first as ""), sorted by bytes.
pub fn all_paths(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = vec![(String::new(), root.to_path_buf())];
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if e.file_type().unwrap().is_dir() {
                stack.push((e.path(), r.clone()));
            }
            out.push((r, e.path()));
        }
    }
    out.sort();
    out
}

/// Give every entry a distinct whole-second mtime (tar headers carry seconds only).
pub fn set_whole_second_mtimes(root: &Path) {
    for (i, (_, p)) in all_paths(root).iter().enumerate() {
        let t = TimeSpec::new(1_600_000_000 + i as i64, 0);
        utimensat(None, p, &t, &t, UtimensatFlags::NoFollowSymlink).unwrap();
    }
}

/// A tar (GNU format) of `root` with modes, owners, mtimes, links and devices preserved.
pub fn tar_of(root: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    for (rel, p) in all_paths(root) {
        let m = fs::symlink_metadata(&p).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_mode(m.mode() & 0o7777);
        h.set_uid(m.uid() as u64);
        h.set_gid(m.gid() as u64);
        h.set_mtime(m.mtime() as u64);
        h.set_size(0);
        let ft = m.file_type();
        let name = if rel.is_empty() {
            "./".to_string()
        } else {
            rel.clone()
        };
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, format!("{name}/"), &[][..]).unwrap();
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            b.append_link(&mut h, &rel, fs::read_link(&p).unwrap())
                .unwrap();
        } else if ft.is_file() {
            if let Some(first) = inodes.get(&(m.dev(), m.ino())) {
                h.set_entry_type(tar::EntryType::Link);
                b.append_link(&mut h, &rel, first).unwrap();
                continue;
            }
            if m.nlink() > 1 {
                inodes.insert((m.dev(), m.ino()), rel.clone());
            }
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(m.len());
            b.append_data(&mut h, &rel, fs::File::open(&p).unwrap())
                .unwrap();
        } else {
            let ty = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else if ft.is_fifo() {
                tar::EntryType::Fifo
            } else {
                panic!("cannot tar {rel}")
            };
            h.set_entry_type(ty);
            h.set_device_major(dev_major(m.rdev())).unwrap();
            h.set_device_minor(dev_minor(m.rdev())).unwrap();
            b.append_data(&mut h, &rel, &[][..]).unwrap();
        }
    }
    b.into_inner().unwrap()
}
