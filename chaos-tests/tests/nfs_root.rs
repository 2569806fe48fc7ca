//! An NFS root as the web tier mounts it: a debootstrap minbase tree of Debian bookworm is
//! imported into a three-node cluster in network namespaces and read back with libnfs-utils
//! from a client namespace through the VIP (the portmapper on port 111 included): the same
//! entries, modes, owners and sizes (a symlink's size is its target's length), the same
//! contents, and a 5,000-entry directory lists each entry exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chaos_tests::cluster::{Cluster, Spec};
use chaos_tests::lan::Lan;

const T: Duration = Duration::from_secs(120);

/// A minbase tree: `RAFTBOOT_MINBASE` if set (a cache), else built now with debootstrap.
fn minbase() -> (PathBuf, Option<tempfile::TempDir>) {
    if let Some(p) = std::env::var_os("RAFTBOOT_MINBASE") {
        let p = PathBuf::from(p);
        if p.join("etc/debian_version").exists() {
            return (p, None);
        }
    }
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let st = std::process::Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(&root)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("debootstrap (apt-get install debootstrap)");
    assert!(st.success(), "debootstrap failed");
    (root, Some(d))
}

fn mode_string(m: &std::fs::Metadata) -> String {
    let ft = m.file_type();
    use std::os::unix::fs::FileTypeExt;
    let t = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else if ft.is_file() {
        '-'
    } else if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else if ft.is_fifo() {
        'p'
    } else {
        's'
    };
    let bits = m.mode();
    let mut s = String::from(t);
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        s.push(if bits & (1 << (8 - i)) != 0 { c } else { '-' });
    }
    s
}

/// path -> (mode string, uid, gid, size) of every entry under `root` (not `root` itself);
/// sizes count only for regular files and symlinks.
fn local_listing(root: &Path) -> BTreeMap<String, (String, u32, u32, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            let ft = m.file_type();
            if ft.is_dir() {
                stack.push(p.clone());
            }
            let size = if ft.is_file() || ft.is_symlink() {
                m.len()
            } else {
                0
            };
            out.insert(rel, (mode_string(&m), m.uid(), m.gid(), size));
        }
    }
    out
}

/// Parse `nfs-ls -R` lines: `-rw-r--r--  1     0     0           54 srv/www/index.html`.
fn parse_nfs_ls(text: &str) -> BTreeMap<String, (String, u32, u32, u64)> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 {
            continue;
        }
        let path = f[5..].join(" ");
        let t = f[0].chars().next().unwrap_or('?');
        let size = if t == '-' || t == 'l' {
            f[4].parse().unwrap()
        } else {
            0
        };
        out.insert(
            path,
            (
                f[0].to_string(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                size,
            ),
        );
    }
    out
}

#[test]
fn debootstrap_minbase_reads_back_identically_over_nfs_through_the_vip() {
    if !Lan::available() {
        eprintln!("SKIP: network namespaces need root (CI runs as root)");
        return;
    }
    let (root, _keep) = minbase();
    let wide = tempfile::tempdir().unwrap();
    std::fs::create_dir(wide.path().join("many")).unwrap();
    for i in 0..5000 {
        std::fs::write(wide.path().join(format!("many/f{i:05}")), format!("{i}\n")).unwrap();
    }
    // Relaxed timings: replicating ~200 MB on two shared cores delays heartbeats.
    let spec = Spec {
        on_lan: true,
        heartbeat_ms: 100,
        election_min_ms: 1000,
        election_max_ms: 2000,
        ..Spec::default()
    };
    let c = Cluster::start(&spec).unwrap();
    c.wait_leader(Duration::from_secs(30)).unwrap();
    for (path, name) in [(root.as_path(), "minbase"), (wide.path(), "wide")] {
        let out = c
            .bootctl(&[
                "image",
                "import",
                path.to_str().unwrap(),
                "--name",
                name,
                "--quiet",
            ])
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    c.wait_images_ready("both images ready on 3 boot servers", 2, 3, T)
        .unwrap();
    // The VIP holder serves NFS (and the portmapper on 111) inside its VIP namespace.
    let (lan, client) = c.lan.clone().unwrap();
    let vip = lan.ip(10);
    c.wait_vip_holder(T).unwrap();
    let ls = |url: &str| {
        let out = lan
            .cmd(&client, "nfs-ls")
            .args(["-R", url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "nfs-ls {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let base = format!("nfs://{vip}/images/minbase");
    let started = std::time::Instant::now();
    let remote = parse_nfs_ls(&ls(&format!("{base}?version=3")));
    let walk = started.elapsed();
    let local = local_listing(&root);
    let missing: Vec<_> = local
        .keys()
        .filter(|k| !remote.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = remote
        .keys()
        .filter(|k| !local.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (p, l) in &local {
        assert_eq!(&remote[p], l, "attributes of {p}");
    }
    // Contents: every regular file, checksummed.
    let files: Vec<&String> = local
        .iter()
        .filter(|(_, v)| v.0.starts_with('-'))
        .map(|(k, _)| k)
        .collect();
    let mut checked = 0;
    for f in &files {
        let out = lan
            .cmd(&client, "nfs-cat")
            .arg(format!("{base}/{f}?version=3"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "nfs-cat {f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = std::fs::read(root.join(f)).unwrap();
        assert!(
            blake3::hash(&out.stdout) == blake3::hash(&want),
            "content of {f} differs"
        );
        checked += 1;
    }
    // Symlinks to regular files resolve to the same content (libnfs follows them, but
    // refuses targets with `..`: those are covered by the size check above, which is the
    // target's length, and by the raw-client READLINK test in tests/nfs.rs).
    let links: Vec<&String> = local
        .iter()
        .filter(|(_, v)| v.0.starts_with('l'))
        .map(|(k, _)| k)
        .collect();
    let mut resolved = 0;
    for l in &links {
        let target = root.join(l);
        if std::fs::read_link(&target)
            .map(|t| t.to_string_lossy().contains(".."))
            .unwrap_or(true)
        {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&target) else {
            continue;
        };
        if !meta.is_file()
            || !std::fs::canonicalize(&target)
                .map(|t| t.starts_with(std::fs::canonicalize(&root).unwrap()))
                .unwrap_or(false)
        {
            continue;
        }
        let out = lan
            .cmd(&client, "nfs-cat")
            .arg(format!("{base}/{l}?version=3"))
            .output()
            .unwrap();
        assert!(out.status.success(), "nfs-cat {l}");
        assert!(
            blake3::hash(&out.stdout) == blake3::hash(&std::fs::read(&target).unwrap()),
            "symlink {l}"
        );
        resolved += 1;
    }
    // 5,000 entries in one directory: each listed exactly once.
    let many = ls(&format!("nfs://{vip}/images/wide/many?version=3"));
    let names: Vec<&str> = many
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    eprintln!("minbase: {} entries compared, {checked} files checksummed, {resolved} symlinks resolved; nfs-ls -R walk {walk:?}; wide dir: {} names, {} unique", local.len(), names.len(), unique.len());
    assert_eq!(names.len(), 5000);
    assert_eq!(unique.len(), 5000);
}
