//! Generated PXELINUX configs and iPXE scripts.

use super::*;

#[test]
fn pxelinux_host_config_boots_active_image_with_nfs_root() {
    let t = text("/pxelinux.cfg/01-52-54-00-12-34-56", Transport::Tftp);
    assert!(t.contains("DEFAULT raftboot\n"), "{t}");
    assert!(t.contains("  KERNEL images/deb/vmlinuz\n"), "{t}");
    assert!(
        t.contains(
            "  APPEND initrd=images/deb/initrd.img boot=nfs root=/dev/nfs \
             nfsroot=10.0.0.10:/groups/web ip=dhcp ro console=ttyS0\n"
        ),
        "{t}"
    );
    assert!(t.contains("  IPAPPEND 2\n"), "{t}");
    assert!(t.contains("host 52:54:00:12:34:56 (web1), group web, image deb"));
    let r = get("pxelinux.cfg/01-52-54-00-12-34-56").unwrap();
    assert_eq!((r.stage, r.mac), (Stage::Config, Some(WEB1)));
}

#[test]
fn host_kernel_args_replace_the_groups_and_cannot_inject_lines() {
    let t = text("pxelinux.cfg/01-52-54-00-00-00-02", Transport::Tftp);
    assert!(t.contains("nfsroot=10.0.0.10:/groups/db ip=dhcp ro nomodeset DEFAULT evil\n"));
    assert!(!t.contains("quiet"));
    assert_eq!(t.matches("DEFAULT").count(), 2, "{t}"); // the real one + inside APPEND
    assert!(!t.lines().any(|l| l.starts_with("DEFAULT evil")));
}

#[test]
fn unknown_mac_is_not_found_so_pxelinux_falls_back() {
    assert!(matches!(
        get("pxelinux.cfg/01-00-11-22-33-44-55"),
        Err(ResolveError::NotFound(_))
    ));
}

#[test]
fn pxelinux_by_fixed_ip_and_by_lease_but_never_by_prefix() {
    let t = text("pxelinux.cfg/0A000015", Transport::Tftp);
    assert!(t.contains("group web"), "{t}");
    let t = text("pxelinux.cfg/0A000096", Transport::Tftp);
    assert!(t.contains("host 52:54:00:00:00:02 (db1)"), "{t}");
    for p in [
        "pxelinux.cfg/0A000063",
        "pxelinux.cfg/0A00001",
        "pxelinux.cfg/0A",
    ] {
        assert!(matches!(get(p), Err(ResolveError::NotFound(_))), "{p}");
    }
}

#[test]
fn default_config_and_no_image_config() {
    let t = text("pxelinux.cfg/default", Transport::Tftp);
    assert!(t.contains("KERNEL images/deb/vmlinuz"));
    assert!(t.contains("nfsroot=10.0.0.10:/groups/default "));
    let (ctx, mut s, m) = fixture();
    s.groups.remove("default");
    let r = resolve(&ctx, &s, &m, "pxelinux.cfg/default", Transport::Tftp).unwrap();
    let Target::Generated(t) = r.target else {
        panic!()
    };
    assert!(
        t.contains("SAY raftboot: group default has no active image;"),
        "{t}"
    );
    assert!(t.contains("LOCALBOOT 0") && !t.contains("KERNEL"), "{t}");
}

#[test]
fn unavailable_or_unsafe_images_give_a_no_image_config() {
    let (ctx, mut s, m) = fixture();
    let web = s.hosts.get_mut(&WEB1).unwrap();
    web.group = "ghost".into();
    let plan = BootPlan::for_host(&s, &m, &s.hosts[&WEB1]);
    assert!(plan.image.is_none());
    assert!(plan
        .problem
        .as_deref()
        .unwrap()
        .contains("unavailable on this node"));
    let t = pxelinux_config(&ctx, &plan);
    assert!(t.contains("LOCALBOOT 0"));
    s.groups.get_mut("web").unwrap().active_image = Some("bad name".into());
    let plan = BootPlan::for_group(&s, &m, "web", None);
    assert!(plan.problem.unwrap().contains("cannot be used"));
}

