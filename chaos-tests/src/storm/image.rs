//! [`StormImage`]: the small synthetic boot image a boot storm fetches (a random "kernel"
//! and "initrd" of a few hundred KiB, an `init` and a few root files, all from a seed), the
//! real boot loaders (pxelinux), and the BLAKE3 digest of every file a client reads, so
//! each byte a simulated client receives over TFTP or NFS can be checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::{RngCore, SeedableRng};

/// Kernel size of the synthetic image.
pub const KERNEL_BYTES: usize = 160 * 1024;
/// Initrd size of the synthetic image.
pub const INITRD_BYTES: usize = 96 * 1024;
/// Root files every simulated client reads over NFS.
pub const NFS_FILES: [&str; 3] = ["init", "etc/raftboot-chaos", "usr/share/chaos/data0"];

/// The image trees (kept in a temp dir) and the digests of what clients read.
pub struct StormImage {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub loaders: PathBuf,
    /// File name (`vmlinuz`, `initrd.img`, `pxelinux.0`, `ldlinux.c32`) or NFS path
    /// (`/init`, ...) -> BLAKE3 hex.
    pub digests: BTreeMap<String, String>,
}

fn write(root: &Path, rel: &str, data: &[u8]) -> anyhow::Result<String> {
    let p = root.join(rel);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(&p, data).with_context(|| p.display().to_string())?;
    Ok(blake3::hash(data).to_hex().to_string())
}

impl StormImage {
    /// Build the trees from `seed`.
    pub fn build(seed: u64) -> anyhow::Result<StormImage> {
        let dir = tempfile::Builder::new()
            .prefix("raftboot-storm-")
            .tempdir()?;
        let root = dir.path().join("root");
        let loaders = dir.path().join("loaders");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut blob = |n: usize| {
            let mut b = vec![0u8; n];
            rng.fill_bytes(&mut b);
            b
        };
        let mut digests = BTreeMap::new();
        digests.insert(
            "vmlinuz".into(),
            write(&root, "vmlinuz", &blob(KERNEL_BYTES))?,
        );
        digests.insert(
            "initrd.img".into(),
            write(&root, "initrd.img", &blob(INITRD_BYTES))?,
        );
        digests.insert(
            "/init".into(),
            write(&root, "init", b"#!/bin/sh\necho raftboot chaos image\n")?,
        );
        digests.insert(
            "/etc/raftboot-chaos".into(),
            write(
                &root,
                "etc/raftboot-chaos",
                format!("seed {seed}\n").as_bytes(),
            )?,
        );
        for i in 0..4 {
            let rel = format!("usr/share/chaos/data{i}");
            digests.insert(format!("/{rel}"), write(&root, &rel, &blob(24 * 1024))?);
        }
        let n = raftboot::demo_image::build_loaders(&loaders)?;
        anyhow::ensure!(
            n > 0,
            "no boot loaders found: install pxelinux and syslinux-common"
        );
        for name in ["pxelinux.0", "ldlinux.c32"] {
            let data = std::fs::read(loaders.join(name))
                .with_context(|| format!("{name} in the loader image"))?;
            digests.insert(name.into(), blake3::hash(&data).to_hex().to_string());
        }
        Ok(StormImage {
            _dir: dir,
            root,
            loaders,
            digests,
        })
    }

    /// The digest a step's bytes must have: kernel and initrd by stage, loaders by file
    /// name, NFS reads by path; `None` for generated files (configs).
    pub fn expected(&self, stage: &str, what: &str) -> Option<&String> {
        match stage {
            "kernel" => self.digests.get("vmlinuz"),
            "initrd" => self.digests.get("initrd.img"),
            "loader" => self.digests.get(what.rsplit('/').next().unwrap_or(what)),
            "nfs-read" => self.digests.get(what),
            _ => None,
        }
    }
}
