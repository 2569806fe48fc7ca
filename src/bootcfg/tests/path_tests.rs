//! [`BootPath`] normalization and [`Route`] classification.

use super::*;

fn comps(raw: &str) -> Vec<String> {
    BootPath::parse(raw).unwrap().components().to_vec()
}

#[test]
fn leading_slash_double_slash_dot_and_pxelinux_prefix_normalize() {
    let want = vec!["pxelinux.cfg".to_string(), "default".to_string()];
    for raw in [
        "pxelinux.cfg/default",
        "/pxelinux.cfg/default",
        "//pxelinux.cfg//./default/",
        "::/pxelinux.cfg/default",
        "::pxelinux.cfg/default",
    ] {
        assert_eq!(comps(raw), want, "{raw}");
    }
    assert_eq!(BootPath::parse("/a/./b").unwrap().to_string(), "/a/b");
}

#[test]
fn refusals_are_typed() {
    let long_comp = "a".repeat(MAX_COMPONENT_LEN + 1);
    let long_path = "a/".repeat(MAX_PATH_LEN / 2 + 1);
    for (raw, want) in [
        ("", PathError::Empty),
        ("/", PathError::Empty),
        ("/./.", PathError::Empty),
        ("..", PathError::Traversal),
        ("../../etc/passwd", PathError::Traversal),
        ("/images/deb/../../etc/passwd", PathError::Traversal),
        ("images/..", PathError::Traversal),
        ("a\0b", PathError::Nul),
        ("..\\..\\windows", PathError::Backslash),
        ("a\nb", PathError::Control),
        (long_comp.as_str(), PathError::ComponentTooLong),
        (long_path.as_str(), PathError::TooLong),
    ] {
        assert_eq!(BootPath::parse(raw), Err(want.clone()), "{raw:?}");
        assert_eq!(get(raw), Err(ResolveError::BadPath(want)), "{raw:?}");
    }
    // `...` is an ordinary name, not a traversal.
    assert_eq!(comps("/.../x"), vec!["...", "x"]);
}

#[test]
fn routes() {
    let r = |raw: &str| Route::of(&BootPath::parse(raw).unwrap());
    assert_eq!(r("/pxelinux.cfg/default"), Route::PxeDefault);
    assert_eq!(r("pxelinux.cfg/01-52-54-00-12-34-56"), Route::PxeMac(WEB1));
    assert_eq!(
        r("pxelinux.cfg/01-AA-BB-CC-DD-EE-FF"),
        Route::PxeMac(Mac([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]))
    );
    assert_eq!(
        r("pxelinux.cfg/0A000015"),
        Route::PxeIp(Ipv4Addr::new(10, 0, 0, 21))
    );
    assert_eq!(
        r("pxelinux.cfg/0a000015"),
        Route::PxeIp(Ipv4Addr::new(10, 0, 0, 21))
    );
    assert_eq!(
        r("pxelinux.cfg/0A00001"),
        Route::PxeIpPrefix("0A00001".into())
    );
    assert_eq!(r("pxelinux.cfg/0"), Route::PxeIpPrefix("0".into()));
    assert_eq!(r("pxelinux.cfg/01-zz"), Route::Unknown);
    assert_eq!(r("boot.ipxe"), Route::IpxeChain);
    assert_eq!(r("ipxe/boot.ipxe"), Route::IpxeChain);
    let host = |mac, transport| Route::IpxeHost { mac, transport };
    assert_eq!(r("ipxe/52:54:00:12:34:56.ipxe"), host(Some(WEB1), None));
    assert_eq!(r("ipxe/52-54-00-12-34-56.ipxe"), host(Some(WEB1), None));
    assert_eq!(r("ipxe/525400123456.ipxe"), host(Some(WEB1), None));
    assert_eq!(r("ipxe/default.ipxe"), host(None, None));
    assert_eq!(
        r("ipxe/http/52:54:00:12:34:56.ipxe"),
        host(Some(WEB1), Some(Transport::Http))
    );
    assert_eq!(
        r("ipxe/tftp/default.ipxe"),
        host(None, Some(Transport::Tftp))
    );
    assert_eq!(r("ipxe/nonsense"), Route::Unknown);
    assert_eq!(
        r("/images/deb/boot/vmlinuz"),
        Route::ImageFile {
            image: "deb".into(),
            path: "boot/vmlinuz".into()
        }
    );
    assert_eq!(
        r("/syslinux/ldlinux.c32"),
        Route::Loader {
            path: "syslinux/ldlinux.c32".into()
        }
    );
}
