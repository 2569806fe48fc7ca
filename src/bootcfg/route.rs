//! [`Route`]: which part of the namespace a normalized [`BootPath`] names.

use std::net::Ipv4Addr;

use raftboot_raft::Mac;

use super::context::Transport;
use super::path::BootPath;

/// What a request path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `pxelinux.cfg/default`.
    PxeDefault,
    /// `pxelinux.cfg/01-<mac>` (ARP type 1, any case).
    PxeMac(Mac),
    /// `pxelinux.cfg/<8 hex digits>`: the client's IPv4 address.
    PxeIp(Ipv4Addr),
    /// `pxelinux.cfg/<1..7 hex digits>`: a shortened address prefix. pxelinux uses these
    /// for subnet-wide configs; raftboot never hands one host's config to another, so
    /// these are not found and pxelinux goes on to `default`.
    PxeIpPrefix(String),
    /// `boot.ipxe` or `ipxe/boot.ipxe`: the chain script.
    IpxeChain,
    /// `ipxe/[tftp/|http/]<mac>.ipxe` or `ipxe/[...]default.ipxe`. `transport` is the
    /// forced protocol of the kernel/initrd URLs (`None`: the request's own).
    IpxeHost {
        /// The machine (`None` for `default.ipxe`).
        mac: Option<Mac>,
        /// Forced transport of the kernel and initrd URLs.
        transport: Option<Transport>,
    },
    /// `images/<image>/<path>`.
    ImageFile {
        /// Image name.
        image: String,
        /// Path inside the image (may be empty: the image root).
        path: String,
    },
    /// Anything else: a file of the loader image.
    Loader {
        /// Path inside the loader image.
        path: String,
    },
    /// A reserved prefix (`pxelinux.cfg/`, `ipxe/`) with a name that means nothing.
    Unknown,
}

impl Route {
    /// Classify a normalized path.
    pub fn of(p: &BootPath) -> Route {
        let c: Vec<&str> = p.components().iter().map(String::as_str).collect();
        match c.as_slice() {
            ["pxelinux.cfg", "default"] => Route::PxeDefault,
            ["pxelinux.cfg", name] => pxe_name(name),
            ["boot.ipxe"] | ["ipxe", "boot.ipxe"] => Route::IpxeChain,
            ["ipxe", name] => ipxe_name(name, None),
            ["ipxe", "tftp", name] => ipxe_name(name, Some(Transport::Tftp)),
            ["ipxe", "http", name] => ipxe_name(name, Some(Transport::Http)),
            ["images", image, rest @ ..] => Route::ImageFile {
                image: (*image).to_string(),
                path: rest.join("/"),
            },
            ["pxelinux.cfg", ..] | ["ipxe", ..] => Route::Unknown,
            _ => Route::Loader {
                path: p.as_relative(),
            },
        }
    }
}

fn pxe_name(name: &str) -> Route {
    if let Some(mac) = name.strip_prefix("01-").and_then(parse_mac_any) {
        return Route::PxeMac(mac);
    }
    if (1..=8).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        if name.len() == 8 {
            if let Ok(v) = u32::from_str_radix(name, 16) {
                return Route::PxeIp(Ipv4Addr::from(v));
            }
        }
        return Route::PxeIpPrefix(name.to_ascii_uppercase());
    }
    Route::Unknown
}

fn ipxe_name(name: &str, transport: Option<Transport>) -> Route {
    let Some(stem) = name.strip_suffix(".ipxe") else {
        return Route::Unknown;
    };
    if stem == "default" {
        return Route::IpxeHost {
            mac: None,
            transport,
        };
    }
    match parse_mac_any(stem) {
        Some(mac) => Route::IpxeHost {
            mac: Some(mac),
            transport,
        },
        None => Route::Unknown,
    }
}

/// `aa:bb:..`, `aa-bb-..` (any case) or 12 bare hex digits.
pub(crate) fn parse_mac_any(s: &str) -> Option<Mac> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut out = [0u8; 6];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        return Some(Mac(out));
    }
    cluster_config::parse_mac(s).map(Mac)
}
