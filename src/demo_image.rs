//! The demo image for `bootd local` and tests: a tiny root tree built on demand, never
//! committed. With Debian's busybox installed it is a real busybox root (a shell, core
//! utilities, an `/init` that mounts /proc and starts a web server on tmpfs content), plus
//! the host's Debian kernel and a tiny initrd when `/boot` has one; without busybox, the same
//! layout with text files only.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Where Debian's busybox package puts the static binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// The shared libraries Debian's (dynamically linked) busybox needs, copied when present.
const BUSYBOX_LIBS: &[&str] = &[
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib/x86_64-linux-gnu/libresolv.so.2",
    "/lib64/ld-linux-x86-64.so.2",
];

/// The demo initrd's `/init`: proves the kernel and initrd arrived, then powers off.
const INITRD_INIT: &str = "#!/bin/sh
mount -t proc proc /proc
echo RAFTBOOT-DEMO-INITRD-OK
poweroff -f
";

/// Applets linked into `/bin` when busybox is available.
const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "mount", "umount", "mkdir", "cp", "sleep", "ip", "udhcpc", "httpd",
    "poweroff", "uname", "hostname", "ps",
];

const INIT: &str = "#!/bin/sh
# raftboot demo init: mount what a diskless web node needs, copy the site to tmpfs, serve it.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmpfs /run
mkdir -p /run/www
cp -r /srv/www/. /run/www/
echo RAFTBOOT-DEMO-ROOT-OK
httpd -p 80 -h /run/www
exec sh
";

fn write(root: &Path, rel: &str, content: &str, mode: u32) -> std::io::Result<()> {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&p, content)?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
}

/// Build the demo root under `root` (which must not exist yet or be empty). Returns whether
/// it contains a real busybox.
pub fn build(root: &Path) -> std::io::Result<bool> {
    for d in [
        "bin", "sbin", "etc", "proc", "sys", "run", "tmp", "dev", "srv/www",
    ] {
        std::fs::create_dir_all(root.join(d))?;
    }
    write(root, "etc/hostname", "raftboot-demo\n", 0o644)?;
    write(
        root,
        "etc/os-release",
        "NAME=\"raftboot demo\"\nID=raftboot-demo\n",
        0o644,
    )?;
    write(root, "etc/raftboot-demo", "RAFTBOOT-DEMO-ROOT-OK\n", 0o644)?;
    write(
        root,
        "srv/www/index.html",
        "<h1>served by a diskless node booted by raftboot</h1>\n",
        0o644,
    )?;
    write(root, "init", INIT, 0o755)?;
    std::os::unix::fs::symlink("../init", root.join("sbin/init"))?;
    let busybox = Path::new(BUSYBOX);
    if busybox.is_file() {
        std::fs::copy(busybox, root.join("bin/busybox"))?;
        std::fs::set_permissions(
            root.join("bin/busybox"),
            std::fs::Permissions::from_mode(0o755),
        )?;
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(a))?;
        }
        for lib in BUSYBOX_LIBS {
            let src = Path::new(lib);
            if src.is_file() {
                let dst = root.join(lib.trim_start_matches('/'));
                if let Some(parent) = dst.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::copy(src, &dst)?;
            }
        }
        add_kernel(root)?;
        Ok(true)
    } else {
        write(
            root,
            "bin/README",
            "busybox was not installed when this demo image was built\n",
            0o644,
        )?;
        Ok(false)
    }
}

/// Add the host's newest Debian kernel (`/boot/vmlinuz-*`, when readable) as
/// `boot/vmlinuz-<version>` with the `vmlinuz` symlink Debian images carry, and a small
/// uncompressed initrd (busybox, its libraries and an `/init` that prints a marker and powers
/// off) as `boot/initrd.img-<version>` + `initrd.img`. Without a kernel the image stays
/// root-only (its generated boot configs then say "no kernel"). Returns the version added.
pub fn add_kernel(root: &Path) -> std::io::Result<Option<String>> {
    let mut kernels: Vec<(String, std::path::PathBuf)> = match std::fs::read_dir("/boot") {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let ver = name.strip_prefix("vmlinuz-")?.to_string();
                Some((ver, e.path()))
            })
            .filter(|(_, p)| std::fs::File::open(p).is_ok())
            .collect(),
        Err(_) => return Ok(None),
    };
    kernels.sort();
    let Some((ver, path)) = kernels.pop() else {
        return Ok(None);
    };
    std::fs::create_dir_all(root.join("boot"))?;
    std::fs::copy(&path, root.join(format!("boot/vmlinuz-{ver}")))?;
    std::os::unix::fs::symlink(format!("boot/vmlinuz-{ver}"), root.join("vmlinuz"))?;
    let mut files: Vec<(String, Vec<u8>, u32)> = vec![("init".into(), INITRD_INIT.into(), 0o755)];
    let busybox = Path::new(BUSYBOX);
    if busybox.is_file() {
        files.push(("bin/busybox".into(), std::fs::read(busybox)?, 0o755));
        for lib in BUSYBOX_LIBS {
            if let Ok(b) = std::fs::read(lib) {
                files.push((lib.trim_start_matches('/').to_string(), b, 0o755));
            }
        }
    }
    let links: Vec<(String, String)> = ["sh", "mount", "echo", "poweroff"]
        .iter()
        .map(|a| (format!("bin/{a}"), "busybox".to_string()))
        .collect();
    let cpio = newc_archive(&files, &links);
    std::fs::write(root.join(format!("boot/initrd.img-{ver}")), cpio)?;
    std::os::unix::fs::symlink(format!("boot/initrd.img-{ver}"), root.join("initrd.img"))?;
    Ok(Some(ver))
}

