//! [`GuestFiles`]: what a network-booted QEMU guest needs from raftboot, built from Debian
//! packages on the test machine, never committed: a boot image (the busybox demo root plus
//! the libraries busybox links, Debian's kernel from `linux-image-amd64` as `vmlinuz`, an
//! initramfs-tools initrd for an NFS root as `initrd.img`, and a marker program) and a
//! loader image (Debian's `pxelinux.0` and `ldlinux.c32`, and `pxelinux.ipxe`, a script
//! that lets an iPXE firmware chain-load pxelinux).
//!
//! The marker program (`/sbin/raftboot-marker`, run as `init=`) prints
//! `RAFTBOOT-MARKER <token>` with a random token that exists only in the image, then the
//! root mount as the guest sees it, and powers the guest off (QEMU exits with
//! `-no-reboot`). The reader program (`/sbin/raftboot-reader`, for a host whose kernel
//! arguments name it as `init=`) first reads [`READ_FILES`] from the NFS root
//! [`READ_ROUNDS`] times, one round a second, dropping the page cache before each so every
//! round goes over the wire, prints `RAFTBOOT-READ <round> <md5 of them concatenated>`, and
//! then runs the marker. The initrd: `BOOT=nfs`, `MODULES=list` with the NIC and NFS modules,
//! and an `init-premount` script that sets the NICs up and waits 1 s (klibc's `ipconfig`
//! otherwise sends its first DISCOVER before the link is up and waits 10 s more).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// Debian's PXELINUX loader and its core module.
pub const PXELINUX: &str = "/usr/lib/PXELINUX/pxelinux.0";
pub const LDLINUX: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";

/// Modules the initrd carries (and loads): virtio and e1000 NICs, the NFS client.
pub const INITRD_MODULES: &[&str] = &["virtio_pci", "virtio_net", "e1000", "nfs", "nfsv3"];

/// The marker program's path in the image (the kernel's `init=`).
pub const MARKER_PATH: &str = "/sbin/raftboot-marker";

/// Kernel arguments a group needs for the marker boot: serial console, the marker as
/// init, and an immediate reboot (QEMU exit with `-no-reboot`) on a panic.
pub const KERNEL_ARGS: &str = "console=ttyS0 init=/sbin/raftboot-marker panic=-1";

