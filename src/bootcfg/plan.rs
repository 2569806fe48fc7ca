//! [`BootPlan`]: what one machine boots — its group's active image, the kernel and initrd
//! inside it, and the kernel command line with the NFS root — derived from the replicated
//! state and the image's manifest.

use raftboot_raft::state::Host;
use raftboot_raft::{Mac, State};

use crate::cas::Manifest;

use super::context::BootContext;
use super::image_walk::resolve_file;
use super::resolver::ManifestSource;

/// The group machines without a host entry boot, and `pxelinux.cfg/default` describes.
pub const DEFAULT_GROUP: &str = "default";

/// Kernel paths tried in an image, in order, before the newest `boot/vmlinuz-*`.
const KERNEL_NAMES: [&str; 2] = ["vmlinuz", "boot/vmlinuz"];
/// Initrd paths tried in an image, in order, before the newest `boot/initrd.img-*`.
const INITRD_NAMES: [&str; 2] = ["initrd.img", "boot/initrd.img"];

/// The image a plan boots and the paths inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedImage {
    /// Image name (safe for paths and URLs).
    pub name: String,
    /// Kernel path inside the image (may be a symlink, e.g. Debian's `vmlinuz`).
    pub kernel: String,
    /// Initrd path inside the image, if the image has one.
    pub initrd: Option<String>,
}

/// What a machine boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootPlan {
    /// The machine, when known.
    pub mac: Option<Mac>,
    /// Its host name, when it has a host entry.
    pub host_name: Option<String>,
    /// Its group.
    pub group: String,
    /// The image to boot, or why there is none in `problem`.
    pub image: Option<PlannedImage>,
    /// Why nothing can be booted (no active image, manifest unavailable, no kernel ...).
    pub problem: Option<String>,
    /// Extra kernel arguments: the host's if set, else the group's (control characters
    /// replaced by spaces).
    pub kernel_args: String,
    /// The boot file (the loader DHCP names, e.g. `pxelinux.0`, `ipxe.efi`) overriding the
    /// architecture default: the host's if set, else the group's, else `None`.
    pub boot_file: Option<String>,
}

impl BootPlan {
    /// The plan of a known host.
    pub fn for_host(state: &State, manifests: &dyn ManifestSource, host: &Host) -> BootPlan {
        let mut plan = BootPlan::for_group(state, manifests, &host.group, Some(host.mac));
        plan.host_name = Some(host.name.clone());
        if let Some(args) = &host.kernel_args {
            plan.kernel_args = clean_args(args);
        }
        if host.boot_file.is_some() {
            plan.boot_file.clone_from(&host.boot_file);
        }
        plan
    }

    /// The plan of a machine in `group` (a host, or an unknown machine in `default`).
    pub fn for_group(
        state: &State,
        manifests: &dyn ManifestSource,
        group: &str,
        mac: Option<Mac>,
    ) -> BootPlan {
        let g = state.groups.get(group);
        let mut plan = BootPlan {
            mac,
            host_name: None,
            group: group.to_string(),
            image: None,
            problem: None,
            kernel_args: g.map(|g| clean_args(&g.kernel_args)).unwrap_or_default(),
            boot_file: g.and_then(|g| g.boot_file.clone()),
        };
        if !is_safe_name(group) {
            plan.problem = Some(format!(
                "group name {group:?} cannot be used in a boot path"
            ));
            return plan;
        }
        let Some(name) = g.and_then(|g| g.active_image.as_deref()) else {
            plan.problem = Some(format!("group {group} has no active image"));
            return plan;
        };
        match plan_image(state, manifests, name) {
            Ok(img) => plan.image = Some(img),
            Err(why) => plan.problem = Some(why),
        }
        plan
    }

    /// The kernel command line: NFS root on the boot server, then the extra arguments.
    pub fn cmdline(&self, ctx: &BootContext) -> String {
        let base = format!(
            "boot=nfs root=/dev/nfs nfsroot={}:/groups/{} ip=dhcp ro",
            ctx.nfs_server(),
            self.group
        );
        let extra = self.kernel_args.trim();
        if extra.is_empty() {
            base
        } else {
            format!("{base} {extra}")
        }
    }
}

fn plan_image(
    state: &State,
    manifests: &dyn ManifestSource,
    name: &str,
) -> Result<PlannedImage, String> {
    if !is_safe_name(name) {
        return Err(format!("image name {name:?} cannot be used in a boot path"));
    }
    let Some(image) = state.images.get(name) else {
        return Err(format!("active image {name} is not registered"));
    };
    let m = manifests
        .manifest(image)
        .map_err(|e| format!("image {name} is unavailable on this node: {e}"))?;
    let kernel = find_kernel(&m).ok_or_else(|| format!("image {name} has no kernel"))?;
    Ok(PlannedImage {
        name: name.to_string(),
        kernel,
        initrd: find_initrd(&m),
    })
}

/// The kernel of an image: `vmlinuz`, `boot/vmlinuz`, else the last `boot/vmlinuz-*` in
/// sort order, whichever first resolves to a regular file with a path safe for configs.
pub fn find_kernel(m: &Manifest) -> Option<String> {
    find(m, &KERNEL_NAMES, "boot/vmlinuz-")
}

/// The initrd of an image, like [`find_kernel`] with `initrd.img` / `boot/initrd.img-*`.
pub fn find_initrd(m: &Manifest) -> Option<String> {
    find(m, &INITRD_NAMES, "boot/initrd.img-")
}

fn find(m: &Manifest, names: &[&str], versioned: &str) -> Option<String> {
    let usable = |p: &str| is_safe_path(p) && resolve_file(m, p).is_ok();
    if let Some(p) = names.iter().find(|p| usable(p)) {
        return Some((*p).to_string());
    }
    m.entries()
        .iter()
        .rev()
        .map(|e| e.path.as_str())
        .filter(|p| p.starts_with(versioned) && !p[versioned.len()..].contains('/'))
        .find(|p| usable(p))
        .map(str::to_string)
}

/// Names that can go into a config file, a kernel command line and a URL unquoted.
pub(crate) fn is_safe_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
}

fn is_safe_path(p: &str) -> bool {
    p.split('/').all(is_safe_name)
}

/// Kernel arguments with control characters (which could start a new config line)
/// replaced by spaces.
fn clean_args(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}
