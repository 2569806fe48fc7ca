//! Tests of the boot namespace: a fixture state with hosts, groups, leases and images,
//! manifests served from a map, and one file of tests per concern.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod config_tests;
mod image_tests;
mod path_tests;
mod prop_tests;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use raftboot_raft::state::{Group, Host, Image, Lease};
use raftboot_raft::{Mac, State};

use super::*;
use crate::cas::{Digest, EntryKind, Manifest, ManifestEntry};

pub const WEB1: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
pub const DB1: Mac = Mac([0x52, 0x54, 0x00, 0, 0, 2]);
pub const KERNEL: &[u8] = b"kernel bytes";
pub const INITRD: &[u8] = b"initrd bytes";
pub const PXELINUX: &[u8] = b"pxelinux.0 bytes";
pub const LDLINUX: &[u8] = b"ldlinux.c32 bytes";

/// Manifests by image name; images named in `missing` are unavailable.
pub struct Map {
    pub by_name: HashMap<String, Arc<Manifest>>,
}

impl ManifestSource for Map {
    fn manifest(&self, image: &Image) -> Result<Arc<Manifest>, String> {
        self.by_name
            .get(&image.name)
            .cloned()
            .ok_or_else(|| "not replicated yet".to_string())
    }
}

fn file(path: &str, data: &[u8]) -> ManifestEntry {
    let mut e = ManifestEntry::new(
        path,
        EntryKind::File {
            digest: Digest::of(data),
        },
    );
    e.size = data.len() as u64;
    e
}

fn dir(path: &str) -> ManifestEntry {
    ManifestEntry::new(path, EntryKind::Dir)
}

fn link(path: &str, target: &str) -> ManifestEntry {
    ManifestEntry::new(
        path,
        EntryKind::Symlink {
            target: target.into(),
        },
    )
}

/// A Debian-like root: versioned kernel and initrd under boot/ with root symlinks,
/// a `lib -> usr/lib` link, links that loop, climb above the root or are absolute.
pub fn debian() -> Manifest {
    Manifest::from_entries(vec![
        dir(""),
        dir("boot"),
        file("boot/vmlinuz-6.1.0-1-amd64", KERNEL),
        file("boot/initrd.img-6.1.0-1-amd64", INITRD),
        file("boot/config-6.1.0-1-amd64", b"config"),
        link("vmlinuz", "boot/vmlinuz-6.1.0-1-amd64"),
        link("initrd.img", "boot/initrd.img-6.1.0-1-amd64"),
        dir("usr"),
        dir("usr/lib"),
        file("usr/lib/os-release", b"ID=debian"),
        link("lib", "usr/lib"),
        link("loop", "loop2"),
        link("loop2", "loop"),
        link("abs", "/boot/vmlinuz-6.1.0-1-amd64"),
        link("up", "../../../boot/initrd.img-6.1.0-1-amd64"),
        link("dangling", "nowhere"),
        ManifestEntry::new(
            "hl",
            EntryKind::HardLink {
                target: "boot/config-6.1.0-1-amd64".into(),
            },
        ),
        dir("dev"),
        ManifestEntry::new("dev/null", EntryKind::CharDevice { major: 1, minor: 3 }),
    ])
    .unwrap()
}

pub fn loaders() -> Manifest {
    Manifest::from_entries(vec![
        dir(""),
        file("pxelinux.0", PXELINUX),
        file("ldlinux.c32", LDLINUX),
        dir("pxelinux.cfg"),
        file("pxelinux.cfg/static", b"static"),
    ])
    .unwrap()
}

fn image(name: &str, m: &Manifest) -> Image {
    Image {
        name: name.into(),
        manifest: m.digest().to_hex(),
        seq: 1,
        size: 0,
        created_ms: 0,
    }
}

fn group(name: &str, args: &str, active: Option<&str>) -> Group {
    Group {
        name: name.into(),
        kernel_args: args.into(),
        boot_file: None,
        active_image: active.map(str::to_string),
        history: vec![],
    }
}

/// The fixture: `web1` (fixed 10.0.0.21, group web), `db1` (lease 10.0.0.150, group db,
/// own kernel args), groups web/db/default on image `deb`, `ghost` on an unreplicated
/// image, `loaders` as the loader image.
pub fn fixture() -> (BootContext, State, Map) {
    let deb = debian();
    let ldr = loaders();
    let mut s = State::default();
    s.images.insert("deb".into(), image("deb", &deb));
    s.images
        .insert("bootloaders".into(), image("bootloaders", &ldr));
    s.images
        .insert("unreplicated".into(), image("unreplicated", &ldr));
    s.groups
        .insert("web".into(), group("web", "console=ttyS0", Some("deb")));
    s.groups
        .insert("db".into(), group("db", "quiet", Some("deb")));
    s.groups
        .insert("default".into(), group("default", "", Some("deb")));
    s.groups
        .insert("ghost".into(), group("ghost", "", Some("unreplicated")));
    s.hosts.insert(
        WEB1,
        Host {
            mac: WEB1,
            name: "web1".into(),
            group: "web".into(),
            ip: Some(Ipv4Addr::new(10, 0, 0, 21)),
            boot_file: None,
            kernel_args: None,
        },
    );
    s.hosts.insert(
        DB1,
        Host {
            mac: DB1,
            name: "db1".into(),
            group: "db".into(),
            ip: None,
            boot_file: None,
            kernel_args: Some("nomodeset\nDEFAULT evil".into()),
        },
    );
    let lease_ip = Ipv4Addr::new(10, 0, 0, 150);
    s.leases.insert(
        lease_ip,
        Lease {
            ip: lease_ip,
            mac: DB1,
            pool: "p".into(),
            granted_ms: 0,
            expires_ms: u64::MAX,
        },
    );
    s.reindex();
    let map = Map {
        by_name: HashMap::from([
            ("deb".to_string(), Arc::new(deb)),
            ("bootloaders".to_string(), Arc::new(ldr)),
        ]),
    };
    let ctx = BootContext {
        server: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10)),
        tftp_port: 69,
        http_port: 8080,
        loader_image: "bootloaders".into(),
    };
    (ctx, s, map)
}

/// Resolve over TFTP against the fixture.
pub fn get(path: &str) -> Result<Resolution, ResolveError> {
    let (ctx, s, m) = fixture();
    resolve(&ctx, &s, &m, path, Transport::Tftp)
}

/// The generated text at `path` (panics if it is not generated).
pub fn text(path: &str, transport: Transport) -> String {
    let (ctx, s, m) = fixture();
    match resolve(&ctx, &s, &m, path, transport).unwrap().target {
        Target::Generated(t) => t,
        other => panic!("{path}: not generated: {other:?}"),
    }
}

/// The blob digest at `path` (panics if it is not a blob).
pub fn blob(path: &str) -> Digest {
    match get(path).unwrap().target {
        Target::Blob { digest, .. } => digest,
        other => panic!("{path}: not a blob: {other:?}"),
    }
}
