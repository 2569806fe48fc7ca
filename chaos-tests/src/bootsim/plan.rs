//! What a boot config tells the simulated client to fetch next: the kernel, the initrd and
//! the NFS root, read from a pxelinux config or an iPXE script (the files raftboot
//! generates, parsed the way pxelinux and iPXE read them).

use std::net::Ipv4Addr;

/// The rest of the boot after the config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BootPlan {
    /// Kernel path (pxelinux: relative to the TFTP root) or URL (iPXE).
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    /// `nfsroot=SERVER:/export`.
    pub nfs_root: Option<(Ipv4Addr, String)>,
}

fn nfsroot(args: &str) -> Option<(Ipv4Addr, String)> {
    let v = args
        .split_whitespace()
        .find_map(|a| a.strip_prefix("nfsroot="))?;
    let v = v.split(',').next()?;
    let (server, path) = v.split_once(':')?;
    Some((server.parse().ok()?, path.to_string()))
}

/// Read a pxelinux config: the first label's KERNEL and APPEND (`initrd=`, `nfsroot=`).
pub fn from_pxelinux(cfg: &str) -> BootPlan {
    let mut p = BootPlan::default();
    for line in cfg.lines().map(str::trim) {
        let (key, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match key.to_ascii_uppercase().as_str() {
            "KERNEL" | "LINUX" if p.kernel.is_none() => p.kernel = Some(rest.trim().to_string()),
            "APPEND" if p.initrd.is_none() => {
                p.initrd = rest
                    .split_whitespace()
                    .find_map(|a| a.strip_prefix("initrd="))
                    .and_then(|v| v.split(',').next())
                    .map(str::to_string);
                p.nfs_root = nfsroot(rest);
            }
            _ => {}
        }
    }
    p
}

/// Read an iPXE script: the first `kernel URL args` and `initrd [--name N] URL`.
pub fn from_ipxe(script: &str) -> BootPlan {
    let mut p = BootPlan::default();
    for line in script.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("kernel") if p.kernel.is_none() => {
                let rest: Vec<&str> = words.take_while(|w| *w != "||").collect();
                p.kernel = rest.first().map(|s| s.to_string());
                p.nfs_root = nfsroot(&rest.join(" "));
            }
            Some("initrd") if p.initrd.is_none() => {
                p.initrd = words
                    .take_while(|w| *w != "||")
                    .filter(|w| !w.starts_with("--"))
                    .last()
                    .map(str::to_string);
            }
            _ => {}
        }
    }
    p
}

/// The file an iPXE `chain` line names, with `${mac}` / `${mac:hexhyp}` expanded.
pub fn ipxe_chain(script: &str, mac: &str) -> Option<String> {
    script.lines().map(str::trim).find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next() != Some("chain") {
            return None;
        }
        let target = words
            .take_while(|w| *w != "||")
            .filter(|w| !w.starts_with("--"))
            .last()?;
        Some(
            target
                .replace("${mac:hexhyp}", &mac.replace(':', "-"))
                .replace("${mac}", mac),
        )
    })
}

/// The config names pxelinux tries, in order: `01-<mac>`, the address in hex, `default`
/// (the shortened hex prefixes are skipped: raftboot never serves them).
pub fn pxelinux_names(mac: &str, ip: Ipv4Addr) -> [String; 3] {
    let hex: String = ip.octets().iter().map(|o| format!("{o:02X}")).collect();
    [
        format!(
            "pxelinux.cfg/01-{}",
            mac.replace(':', "-").to_ascii_lowercase()
        ),
        format!("pxelinux.cfg/{hex}"),
        "pxelinux.cfg/default".to_string(),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn follows_the_chain_script_and_pxelinux_names() {
        let chain = "#!ipxe\nchain --autofree /ipxe/${mac:hexhyp}.ipxe || goto raftboot_wait\n";
        assert_eq!(
            ipxe_chain(chain, "52:54:00:12:34:56").as_deref(),
            Some("/ipxe/52-54-00-12-34-56.ipxe")
        );
        assert_eq!(ipxe_chain("#!ipxe\nkernel x\n", "52:54:00:12:34:56"), None);
        let names = pxelinux_names("52:54:00:AB:34:56", "10.0.2.100".parse().unwrap());
        assert_eq!(names[0], "pxelinux.cfg/01-52-54-00-ab-34-56");
        assert_eq!(names[1], "pxelinux.cfg/0A000264");
    }

    #[test]
    fn reads_a_generated_pxelinux_config() {
        let p = from_pxelinux(
            "DEFAULT raftboot\nLABEL raftboot\n  KERNEL images/demo/vmlinuz\n  APPEND initrd=images/demo/initrd.img boot=nfs root=/dev/nfs nfsroot=10.0.0.10:/groups/web,vers=3 ip=dhcp ro\n  IPAPPEND 2\n",
        );
        assert_eq!(p.kernel.as_deref(), Some("images/demo/vmlinuz"));
        assert_eq!(p.initrd.as_deref(), Some("images/demo/initrd.img"));
        assert_eq!(
            p.nfs_root,
            Some(("10.0.0.10".parse().unwrap(), "/groups/web".into()))
        );
        assert_eq!(
            from_pxelinux("SAY no kernel\nLOCALBOOT 0\n"),
            BootPlan::default()
        );
    }

    #[test]
    fn reads_a_generated_ipxe_script() {
        let p = from_ipxe(
            "#!ipxe\nkernel http://10.0.0.10/images/demo/vmlinuz initrd=initrd.img nfsroot=10.0.0.10:/groups/web ro || goto raftboot_wait\ninitrd --name initrd.img http://10.0.0.10/images/demo/initrd.img || goto raftboot_wait\nboot\n",
        );
        assert_eq!(
            p.kernel.as_deref(),
            Some("http://10.0.0.10/images/demo/vmlinuz")
        );
        assert_eq!(
            p.initrd.as_deref(),
            Some("http://10.0.0.10/images/demo/initrd.img")
        );
        assert_eq!(
            p.nfs_root,
            Some(("10.0.0.10".parse().unwrap(), "/groups/web".into()))
        );
    }
}
