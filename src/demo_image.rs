//! The demo image for `bootd local` and tests: a tiny root tree built on demand, never
//! committed. With Debian's busybox installed it is a real busybox root (a shell, core
//! utilities, an `/init` that mounts /proc and starts a web server on tmpfs content);
//! without it, the same layout with text files only.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Where Debian's busybox package puts the static binary.
pub const BUSYBOX: &str = "/bin/busybox";

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
