//! TFTP with real clients (tftp-hpa, curl, atftp) against the read-only server on
//! loopback: byte-identical files for every block and window size, generated configs,
//! refused traversal and writes, corrupt blobs never served, boot stages tracked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod boot_fixture;

use std::net::{IpAddr, Ipv4Addr};

use boot_fixture::{run, text, Server, WEB1};
use raftboot::bootcfg::Stage;
use raftboot::bootfiles::BootKey;

fn tftp_hpa(s: &Server, args: &[&str]) -> std::process::Output {
    let port = s.tftp.port().to_string();
    let mut a = vec!["-m", "binary", "127.0.0.1", port.as_str(), "-c"];
    a.extend_from_slice(args);
    run("tftp", &a)
}

fn curl_tftp(s: &Server, path: &str, blksize: u32, out: &std::path::Path) -> std::process::Output {
    let url = format!("tftp://127.0.0.1:{}{path}", s.tftp.port());
    run(
        "curl",
        &[
            "-sS",
            "--path-as-is",
            "--max-time",
            "60",
            "--tftp-blksize",
            &blksize.to_string(),
            &url,
            "-o",
            out.to_str().unwrap(),
        ],
    )
}

fn atftp_get(s: &Server, path: &str, opts: &[&str], out: &std::path::Path) -> std::process::Output {
    let port = s.tftp.port().to_string();
    let mut a: Vec<&str> = Vec::new();
    for o in opts {
        a.extend_from_slice(&["--option", o]);
    }
    a.extend_from_slice(&[
        "-g",
        "-r",
        path,
        "-l",
        out.to_str().unwrap(),
        "127.0.0.1",
        &port,
    ]);
    run("atftp", &a)
}

#[test]
fn tftp_hpa_fetches_loaders_kernel_and_config() {
    let s = Server::start();
    for (remote, want) in [
        ("/pxelinux.0", &s.pxelinux),
        ("ldlinux.c32", &s.ldlinux),
        ("/images/deb/vmlinuz", &s.kernel),
        ("images/deb/initrd.img", &s.initrd),
    ] {
        let out = s.out("hpa.bin");
        let _ = std::fs::remove_file(&out);
        let o = tftp_hpa(&s, &["get", remote, out.to_str().unwrap()]);
        let got = std::fs::read(&out).unwrap_or_default();
        assert!(
            got == *want,
            "{remote}: {} of {} bytes\n{}",
            got.len(),
            want.len(),
            text(&o)
        );
    }
    let out = s.out("cfg");
    let o = tftp_hpa(
        &s,
        &[
            "get",
            "pxelinux.cfg/01-52-54-00-12-34-56",
            out.to_str().unwrap(),
        ],
    );
    let cfg = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        cfg.contains("KERNEL images/deb/vmlinuz\n"),
        "{cfg}\n{}",
        text(&o)
    );
    assert!(cfg.contains(
        "APPEND initrd=images/deb/initrd.img boot=nfs root=/dev/nfs \
         nfsroot=127.0.0.1:/groups/web ip=dhcp ro console=ttyS0\n"
    ));
    assert!(cfg.contains("IPAPPEND 2"));
    // Loader and kernel were fetched from 127.0.0.1 (no host there); the config names
    // the MAC.
    let by_ip = s.stages_of(BootKey::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(by_ip, vec![Stage::Loader, Stage::Kernel, Stage::Initrd]);
    assert_eq!(s.stages_of(BootKey::Mac(WEB1)), vec![Stage::Config]);
    let st = s.tftp_settled();
    assert_eq!((st.requests, st.completed), (5, 5), "{st:?}");
    let want = (s.pxelinux.len() + s.ldlinux.len() + s.kernel.len() + s.initrd.len()) as u64;
    assert_eq!(st.bytes, want + cfg.len() as u64);
}

#[test]
fn curl_fetches_byte_identical_files_at_every_block_size() {
    let s = Server::start();
    for blksize in [512u32, 1468, 65464] {
        let out = s.out(&format!("curl-{blksize}"));
        let o = curl_tftp(&s, "/images/deb/vmlinuz", blksize, &out);
        assert!(o.status.success(), "blksize {blksize}: {}", text(&o));
        assert!(
            std::fs::read(&out).unwrap() == s.kernel,
            "blksize {blksize}"
        );
    }
    // A file that is an exact multiple of 512 (3 MiB) and one that is not.
    let out = s.out("initrd");
    let o = curl_tftp(&s, "/images/deb/initrd.img", 1468, &out);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read(&out).unwrap() == s.initrd);
}

#[test]
fn atftp_windowsize_transfers_are_byte_identical() {
    let s = Server::start();
    for opts in [
        &["windowsize 16"][..],
        &["windowsize 16", "blksize 1468"],
        &["windowsize 8", "blksize 8192", "tsize 0"],
        &["windowsize 4", "blksize 512"],
        &["blksize 1468", "timeout 2"],
    ] {
        let out = s.out("atftp.bin");
        let _ = std::fs::remove_file(&out);
        let o = atftp_get(&s, "/images/deb/vmlinuz", opts, &out);
        let got = std::fs::read(&out).unwrap_or_default();
        assert!(
            got == s.kernel,
            "{opts:?}: {} bytes\n{}",
            got.len(),
            text(&o)
        );
    }
    // The first download read and verified the kernel's chunks from disk; the later ones
    // were served from the store's chunk cache.
    let cache = s.store.chunk_cache();
    let chunks = (s.kernel.len() as u64).div_ceil(64 << 10);
    let (hits, misses) = (
        cache.hits.load(std::sync::atomic::Ordering::Relaxed),
        cache.misses.load(std::sync::atomic::Ordering::Relaxed),
    );
    assert_eq!(misses, chunks, "hits {hits}");
    assert!(hits >= 4 * chunks, "hits {hits}, misses {misses}");
}

