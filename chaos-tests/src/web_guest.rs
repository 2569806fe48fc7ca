//! [`WebSite`]: what turns the QEMU guest image ([`crate::guest::GuestFiles`]) into the
//! seed's diskless web node: a site under `/srv/web` (a page fragment carrying a random
//! token only this run's image holds), a probe file the node keeps reading from its NFS
//! root, and the web node's init program ([`WEB_INIT_PATH`]).
//!
//! The init program (run as `init=` from the read-only NFS root) mounts a tmpfs on `/run`,
//! copies the site there, starts busybox `httpd` on port 80 serving the tmpfs copy, prints
//! `RAFTBOOT-WEB-UP <name> <boot id>` and then, once a second, forever: reads the probe
//! from the NFS root with `O_DIRECT` (so every round goes to the server, not the page
//! cache), prints `RAFTBOOT-WEB-NFS <round> <md5>` on the console and rewrites the page
//! (atomically, by rename) as
//!
//! ```text
//! raftboot web node <name>
//! boot <boot id>
//! nfs <round> <md5>
//! <the site's fragment>
//! ```
//!
//! so every HTTP answer says which node and which boot served it, and how far the node's
//! NFS reads have got. The node's name comes from the kernel argument `raftboot.web=<name>`
//! (a per-host kernel argument, [`WebSite::kernel_args`]).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;

/// The web node's init program in the image.
pub const WEB_INIT_PATH: &str = "/sbin/raftboot-web";
/// The probe file (relative to the image root) read over NFS every round.
pub const PROBE: &str = "srv/web-probe/probe.bin";
/// The probe's size: 256 KiB, several NFS READs per round.
pub const PROBE_LEN: usize = 256 << 10;
/// The first line of every page, followed by the node's name.
pub const PAGE_HEAD: &str = "raftboot web node ";

const WEB_INIT: &str = "#!/bin/sh
# raftboot web node: root read-only over NFS from the VIP, the site copied to tmpfs and served
# from there by busybox httpd, and a loop that keeps reading a probe file from the NFS root.
PATH=/bin:/sbin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sys /sys 2>/dev/null
mount -t tmpfs -o size=16m tmpfs /run
name=unnamed
for a in $(cat /proc/cmdline); do
  case \"$a\" in raftboot.web=*) name=${a#raftboot.web=};; esac
