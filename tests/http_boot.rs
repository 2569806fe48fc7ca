//! HTTP boot with curl against the boot-file router on loopback: whole files, ranges,
//! ETag = blob digest, conditional requests, generated iPXE scripts, refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod boot_fixture;

use boot_fixture::{run, text, Server};

/// `curl` a path; returns (status, headers, body).
fn curl(s: &Server, path: &str, extra: &[&str]) -> (u16, String, Vec<u8>) {
    let url = format!("http://127.0.0.1:{}{path}", s.http.port());
    let body = s.out("body");
    let hdrs = s.out("headers");
    let _ = std::fs::remove_file(&body);
    let mut a = vec![
        "-sS",
        "--path-as-is",
        "--max-time",
        "30",
        "-o",
        body.to_str().unwrap(),
        "-D",
        hdrs.to_str().unwrap(),
        "-w",
        "%{http_code}",
    ];
    a.extend_from_slice(extra);
    a.push(&url);
    let o = run("curl", &a);
    let code = String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(code != 0, "{}", text(&o));
    let h = std::fs::read_to_string(&hdrs)
        .unwrap_or_default()
        .to_ascii_lowercase();
    (code, h, std::fs::read(&body).unwrap_or_default())
}

#[test]
fn whole_files_and_etag_is_the_blob_digest() {
    let s = Server::start();
    let (code, h, body) = curl(&s, "/images/deb/vmlinuz", &[]);
    assert_eq!(code, 200);
    assert!(body == s.kernel);
    let etag = format!("etag: \"{}\"", Server::digest_of(&s.kernel));
    assert!(h.contains(&etag), "{h}");
    assert!(
        h.contains(&format!("content-length: {}", s.kernel.len())),
        "{h}"
    );
    assert!(h.contains("accept-ranges: bytes"));
    let (code, _, body) = curl(&s, "/pxelinux.0", &[]);
    assert_eq!((code, body == s.pxelinux), (200, true));
    // HEAD: headers only.
    let (code, h, body) = curl(&s, "/images/deb/initrd.img", &["-I"]);
    assert_eq!(code, 200);
    assert!(
        h.contains(&format!("content-length: {}", s.initrd.len())),
        "{h}"
    );
    assert!(body.is_empty() || body.starts_with(b"HTTP/"));
    // If-None-Match with the digest: 304.
    let inm = format!("If-None-Match: \"{}\"", Server::digest_of(&s.kernel));
    let (code, _, body) = curl(&s, "/images/deb/vmlinuz", &["-H", &inm]);
    assert_eq!((code, body.len()), (304, 0));
}

#[test]
fn range_requests_return_the_right_slice() {
    let s = Server::start();
    let k = &s.kernel;
    let n = k.len();
    let (code, h, body) = curl(&s, "/images/deb/vmlinuz", &["-r", "1000-1999"]);
    assert_eq!(code, 206);
    assert!(body == k[1000..2000]);
    assert!(
        h.contains(&format!("content-range: bytes 1000-1999/{n}")),
        "{h}"
    );
    // Across chunk and read-step boundaries.
    let (code, _, body) = curl(&s, "/images/deb/vmlinuz", &["-r", "65530-600000"]);
    assert_eq!(code, 206);
    assert!(body == k[65530..600_001]);
    let (code, _, body) = curl(&s, "/images/deb/vmlinuz", &["-r", "-100"]);
    assert_eq!((code, body == k[n - 100..]), (206, true));
    let (code, _, body) = curl(&s, "/images/deb/vmlinuz", &["-r", &format!("{}-", n - 10)]);
    assert_eq!((code, body == k[n - 10..]), (206, true));
    let (code, h, _) = curl(&s, "/images/deb/vmlinuz", &["-r", &format!("{n}-")]);
    assert_eq!(code, 416);
    assert!(h.contains(&format!("content-range: bytes */{n}")), "{h}");
    // If-Range with another validator: the whole file.
    let (code, _, body) = curl(
        &s,
        "/images/deb/vmlinuz",
        &["-r", "0-9", "-H", "If-Range: \"x\""],
    );
    assert_eq!((code, body.len()), (200, n));
}

#[test]
fn generated_scripts_and_configs_over_http() {
    let s = Server::start();
    let (code, h, body) = curl(&s, "/ipxe/52-54-00-12-34-56.ipxe", &[]);
    let t = String::from_utf8(body).unwrap();
    assert_eq!(code, 200);
    assert!(h.contains("cache-control: no-store"), "{h}");
    let base = format!("http://127.0.0.1:{}/images/deb", s.http.port());
    assert!(
        t.contains(&format!("kernel {base}/vmlinuz initrd=initrd.img boot=nfs")),
        "{t}"
    );
    assert!(t.contains(&format!(
        "initrd --name initrd.img {base}/initrd.img || goto raftboot_wait"
    )));
    // The URLs in the script work.
    let (code, _, body) = curl(&s, "/images/deb/vmlinuz", &[]);
    assert_eq!((code, body == s.kernel), (200, true));
    let (code, _, body) = curl(&s, "/boot.ipxe", &[]);
    assert_eq!(code, 200);
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("chain --autofree /ipxe/${mac:hexhyp}.ipxe"));
    let (code, _, body) = curl(&s, "/pxelinux.cfg/01-52-54-00-12-34-56", &[]);
    assert_eq!(code, 200);
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("nfsroot=127.0.0.1:/groups/web"));
}

#[test]
fn refusals_have_the_right_status_and_are_counted() {
    let s = Server::start();
    assert_eq!(curl(&s, "/nothing/here", &[]).0, 404);
    assert_eq!(curl(&s, "/pxelinux.cfg/01-00-00-00-00-00-01", &[]).0, 404);
    assert_eq!(curl(&s, "/../../etc/passwd", &[]).0, 400);
    assert_eq!(curl(&s, "/images/deb/%2e%2e/%2e%2e/etc/passwd", &[]).0, 400);
    assert_eq!(curl(&s, "/a%00b", &[]).0, 400);
    assert_eq!(curl(&s, "/bad%zzescape", &[]).0, 400);
    assert_eq!(curl(&s, "/pxelinux.0", &["-X", "PUT", "-d", "x"]).0, 405);
    assert_eq!(curl(&s, "/pxelinux.0", &["-X", "DELETE"]).0, 405);
    let st = s.http_stats.snapshot();
    assert_eq!(
        (st.not_found, st.traversal_refused, st.write_refused),
        (2, 4, 2),
        "{st:?}"
    );
    let (_, _, body) = curl(&s, "/pxelinux.0", &[]);
    assert!(body == s.pxelinux);
}

#[test]
fn corrupt_blob_is_a_500_and_quarantined() {
    let s = Server::start();
    let digest = Server::digest_of(&s.config_blob);
    let path = s.store.blob_path(&digest);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let (code, _, body) = curl(&s, "/images/deb/boot/config-6.1.0-test-amd64", &[]);
    assert_eq!(code, 500);
    assert!(!body
        .windows(16)
        .any(|w| s.config_blob.windows(16).next() == Some(w)));
    assert_eq!(s.http_stats.snapshot().corrupt, 1);
    assert_eq!(s.store.quarantined().unwrap(), vec![digest]);
    assert_eq!(
        curl(&s, "/images/deb/boot/config-6.1.0-test-amd64", &[]).0,
        503
    );
}