#[test]
fn ipxe_script_retries_and_uses_the_requested_transport() {
    let t = text("ipxe/52:54:00:12:34:56.ipxe", Transport::Tftp);
    assert!(t.starts_with("#!ipxe\n"));
    assert!(t.contains(":raftboot_retry\n"));
    assert!(t.contains(&format!(
        "iseq ${{raftboot_try}} {IPXE_RETRIES} && goto raftboot_failed ||"
    )));
    assert!(t.contains(&format!(
        "sleep {IPXE_RETRY_SLEEP_S}\ngoto raftboot_retry\n"
    )));
    assert!(
        t.contains(
            "kernel tftp://10.0.0.10/images/deb/vmlinuz initrd=initrd.img boot=nfs root=/dev/nfs \
         nfsroot=10.0.0.10:/groups/web ip=dhcp ro console=ttyS0 BOOTIF=01-${mac:hexhyp} \
         || goto raftboot_wait\n"
        ),
        "{t}"
    );
    assert!(t.contains(
        "initrd --name initrd.img tftp://10.0.0.10/images/deb/initrd.img || goto raftboot_wait\n"
    ));
    assert!(t.contains("boot || goto raftboot_wait\n"));
    let h = text("ipxe/52:54:00:12:34:56.ipxe", Transport::Http);
    assert!(
        h.contains("kernel http://10.0.0.10:8080/images/deb/vmlinuz "),
        "{h}"
    );
    assert!(h.contains("initrd --name initrd.img http://10.0.0.10:8080/images/deb/initrd.img "));
    assert_eq!(text("ipxe/http/525400123456.ipxe", Transport::Tftp), h);
    assert_eq!(text("ipxe/tftp/52-54-00-12-34-56.ipxe", Transport::Http), t);
}

#[test]
fn ipxe_http_falls_back_to_tftp_without_http_port_and_unknown_macs_boot_default() {
    let (mut ctx, s, m) = fixture();
    ctx.http_port = 0;
    ctx.tftp_port = 6969;
    let r = resolve(&ctx, &s, &m, "ipxe/http/default.ipxe", Transport::Http).unwrap();
    let Target::Generated(t) = r.target else {
        panic!()
    };
    assert!(
        t.contains("kernel tftp://10.0.0.10:6969/images/deb/vmlinuz "),
        "{t}"
    );
    assert!(t.contains("groups/default "), "{t}");
    let t = text("ipxe/00:11:22:33:44:55.ipxe", Transport::Tftp);
    assert!(
        t.contains("machine 00:11:22:33:44:55, group default, image deb"),
        "{t}"
    );
}

#[test]
fn ipxe_no_image_script_returns_to_firmware() {
    let (ctx, mut s, m) = fixture();
    s.groups.get_mut("web").unwrap().active_image = None;
    let r = resolve(&ctx, &s, &m, "ipxe/52:54:00:12:34:56.ipxe", Transport::Tftp).unwrap();
    let Target::Generated(t) = r.target else {
        panic!()
    };
    assert!(
        t.contains("echo raftboot: group web has no active image\n"),
        "{t}"
    );
    assert!(t.contains("exit 1") && !t.contains("kernel "), "{t}");
}

#[test]
fn chain_script_fetches_the_per_mac_script_with_retries() {
    let t = text("/boot.ipxe", Transport::Tftp);
    assert!(t.starts_with("#!ipxe\n"));
    assert!(t.contains("chain --autofree /ipxe/${mac:hexhyp}.ipxe || goto raftboot_wait\n"));
    assert!(t.contains("goto raftboot_retry\n") && t.contains(":raftboot_failed\n"));
    // The name the chain script asks for resolves.
    let t = text("/ipxe/52-54-00-12-34-56.ipxe", Transport::Tftp);
    assert!(t.contains("group web"));
}

#[test]
fn context_from_config_prefers_vip_then_lan_then_bind() {
    let ctx = BootContext {
        server: IpAddr::V6("fd00::1".parse().unwrap()),
        tftp_port: 69,
        http_port: 80,
        loader_image: "l".into(),
    };
    assert_eq!(ctx.base_url(Transport::Http), "http://[fd00::1]");
    assert_eq!(ctx.base_url(Transport::Tftp), "tftp://[fd00::1]");
    assert_eq!(ctx.nfs_server(), "fd00::1");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cluster.secret"), "0123456789abcdef").unwrap();
    std::fs::write(dir.path().join("admin.token"), "t").unwrap();
    let path = dir.path().join("local.toml");
    let cfg =
        cluster_config::NodeConfig::parse(cluster_config::LOCAL_EXAMPLE, &path, Some(2)).unwrap();
    let ctx = BootContext::from_config(&cfg);
    assert_eq!(ctx.server, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!((ctx.tftp_port, ctx.http_port), (6902, 8002));
    assert_eq!(ctx.loader_image, "bootloaders");
}

#[test]
fn boot_file_override_host_then_group() {
    let (_, mut s, m) = fixture();
    let plan = |s: &State| BootPlan::for_host(s, &m, &s.hosts[&WEB1]).boot_file;
    assert_eq!(plan(&s), None);
    s.groups.get_mut("web").unwrap().boot_file = Some("ipxe.efi".into());
    assert_eq!(plan(&s).as_deref(), Some("ipxe.efi"));
    s.hosts.get_mut(&WEB1).unwrap().boot_file = Some("pxelinux.0".into());
    assert_eq!(plan(&s).as_deref(), Some("pxelinux.0"));
}