const MARKER: &str = "#!/bin/sh
# raftboot test marker: prove the root came from the image over NFS, then power off.
mount -t proc proc /proc 2>/dev/null
echo \"RAFTBOOT-MARKER $(cat /etc/raftboot-marker)\"
while read dev mnt fstype opts rest; do
  [ \"$mnt\" = / ] && echo \"RAFTBOOT-ROOT $dev $fstype $opts\"
done < /proc/mounts
poweroff -f
";

/// The reader program's path in the image.
pub const READER_PATH: &str = "/sbin/raftboot-reader";

/// Kernel arguments for a host that runs the reader (then the marker) as init.
pub const READER_KERNEL_ARGS: &str = "console=ttyS0 init=/sbin/raftboot-reader panic=-1";

/// Rounds the reader makes.
pub const READ_ROUNDS: u32 = 10;

/// Files (relative to the image root) the reader reads each round, in this order.
pub const READ_FILES: &[&str] = &["vmlinuz", "initrd.img", "bin/busybox"];

/// The reader program (`ROUNDS` and `FILES` are filled in from the constants above).
const READER: &str = "#!/bin/sh
# raftboot test reader: read files from the NFS root round after round, then the marker.
mount -t proc proc /proc 2>/dev/null
i=1
while [ $i -le ROUNDS ]; do
  echo 3 > /proc/sys/vm/drop_caches
  set -- $(cat FILES | busybox md5sum)
  echo \"RAFTBOOT-READ $i $1\"
  i=$((i + 1))
  sleep 1
done
exec /sbin/raftboot-marker
";

const NETUP: &str = "#!/bin/sh
# raftboot: bring the NICs up before klibc's ipconfig sends its first DISCOVER.
PREREQ=\"\"
prereqs() { echo \"$PREREQ\"; }
case \"$1\" in prereqs) prereqs; exit 0;; esac
for d in /sys/class/net/*; do
  n=${d##*/}
  [ \"$n\" = lo ] || ip link set dev \"$n\" up
done
sleep 1
";

/// `pxelinux.ipxe`: iPXE clients are always given a script; this one runs pxelinux from
/// the same server (its path prefix is the TFTP root).
pub const PXELINUX_IPXE: &str = "#!ipxe\nchain pxelinux.0\n";

/// The built trees, in a temporary directory removed on drop.
pub struct GuestFiles {
    pub dir: tempfile::TempDir,
    /// The boot image's root (import it as the group's image).
    pub root: PathBuf,
    /// The loader image's root (import it as `bootloaders`).
    pub loaders: PathBuf,
    /// The token the marker prints (only the image has it).
    pub token: String,
    /// The kernel release the image boots.
    pub kernel_release: String,
}

fn write_exec(p: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(p, text)?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// The kernel of Debian's `linux-image-amd64` (the release its dependency names), else
/// the newest `/boot/vmlinuz-<release>` whose modules include the NFS client.
pub fn debian_kernel() -> anyhow::Result<(PathBuf, String)> {
    let has_nfs = |rel: &str| {
        Path::new("/lib/modules")
            .join(rel)
            .join("kernel/fs/nfs")
            .is_dir()
            && Path::new(&format!("/boot/vmlinuz-{rel}")).is_file()
    };
    let meta = Command::new("dpkg-query")
        .args(["-W", "-f=${Depends}", "linux-image-amd64"])
        .output();
    if let Ok(out) = meta {
        let deps = String::from_utf8_lossy(&out.stdout).to_string();
        let rel = deps
            .split(',')
            .filter_map(|d| d.trim().strip_prefix("linux-image-"))
            .map(|d| d.split_whitespace().next().unwrap_or(d).to_string())
            .find(|rel| has_nfs(rel));
        if let Some(rel) = rel {
            return Ok((PathBuf::from(format!("/boot/vmlinuz-{rel}")), rel));
        }
    }
    let mut found = Vec::new();
    for e in std::fs::read_dir("/boot").context("/boot")? {
        let name = e?.file_name().to_string_lossy().to_string();
        if let Some(rel) = name.strip_prefix("vmlinuz-") {
            if has_nfs(rel) {
                found.push(rel.to_string());
            }
        }
    }
    found.sort();
    let rel = found.pop().context(
        "no /boot/vmlinuz-* with NFS modules: apt-get install linux-image-amd64 initramfs-tools",
    )?;
    Ok((PathBuf::from(format!("/boot/vmlinuz-{rel}")), rel))
}

/// The shared libraries `binary` needs, from `ldd` (absolute paths).
fn libraries(binary: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = Command::new("ldd").arg(binary).output().context("ldd")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("not a dynamic executable") || !out.status.success() {
        return Ok(Vec::new());
    }
    Ok(text
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next(),
                None => l.split_whitespace().next(),
            }?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

impl GuestFiles {
    /// Build both trees (about 10 s: mkinitramfs dominates).
    pub fn build() -> anyhow::Result<GuestFiles> {
        for f in [PXELINUX, LDLINUX] {
            anyhow::ensure!(
                Path::new(f).is_file(),
                "{f} missing: apt-get install pxelinux syslinux-common"
            );
        }
        anyhow::ensure!(
            Path::new(raftboot::demo_image::BUSYBOX).is_file(),
            "busybox missing: apt-get install busybox"
        );
        let (kernel, rel) = debian_kernel()?;
        let dir = tempfile::Builder::new()
            .prefix("raftboot-guest-")
            .tempdir()?;
        let root = dir.path().join("root");
        raftboot::demo_image::build(&root)?;
        // busybox is dynamically linked in Debian: the image carries its libraries at
        // the paths the loader looks for.
        for lib in libraries(Path::new(raftboot::demo_image::BUSYBOX))? {
            let rel_path = lib.strip_prefix("/").unwrap_or(&lib);
            let dst = root.join(rel_path);
            if let Some(d) = dst.parent() {
                std::fs::create_dir_all(d)?;
            }
            std::fs::copy(&lib, &dst).with_context(|| format!("copying {}", lib.display()))?;
        }
        let token: String = (0..12)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        std::fs::write(root.join("etc/raftboot-marker"), format!("{token}\n"))?;
        write_exec(&root.join(MARKER_PATH.trim_start_matches('/')), MARKER)?;
        let files: Vec<String> = READ_FILES.iter().map(|f| format!("/{f}")).collect();
        let reader = READER
            .replace("ROUNDS", &READ_ROUNDS.to_string())
            .replace("FILES", &files.join(" "));
        write_exec(&root.join(READER_PATH.trim_start_matches('/')), &reader)?;
        std::fs::copy(&kernel, root.join("vmlinuz"))
            .with_context(|| format!("copying {}", kernel.display()))?;

        // The initrd, from a private initramfs-tools config directory.
        let conf = dir.path().join("initramfs");
        for d in ["scripts/init-premount", "hooks", "conf.d"] {
            std::fs::create_dir_all(conf.join(d))?;
        }
        std::fs::write(
            conf.join("initramfs.conf"),
            "MODULES=list\nBUSYBOX=auto\nCOMPRESS=gzip\nBOOT=nfs\nDEVICE=\nNFSROOT=auto\nRUNSIZE=10%\nFSTYPE=auto\n",
        )?;
        std::fs::write(conf.join("modules"), INITRD_MODULES.join("\n") + "\n")?;
        write_exec(&conf.join("scripts/init-premount/raftboot-netup"), NETUP)?;
        let out = Command::new("mkinitramfs")
            .arg("-d")
            .arg(&conf)
            .arg("-o")
            .arg(root.join("initrd.img"))
            .arg(&rel)
            .output()
            .context("mkinitramfs (apt-get install initramfs-tools)")?;
        anyhow::ensure!(
            out.status.success(),
            "mkinitramfs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let loaders = dir.path().join("loaders");
        std::fs::create_dir_all(&loaders)?;
        std::fs::copy(PXELINUX, loaders.join("pxelinux.0"))?;
        std::fs::copy(LDLINUX, loaders.join("ldlinux.c32"))?;
        std::fs::write(loaders.join("pxelinux.ipxe"), PXELINUX_IPXE)?;
        Ok(GuestFiles {
            dir,
            root,
            loaders,
            token,
            kernel_release: rel,
        })
    }

    /// The MD5 (hex) of [`READ_FILES`] concatenated, as the reader must print it each round.
    pub fn read_md5(&self) -> anyhow::Result<String> {
        let out = Command::new("sh")
            .args(["-c", "cat \"$@\" | md5sum", "sh"])
            .args(READ_FILES.iter().map(|f| self.root.join(f)))
            .output()
            .context("md5sum (coreutils)")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let sum = text.split_whitespace().next().unwrap_or("");
        anyhow::ensure!(
            out.status.success() && sum.len() == 32,
            "md5sum: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(sum.to_string())
    }

    /// The marker line the guest prints when it ran from this image.
    pub fn marker(&self) -> String {
        format!("RAFTBOOT-MARKER {}", self.token)
    }
}
