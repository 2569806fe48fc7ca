//! [`BootSelector`]: which boot file a PXE client gets — by client architecture (option
//! 93), by iPXE detection, and by per-host and per-group overrides. Pure.
//!
//! Order:
//! 1. An iPXE client gets a script: the host's (else group's) override when it is one
//!    (ends in `.ipxe` or is an http(s) URL), else `boot_files.ipxe`. Firmware that
//!    chain-loads iPXE through an override (e.g. `ipxe.efi`) thus does not loop.
//! 2. A UEFI HTTP-boot client (architecture 16 or 19) gets a URL: a URL override, else
//!    `boot_files.http_*`.
//! 3. Any other PXE client gets the host's, else the group's override, else the default
//!    of the first architecture it lists that has one (no option 93 = legacy BIOS).
//!
//! Architecture numbers are IANA's "Processor Architecture Types" (RFC 4578).

use cluster_config::BootFiles;
use raftboot_raft::state::{Group, Host};

/// Legacy x86 BIOS.
pub const ARCH_BIOS: u16 = 0;
/// x86 (32-bit) UEFI.
pub const ARCH_UEFI_IA32: u16 = 6;
/// x86-64 UEFI.
pub const ARCH_UEFI_X64: u16 = 7;
/// EFI byte code (x86-64 firmware sends it too).
pub const ARCH_EFI_BC: u16 = 9;
/// ARM64 UEFI.
pub const ARCH_UEFI_ARM64: u16 = 11;
/// x86-64 UEFI HTTP boot.
pub const ARCH_HTTP_X64: u16 = 16;
/// ARM64 UEFI HTTP boot.
pub const ARCH_HTTP_ARM64: u16 = 19;

/// What the client told about itself that matters for the boot file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientKind {
    /// Option 93, in the client's order.
    pub archs: Vec<u16>,
    /// User class "iPXE" or option 175.
    pub ipxe: bool,
}

/// Chooses boot files from the configured defaults.
#[derive(Debug, Clone)]
pub struct BootSelector<'a> {
    files: &'a BootFiles,
}

fn is_script(f: &str) -> bool {
    f.ends_with(".ipxe") || is_url(f)
}

fn is_url(f: &str) -> bool {
    f.starts_with("http://") || f.starts_with("https://")
}

impl<'a> BootSelector<'a> {
    pub fn new(files: &'a BootFiles) -> Self {
        BootSelector { files }
    }

    /// The default file for one architecture, if it has one.
    pub fn for_arch(&self, arch: u16) -> Option<&'a str> {
        let f = self.files;
        match arch {
            ARCH_BIOS => Some(&f.bios),
            ARCH_UEFI_IA32 => Some(&f.uefi_ia32),
            ARCH_UEFI_X64 | ARCH_EFI_BC => Some(&f.uefi_x86_64),
            ARCH_UEFI_ARM64 => Some(&f.uefi_arm64),
            ARCH_HTTP_X64 => Some(&f.http_x86_64),
            ARCH_HTTP_ARM64 => Some(&f.http_arm64),
            _ => None,
        }
    }

    /// The boot file for a client, or `None` when nothing fits its architectures.
    pub fn choose(
        &self,
        client: &ClientKind,
        host: Option<&Host>,
        group: Option<&Group>,
    ) -> Option<String> {
        let over = host
            .and_then(|h| h.boot_file.as_deref())
            .or(group.and_then(|g| g.boot_file.as_deref()))
            .filter(|f| !f.is_empty());
        if client.ipxe {
            return Some(
                over.filter(|f| is_script(f))
                    .unwrap_or(&self.files.ipxe)
                    .into(),
            );
        }
        let arch = if client.archs.is_empty() {
            Some(ARCH_BIOS)
        } else {
            client
                .archs
                .iter()
                .copied()
                .find(|a| self.for_arch(*a).is_some())
        }?;
        if matches!(arch, ARCH_HTTP_X64 | ARCH_HTTP_ARM64) {
            return Some(over.filter(|f| is_url(f)).or(self.for_arch(arch))?.into());
        }
        Some(over.or(self.for_arch(arch))?.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(archs: &[u16], ipxe: bool) -> ClientKind {
        ClientKind {
            archs: archs.to_vec(),
            ipxe,
        }
    }

    fn host(boot: Option<&str>) -> Host {
        Host {
            mac: raftboot_raft::Mac([2, 0, 0, 0, 0, 1]),
            name: "h".into(),
            group: "g".into(),
            ip: None,
            boot_file: boot.map(Into::into),
            kernel_args: None,
        }
    }

    fn group(boot: Option<&str>) -> Group {
        Group {
            name: "g".into(),
            boot_file: boot.map(Into::into),
            ..Group::default()
        }
    }

    #[test]
    fn by_architecture() {
        let files = BootFiles::default();
        let s = BootSelector::new(&files);
        let c = |a: &[u16]| s.choose(&kind(a, false), None, None);
        assert_eq!(c(&[]).as_deref(), Some("pxelinux.0"));
        assert_eq!(c(&[0]).as_deref(), Some("pxelinux.0"));
        assert_eq!(c(&[7]).as_deref(), Some("bootx64.efi"));
        assert_eq!(c(&[9]).as_deref(), Some("bootx64.efi"));
        assert_eq!(c(&[6]).as_deref(), Some("bootia32.efi"));
        assert_eq!(c(&[11]).as_deref(), Some("bootaa64.efi"));
        assert_eq!(
            c(&[16]).as_deref(),
            Some("http://{next_server}/bootx64.efi")
        );
        // The first architecture with a default wins; unknown ones are skipped.
        assert_eq!(c(&[42, 11, 7]).as_deref(), Some("bootaa64.efi"));
        assert_eq!(c(&[42]), None);
    }

    #[test]
    fn ipxe_and_overrides() {
        let files = BootFiles::default();
        let s = BootSelector::new(&files);
        let h = host(Some("ipxe.efi"));
        let g = group(Some("grub.efi"));
        // Firmware: host override, then group override.
        assert_eq!(
            s.choose(&kind(&[7], false), Some(&h), Some(&g)).as_deref(),
            Some("ipxe.efi")
        );
        assert_eq!(
            s.choose(&kind(&[7], false), Some(&host(None)), Some(&g))
                .as_deref(),
            Some("grub.efi")
        );
        // iPXE: a non-script override would loop, so the script is used.
        assert_eq!(
            s.choose(&kind(&[7], true), Some(&h), Some(&g)).as_deref(),
            Some("boot.ipxe")
        );
        let hs = host(Some("web.ipxe"));
        assert_eq!(
            s.choose(&kind(&[], true), Some(&hs), None).as_deref(),
            Some("web.ipxe")
        );
        // HTTP boot only takes a URL override.
        assert_eq!(
            s.choose(&kind(&[16], false), Some(&h), None).as_deref(),
            Some("http://{next_server}/bootx64.efi")
        );
        let hu = host(Some("http://10.0.0.10/x.efi"));
        assert_eq!(
            s.choose(&kind(&[16], false), Some(&hu), None).as_deref(),
            Some("http://10.0.0.10/x.efi")
        );
    }
}
