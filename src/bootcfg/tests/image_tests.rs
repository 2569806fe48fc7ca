//! Image files and loader files: symlinks, hard links, stages, refusals.

use super::*;

#[test]
fn root_symlinks_resolve_to_the_versioned_kernel_and_initrd() {
    assert_eq!(blob("/images/deb/vmlinuz"), Digest::of(KERNEL));
    assert_eq!(blob("/images/deb/initrd.img"), Digest::of(INITRD));
    assert_eq!(get("/images/deb/vmlinuz").unwrap().stage, Stage::Kernel);
    assert_eq!(
        get("/images/deb/boot/vmlinuz-6.1.0-1-amd64").unwrap().stage,
        Stage::Kernel
    );
    assert_eq!(get("images/deb/initrd.img").unwrap().stage, Stage::Initrd);
    assert_eq!(
        get("images/deb/usr/lib/os-release").unwrap().stage,
        Stage::Other
    );
    let r = get("/images/deb/vmlinuz").unwrap();
    assert_eq!(
        r.target,
        Target::Blob {
            digest: Digest::of(KERNEL),
            size: KERNEL.len() as u64
        }
    );
}

#[test]
fn links_in_the_middle_absolute_and_climbing_links_stay_in_the_image() {
    assert_eq!(blob("images/deb/lib/os-release"), Digest::of(b"ID=debian"));
    assert_eq!(blob("images/deb/abs"), Digest::of(KERNEL));
    assert_eq!(blob("images/deb/up"), Digest::of(INITRD));
    assert_eq!(blob("images/deb/hl"), Digest::of(b"config"));
}

#[test]
fn loops_dangling_links_dirs_and_devices_are_not_found() {
    for p in [
        "images/deb/loop",
        "images/deb/dangling",
        "images/deb/boot",
        "images/deb",
        "images/deb/dev/null",
        "images/deb/vmlinuz/x",
        "images/deb/missing",
        "images/nope/vmlinuz",
        "pxelinux.cfg/unknown-name",
    ] {
        assert!(
            matches!(get(p), Err(ResolveError::NotFound(_))),
            "{p}: {:?}",
            get(p)
        );
    }
    // Exactly MAX_SYMLINK_HOPS links are followed, one more is refused.
    let mut entries = vec![ManifestEntry::new("", EntryKind::Dir)];
    entries.push(super::file("f", b"x"));
    let n = MAX_SYMLINK_HOPS;
    for i in 0..=n {
        let target = if i == 0 {
            "f".to_string()
        } else {
            format!("l{:02}", i - 1)
        };
        entries.push(super::link(&format!("l{i:02}"), &target));
    }
    let m = Manifest::from_entries(entries).unwrap();
    assert!(resolve_file(&m, &format!("l{:02}", n - 1)).is_ok());
    assert!(resolve_file(&m, &format!("l{n:02}")).is_err());
}

#[test]
fn unavailable_manifest_is_its_own_error() {
    assert_eq!(
        get("images/unreplicated/pxelinux.0"),
        Err(ResolveError::Unavailable {
            image: "unreplicated".into(),
            reason: "not replicated yet".into()
        })
    );
}

#[test]
fn loader_files_come_from_the_loader_image() {
    assert_eq!(blob("pxelinux.0"), Digest::of(PXELINUX));
    assert_eq!(blob("/ldlinux.c32"), Digest::of(LDLINUX));
    assert_eq!(blob("::/ldlinux.c32"), Digest::of(LDLINUX));
    assert_eq!(get("/pxelinux.0").unwrap().stage, Stage::Loader);
    // A reserved prefix never falls through to the loader image...
    assert!(matches!(
        get("pxelinux.cfg/static"),
        Err(ResolveError::NotFound(_))
    ));
    // ...and a missing loader image is "not found".
    let (mut ctx, s, m) = fixture();
    ctx.loader_image = "absent".into();
    assert!(matches!(
        resolve(&ctx, &s, &m, "pxelinux.0", Transport::Tftp),
        Err(ResolveError::NotFound(_))
    ));
}

#[test]
fn kernel_discovery_prefers_root_links_then_newest_versioned() {
    let m = debian();
    assert_eq!(find_kernel(&m).as_deref(), Some("vmlinuz"));
    assert_eq!(find_initrd(&m).as_deref(), Some("initrd.img"));
    let m = Manifest::from_entries(vec![
        ManifestEntry::new("", EntryKind::Dir),
        ManifestEntry::new("boot", EntryKind::Dir),
        super::file("boot/vmlinuz-5.10", b"a"),
        super::file("boot/vmlinuz-6.1", b"b"),
        super::file("boot/vmlinuz-6.1.bad name", b"c"),
    ])
    .unwrap();
    assert_eq!(find_kernel(&m).as_deref(), Some("boot/vmlinuz-6.1"));
    assert_eq!(find_initrd(&m), None);
}
