//! iPXE scripts: [`ipxe_chain_script`] (`boot.ipxe`, which fetches the machine's own
//! script) and [`ipxe_host_script`] (kernel + initrd + boot of a [`BootPlan`]). Both retry
//! a failed download up to [`IPXE_RETRIES`] times, [`IPXE_RETRY_SLEEP_S`] seconds apart,
//! so a transfer cut by a failover is requested again from the new VIP holder.

use std::fmt::Write;

use super::context::{BootContext, Transport};
use super::plan::BootPlan;
use super::pxelinux::one_line;

/// Download attempts before a script gives up and returns to the firmware.
pub const IPXE_RETRIES: u32 = 10;
/// Seconds between attempts.
pub const IPXE_RETRY_SLEEP_S: u32 = 3;

/// `boot.ipxe`: chain to `/ipxe/<mac>.ipxe` (the MAC in iPXE's `hexhyp` form) on the
/// same server and protocol, retrying.
pub fn ipxe_chain_script() -> String {
    let mut o = String::from("#!ipxe\n# raftboot: fetch this machine's own boot script\n");
    retry_head(&mut o);
    let _ = writeln!(
        o,
        "chain --autofree /ipxe/${{mac:hexhyp}}.ipxe || goto raftboot_wait"
    );
    retry_tail(&mut o, "could not fetch /ipxe/${mac:hexhyp}.ipxe");
    o
}

/// The iPXE script of `plan`: kernel and initrd over `transport` (HTTP only when the
/// node serves HTTP boot, else TFTP) from the boot server, each download retried.
pub fn ipxe_host_script(ctx: &BootContext, plan: &BootPlan, transport: Transport) -> String {
    let transport = if transport == Transport::Http && ctx.http_port == 0 {
        Transport::Tftp
    } else {
        transport
    };
    let mut o = format!("#!ipxe\n# raftboot: {}\n", describe(plan));
    let Some(img) = &plan.image else {
        let why = plan.problem.as_deref().unwrap_or("no bootable image");
        let _ = writeln!(o, "echo raftboot: {}", one_line(why));
        let _ = writeln!(
            o,
            "echo raftboot: returning to the firmware in 10 s\nsleep 10\nexit 1"
        );
        return o;
    };
    let base = format!("{}/images/{}", ctx.base_url(transport), img.name);
    let initrd_arg = if img.initrd.is_some() {
        "initrd=initrd.img "
    } else {
        ""
    };
    retry_head(&mut o);
    let _ = writeln!(o, "imgfree");
    let _ = writeln!(
        o,
        "kernel {base}/{} {initrd_arg}{} BOOTIF=01-${{mac:hexhyp}} || goto raftboot_wait",
        img.kernel,
        plan.cmdline(ctx)
    );
    if let Some(initrd) = &img.initrd {
        let _ = writeln!(
            o,
            "initrd --name initrd.img {base}/{initrd} || goto raftboot_wait"
        );
    }
    let _ = writeln!(o, "boot || goto raftboot_wait");
    retry_tail(&mut o, "download or boot failed");
    o
}

/// One line saying whom and what a config is for.
pub(crate) fn describe(plan: &BootPlan) -> String {
    let who = match (&plan.mac, &plan.host_name) {
        (Some(m), Some(n)) => format!("host {m} ({n})"),
        (Some(m), None) => format!("machine {m}"),
        (None, _) => "any machine".to_string(),
    };
    let what = match &plan.image {
        Some(img) => format!("image {}", img.name),
        None => "no bootable image".to_string(),
    };
    one_line(&format!("{who}, group {}, {what}", plan.group))
}

fn retry_head(o: &mut String) {
    let _ = writeln!(o, "set raftboot_try:int32 0\n:raftboot_retry");
    let _ = writeln!(
        o,
        "iseq ${{raftboot_try}} {IPXE_RETRIES} && goto raftboot_failed ||"
    );
    let _ = writeln!(o, "inc raftboot_try");
}

fn retry_tail(o: &mut String, what: &str) {
    let _ = writeln!(o, ":raftboot_wait");
    let _ = writeln!(
        o,
        "echo raftboot: {what} (try ${{raftboot_try}} of {IPXE_RETRIES}), retrying in {IPXE_RETRY_SLEEP_S} s"
    );
    let _ = writeln!(o, "sleep {IPXE_RETRY_SLEEP_S}\ngoto raftboot_retry");
    let _ = writeln!(o, ":raftboot_failed");
    let _ = writeln!(
        o,
        "echo raftboot: giving up after {IPXE_RETRIES} tries\nexit 1"
    );
}