done
boot=$(cat /proc/sys/kernel/random/boot_id)
while read dev mnt fstype opts rest; do
  [ \"$mnt\" = / ] && echo \"RAFTBOOT-ROOT $dev $fstype $opts\"
done < /proc/mounts
mkdir -p /run/www
cp -r /srv/web/. /run/www/
printf 'PAGE_HEAD%s\\nboot %s\\nnfs 0 none\\n' \"$name\" \"$boot\" > /run/www/index.html
cat /run/www/site.txt >> /run/www/index.html
httpd -p 80 -h /run/www
echo \"RAFTBOOT-WEB-UP $name $boot\"
i=0
while :; do
  i=$((i + 1))
  set -- $(busybox dd if=/PROBE bs=65536 iflag=direct 2>/dev/null | busybox md5sum)
  sum=${1:-none}
  echo \"RAFTBOOT-WEB-NFS $i $sum\"
  printf 'PAGE_HEAD%s\\nboot %s\\nnfs %s %s\\n' \"$name\" \"$boot\" \"$i\" \"$sum\" > /run/www/.page
  cat /run/www/site.txt >> /run/www/.page
  busybox mv /run/www/.page /run/www/index.html
  sleep 1
done
";

/// The site and probe installed into one image.
#[derive(Debug, Clone)]
pub struct WebSite {
    /// The token in the site's fragment (only this run's image has it).
    pub token: String,
    /// MD5 (hex) of the probe file.
    pub probe_md5: String,
}

impl WebSite {
    /// Install the site, the probe and the init program into the image tree at `root`
    /// (a [`crate::guest::GuestFiles`] root, before it is imported).
    pub fn install(root: &Path) -> anyhow::Result<WebSite> {
        let token: String = (0..12)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        let site = root.join("srv/web");
        std::fs::create_dir_all(&site)?;
        std::fs::write(
            site.join("site.txt"),
            format!("site {token}\nserved from tmpfs, copied from the NFS root at boot\n"),
        )?;
        let probe: Vec<u8> = (0..PROBE_LEN).map(|_| rand::random::<u8>()).collect();
        let probe_path = root.join(PROBE);
        if let Some(d) = probe_path.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(&probe_path, &probe)?;
        let probe_md5 = md5_hex(&probe_path)?;
        let init = WEB_INIT
            .replace("PAGE_HEAD", PAGE_HEAD)
            .replace("/PROBE", &format!("/{PROBE}"));
        let init_path = root.join(WEB_INIT_PATH.trim_start_matches('/'));
        if let Some(d) = init_path.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(&init_path, init)?;
        std::fs::set_permissions(&init_path, std::fs::Permissions::from_mode(0o755))?;
        Ok(WebSite { token, probe_md5 })
    }

    /// Per-host kernel arguments for web node `name`: serial console, the web init, an
    /// immediate reboot (QEMU exit with `-no-reboot`) on a panic.
    pub fn kernel_args(name: &str) -> String {
        format!("console=ttyS0 init={WEB_INIT_PATH} panic=-1 raftboot.web={name}")
    }
}

/// MD5 (hex) of a file, with coreutils' `md5sum` (the guest uses busybox's).
fn md5_hex(path: &Path) -> anyhow::Result<String> {
    let out = std::process::Command::new("md5sum")
        .arg(path)
        .output()
        .context("md5sum (coreutils)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let sum = text.split_whitespace().next().unwrap_or("");
    anyhow::ensure!(
        out.status.success() && sum.len() == 32,
        "md5sum {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(sum.to_string())
}

/// One page as a web node serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub name: String,
    pub boot: String,
    /// The NFS round the page was written after (0: before the first round).
    pub nfs_round: u64,
    pub nfs_md5: String,
    /// The site token (from the fragment copied to tmpfs at boot).
    pub token: String,
}

impl Page {
    /// Parse a page body; `Err` says what is wrong with it.
    pub fn parse(body: &str) -> Result<Page, String> {
        let mut lines = body.lines();
        let name = lines
            .next()
            .and_then(|l| l.strip_prefix(PAGE_HEAD))
            .ok_or_else(|| format!("no {PAGE_HEAD:?} line: {}", excerpt(body)))?;
        let boot = lines
            .next()
            .and_then(|l| l.strip_prefix("boot "))
            .ok_or_else(|| format!("no boot line: {}", excerpt(body)))?;
        let nfs = lines
            .next()
            .and_then(|l| l.strip_prefix("nfs "))
            .ok_or_else(|| format!("no nfs line: {}", excerpt(body)))?;
        let (round, md5) = nfs
            .split_once(' ')
            .ok_or_else(|| format!("bad nfs line {nfs:?}"))?;
        let nfs_round = round
            .parse::<u64>()
            .map_err(|e| format!("bad nfs round {round:?}: {e}"))?;
        let token = lines
            .next()
            .and_then(|l| l.strip_prefix("site "))
            .ok_or_else(|| format!("no site line: {}", excerpt(body)))?;
        Ok(Page {
            name: name.trim().to_string(),
            boot: boot.trim().to_string(),
            nfs_round,
            nfs_md5: md5.trim().to_string(),
            token: token.trim().to_string(),
        })
    }
}

fn excerpt(s: &str) -> String {
    s.chars().take(120).collect::<String>()
}

/// The `RAFTBOOT-WEB-NFS` rounds on a console: (round, md5) in console order.
pub fn nfs_rounds(console: &str) -> Vec<(u64, String)> {
    console
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("RAFTBOOT-WEB-NFS ")?;
            let (round, md5) = rest.split_once(' ')?;
            Some((round.parse().ok()?, md5.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_page_parses_and_a_bad_one_says_why() {
        let p = Page::parse("raftboot web node web-a\nboot 1234\nnfs 7 0123abcd\nsite tok\nmore\n")
            .unwrap();
        assert_eq!(p.name, "web-a");
        assert_eq!(p.boot, "1234");
        assert_eq!(p.nfs_round, 7);
        assert_eq!(p.nfs_md5, "0123abcd");
        assert_eq!(p.token, "tok");
        assert!(Page::parse("<html>").unwrap_err().contains("no"));
        assert!(
            Page::parse("raftboot web node a\nboot b\nnfs x y\nsite t\n")
                .unwrap_err()
                .contains("bad nfs round")
        );
    }

    #[test]
    fn console_rounds_are_read_in_order_and_garbage_skipped() {
        let c = "noise\nRAFTBOOT-WEB-NFS 1 aa\r\n[  3.1] x\nRAFTBOOT-WEB-NFS 2 bb\nRAFTBOOT-WEB-NFS z cc\n";
        assert_eq!(
            nfs_rounds(c),
            vec![(1, "aa".to_string()), (2, "bb".to_string())]
        );
    }
}