/// An uncompressed `newc` cpio archive (what the kernel unpacks as an initramfs) of `files`
/// (path, content, mode) and `links` (path, target), with every parent directory.
pub fn newc_archive(files: &[(String, Vec<u8>, u32)], links: &[(String, String)]) -> Vec<u8> {
    let mut dirs = std::collections::BTreeSet::new();
    for p in files.iter().map(|f| &f.0).chain(links.iter().map(|l| &l.0)) {
        let mut cur = Path::new(p.as_str()).parent();
        while let Some(d) = cur.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(d.to_string_lossy().into_owned());
            cur = d.parent();
        }
    }
    for d in ["dev", "proc", "sys"] {
        dirs.insert(d.to_string());
    }
    let mut out = Vec::new();
    let mut ino = 1u32;
    let mut entry = |out: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]| {
        let namesize = name.len() + 1;
        let _ = std::io::Write::write_all(
            out,
            format!(
                "070701{ino:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{namesize:08x}{:08x}",
                0, 0, 1, 0, data.len(), 0, 0, 0, 0, 0
            )
            .as_bytes(),
        );
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        ino += 1;
    };
    for d in &dirs {
        entry(&mut out, d, 0o040_755, &[]);
    }
    for (p, data, mode) in files {
        entry(&mut out, p, 0o100_000 | mode, data);
    }
    for (p, target) in links {
        entry(&mut out, p, 0o120_777, target.as_bytes());
    }
    entry(&mut out, "TRAILER!!!", 0, &[]);
    out
}

/// Where Debian's pxelinux, syslinux and ipxe packages put the boot loaders.
const LOADER_SOURCES: &[(&str, &str)] = &[
    ("/usr/lib/PXELINUX/pxelinux.0", "pxelinux.0"),
    ("/usr/lib/PXELINUX/lpxelinux.0", "lpxelinux.0"),
    ("/usr/lib/ipxe/undionly.kpxe", "undionly.kpxe"),
    ("/usr/lib/ipxe/ipxe.efi", "ipxe.efi"),
    ("/usr/lib/ipxe/snponly.efi", "snponly.efi"),
];

/// Build the boot-loader image (the `[tftp] loader_image`) from the loaders installed on
/// this machine: pxelinux.0 and the BIOS `.c32` modules, iPXE's binaries. Returns how many
/// files were found (0: nothing to import).
pub fn build_loaders(root: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(root)?;
    let mut n = 0;
    for (src, name) in LOADER_SOURCES {
        if Path::new(src).is_file() {
            std::fs::copy(src, root.join(name))?;
            n += 1;
        }
    }
    if let Ok(rd) = std::fs::read_dir("/usr/lib/syslinux/modules/bios") {
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name();
            if name.to_string_lossy().ends_with(".c32") {
                std::fs::copy(e.path(), root.join(&name))?;
                n += 1;
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn builds_a_root_with_init_and_marker() {
        let d = tempfile::tempdir().unwrap();
        let real = build(d.path()).unwrap();
        assert!(d.path().join("init").is_file());
        assert_eq!(
            std::fs::read_link(d.path().join("sbin/init")).unwrap(),
            Path::new("../init")
        );
        assert_eq!(real, Path::new(BUSYBOX).is_file());
        if real && d.path().join("vmlinuz").exists() {
            let initrd = std::fs::read(d.path().join("initrd.img")).unwrap();
            assert!(initrd.starts_with(b"070701"));
            assert!(initrd.windows(10).any(|w| w == b"TRAILER!!!"));
        }
        if real {
            assert!(d
                .path()
                .join("bin/sh")
                .symlink_metadata()
                .unwrap()
                .file_type()
                .is_symlink());
        }
    }
}