#[test]
fn traversal_and_writes_are_refused() {
    let s = Server::start();
    let before = s.tftp_settled();
    let out = s.out("passwd");
    for remote in [
        "../../etc/passwd",
        "/images/deb/../../../etc/passwd",
        "..\\..\\etc\\passwd",
    ] {
        let o = tftp_hpa(&s, &["get", remote, out.to_str().unwrap()]);
        let err = text(&o);
        assert!(
            err.contains("Access violation") || err.contains("Permission denied"),
            "{remote}: {err}"
        );
        assert!(
            std::fs::read(&out).unwrap_or_default().is_empty(),
            "{remote}"
        );
    }
    let o = curl_tftp(&s, "/../../etc/passwd", 512, &out);
    assert!(!o.status.success(), "{}", text(&o));
    let after = s.tftp_settled();
    assert_eq!(
        after.traversal_refused - before.traversal_refused,
        4,
        "{after:?}"
    );

    let o = tftp_hpa(&s, &["get", "/no/such/file", out.to_str().unwrap()]);
    assert!(
        text(&o).contains("not found") || text(&o).contains("File not found"),
        "{}",
        text(&o)
    );
    assert_eq!(s.tftp_settled().not_found, after.not_found + 1);

    let src = s.out("upload");
    std::fs::write(&src, b"evil").unwrap();
    let o = tftp_hpa(&s, &["put", src.to_str().unwrap(), "pxelinux.0"]);
    let err = text(&o);
    assert!(
        err.contains("Access violation") || err.contains("Permission denied"),
        "{err}"
    );
    let url = format!("tftp://127.0.0.1:{}/uploaded", s.tftp.port());
    let o = run(
        "curl",
        &["-sS", "--max-time", "20", "-T", src.to_str().unwrap(), &url],
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(s.tftp_settled().write_refused, 2);
    // The loader is unchanged.
    let got = s.out("pxe");
    tftp_hpa(&s, &["get", "pxelinux.0", got.to_str().unwrap()]);
    assert!(std::fs::read(&got).unwrap() == s.pxelinux);
}

#[test]
fn corrupt_blob_is_never_served_and_is_quarantined() {
    let s = Server::start();
    let digest = Server::digest_of(&s.config_blob);
    let path = s.store.blob_path(&digest);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[200_000] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let out = s.out("config");
    let o = curl_tftp(&s, "/images/deb/boot/config-6.1.0-test-amd64", 1468, &out);
    assert!(!o.status.success(), "{}", text(&o));
    let got = std::fs::read(&out).unwrap_or_default();
    // Only verified chunks before the bad one may have been sent.
    assert!(
        got.len() < 200_000 && s.config_blob.starts_with(&got),
        "{} bytes",
        got.len()
    );
    assert_eq!(s.tftp_settled().corrupt, 1);
    assert_eq!(s.store.quarantined().unwrap(), vec![digest]);
    // Now the blob is gone: the file is unavailable until the replicator re-fetches it.
    let o = tftp_hpa(
        &s,
        &[
            "get",
            "/images/deb/boot/config-6.1.0-test-amd64",
            out.to_str().unwrap(),
        ],
    );
    assert!(text(&o).contains("not on this node"), "{}", text(&o));
    assert_eq!(s.tftp_settled().unavailable, 1);
}

#[test]
fn malformed_requests_are_counted_and_do_not_stop_clients() {
    use raftboot::tftp::packet::Request;
    use rand::{Rng, SeedableRng};
    let s = Server::start();
    let seed: u64 = rand::random();
    eprintln!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut bad = 0;
    for i in 0..300 {
        let len = rng.gen_range(0..1200);
        let mut b: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        // Some near-misses: a read opcode with junk after it.
        if i % 3 == 0 && b.len() >= 2 {
            b[0] = 0;
            b[1] = 1;
        }
        match Request::decode(&b) {
            Err(_) => bad += 1,
            // A datagram that happens to decode is a real request: skip it, it would
            // start a transfer to this socket.
            Ok(_) => continue,
        }
        sock.send_to(&b, s.tftp).unwrap();
        // Paced, so the socket's receive buffer never overflows (bounded wait).
        if bad % 20 == 0 {
            for _ in 0..1000 {
                if s.tftp_stats.snapshot().malformed == bad {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
    let out = s.out("after-garbage");
    let o = tftp_hpa(&s, &["get", "/pxelinux.0", out.to_str().unwrap()]);
    assert!(
        std::fs::read(&out).unwrap_or_default() == s.pxelinux,
        "{}",
        text(&o)
    );
    let st = s.tftp_settled();
    assert_eq!(st.malformed, bad, "{st:?}");
    assert_eq!((st.requests, st.completed), (1, 1), "{st:?}");
}
