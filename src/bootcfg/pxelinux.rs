//! [`pxelinux_config`]: the PXELINUX configuration file of a [`BootPlan`].

use std::fmt::Write;

use super::context::BootContext;
use super::plan::BootPlan;

/// A PXELINUX config booting `plan` at once (no prompt). Kernel and initrd are paths
/// relative to pxelinux's path prefix (`images/<image>/<path>`: the directory pxelinux.0
/// came from, which may be a `tftp://server:port/` URL), `IPAPPEND 2` adds `BOOTIF=`.
/// Without a bootable image the config says why and falls through to the next boot
/// device (`LOCALBOOT 0`).
pub fn pxelinux_config(ctx: &BootContext, plan: &BootPlan) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# raftboot: {}", super::ipxe::describe(plan));
    match &plan.image {
        Some(img) => {
            let _ = writeln!(o, "DEFAULT raftboot\nPROMPT 0\nTIMEOUT 0");
            let _ = writeln!(o, "LABEL raftboot");
            let _ = writeln!(o, "  KERNEL images/{}/{}", img.name, img.kernel);
            let initrd = img
                .initrd
                .as_ref()
                .map(|i| format!("initrd=images/{}/{i} ", img.name))
                .unwrap_or_default();
            let _ = writeln!(o, "  APPEND {initrd}{}", plan.cmdline(ctx));
            let _ = writeln!(o, "  IPAPPEND 2");
        }
        None => {
            let why = plan.problem.as_deref().unwrap_or("no bootable image");
            let _ = writeln!(o, "DEFAULT local\nPROMPT 0\nTIMEOUT 0");
            let _ = writeln!(
                o,
                "SAY raftboot: {}; booting from the next device",
                one_line(why)
            );
            let _ = writeln!(o, "LABEL local\n  LOCALBOOT 0");
        }
    }
    o
}

/// `s` with control characters replaced by spaces (a config line cannot be split).
pub(crate) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
