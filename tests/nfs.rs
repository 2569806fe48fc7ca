//! The NFS service end to end on loopback: real clients (libnfs-utils `nfs-ls`, `nfs-cat`,
//! `nfs-cp`) against the source tree, handle portability across replicas and restarts with
//! a raw client, read-only refusals, corruption, the portmapper over UDP and TCP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod nfs_support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::UdpSocket;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nfs_support::client::{fh, sattr_none, RawClient};
use nfs_support::{disk_snapshot, Image, Server, MANY};
use raftboot::nfs::ftype;
use raftboot::nfs::nfs3::{access, procs};
use raftboot::nfs::portmap::{
    decode_dump_reply, decode_getport_reply, encode_dump_call, encode_getport_call, IPPROTO_TCP,
    IPPROTO_UDP, MOUNT_PROG, NFS_PROG,
};
use raftboot::nfs::rpc::{frame_record, RecordReader};
use raftboot::nfs::status::{NFS3ERR_IO, NFS3ERR_NOENT, NFS3ERR_ROFS, NFS3ERR_STALE};

fn have_libnfs() -> bool {
    Command::new("nfs-ls").arg("--usage").output().is_ok()
}

/// What `nfs-ls -l` prints for a mode: type letter and rwx bits.
fn ls_mode(meta: &fs::Metadata) -> String {
    let ft = meta.file_type();
    let t = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else {
        '-'
    };
    let m = meta.permissions().mode();
    let mut s = String::from(t);
    for shift in [6, 3, 0] {
        let b = (m >> shift) & 7;
        s.push(if b & 4 != 0 { 'r' } else { '-' });
        s.push(if b & 2 != 0 { 'w' } else { '-' });
        s.push(if b & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// Walk the source tree: relative path -> metadata.
fn source_entries(root: &Path) -> BTreeMap<String, fs::Metadata> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            if meta.is_dir() {
                stack.push(p);
            }
            out.insert(rel, meta);
        }
    }
    out
}

fn subdirs(root: &Path, rel: &str) -> u64 {
    fs::read_dir(root.join(rel))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
        .count() as u64
}

fn nfs_cat(srv: &Server, rel: &str) -> std::process::Output {
    Command::new("nfs-cat")
        .arg(srv.url(&format!("/images/demo/{rel}")))
        .output()
        .unwrap()
}

#[test]
fn real_clients_list_and_read_the_image_like_the_source_tree() {
    if !have_libnfs() {
        panic!("libnfs-utils is not installed (scripts/test-all.sh installs it)");
    }
    let img = Image::build();
    let srv = Server::start(&img.state, &img.store_dir);
    let src = source_entries(&img.src);

    for export in ["/images/demo", "/groups/web"] {
        let out = Command::new("nfs-ls")
            .arg("-R")
            .arg(srv.url(export))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 6, "unexpected nfs-ls line {line:?}");
            seen.entry(f[5].to_string())
                .or_default()
                .push(line.to_string());
        }
        // Every entry exactly once, including all 5,000 of the large directory.
        assert!(seen.values().all(|v| v.len() == 1), "listed twice");
        assert_eq!(
            seen.keys().filter(|k| k.starts_with("many/")).count(),
            MANY,
            "large directory"
        );
        assert_eq!(
            seen.keys().collect::<BTreeSet<_>>(),
            src.keys().collect::<BTreeSet<_>>()
        );
        for (rel, meta) in &src {
            let f: Vec<String> = seen[rel][0].split_whitespace().map(String::from).collect();
            assert_eq!(f[0], ls_mode(meta), "{rel} mode");
            let nlink = if meta.is_dir() {
                2 + subdirs(&img.src, rel)
            } else {
                meta.nlink()
            };
            assert_eq!(f[1], nlink.to_string(), "{rel} nlink");
            assert_eq!(f[2], meta.uid().to_string(), "{rel} uid");
            assert_eq!(f[3], meta.gid().to_string(), "{rel} gid");
            let size = if meta.is_dir() { 0 } else { meta.len() };
            assert_eq!(f[4], size.to_string(), "{rel} size");
        }
    }

    // Content: every file outside the large directory, a sample inside it, and through
    // the symlink (whose target libnfs resolves on the server's tree).
    let mut files: Vec<&String> = src
        .iter()
        .filter(|(k, m)| m.is_file() && !k.starts_with("many/"))
        .map(|(k, _)| k)
        .collect();
    let sample: Vec<String> = (0..MANY)
        .step_by(997)
        .map(|i| format!("many/entry-{i:05}"))
        .collect();
    files.extend(sample.iter());
    for rel in files {
        let out = nfs_cat(&srv, rel);
        assert!(
            out.status.success(),
            "nfs-cat {rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = fs::read(img.src.join(rel)).unwrap();
        assert_eq!(
            blake3::hash(&out.stdout),
            blake3::hash(&want),
            "{rel} content"
        );
    }
    // (libnfs mounts the file's directory, so the link stays inside it.)
    let out = nfs_cat(&srv, "etc/hostname-link");
    assert_eq!(out.stdout, b"demo\n", "content through the symlink");

    // nfs-cp of the 1 MiB+ file.
    let local = img.dir.path().join("big.copy");
    let out = Command::new("nfs-cp")
        .arg(srv.url("/images/demo/var/big.bin"))
        .arg(&local)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read(&local).unwrap(),
        fs::read(img.src.join("var/big.bin")).unwrap()
    );
    assert!(srv.counters.reads.load(Ordering::Relaxed) > 0);
}

#[test]
fn handles_are_portable_across_replicas_and_restarts_and_writes_are_refused() {
    let img = Image::build();
    let store_b = img.copy_store("store-b");
    let store_c = img.copy_store("store-c");
    let mut a = Server::start(&img.state, &img.store_dir);
    let b = Server::start(&img.state, &store_b);
    let c = Server::start(&img.state, &store_c);

    // Handles from replica A.
    let mut ca = RawClient::connect(a.nfs);
    let root = ca.mnt("/images/demo").unwrap();
    assert_eq!(ca.mnt("/groups/web").unwrap(), root);
    let init = ca.walk(&root, "sbin/init");
    let big = ca.walk(&root, "var/big.bin");
    let su = ca.walk(&root, "bin/su");
    let link = ca.walk(&root, "bin/hostname-link");
    let etc = ca.walk(&root, "etc");
    assert_eq!(
        ca.walk(&root, "etc/hostname.hard"),
        ca.walk(&root, "etc/hostname")
    );
    let want_init = fs::read(img.src.join("sbin/init")).unwrap();
    let want_big = fs::read(img.src.join("var/big.bin")).unwrap();
    let attrs_a: Vec<_> = [&root, &init, &big, &su, &link]
        .iter()
        .map(|h| ca.getattr(h).unwrap())
        .collect();
    assert_eq!(attrs_a[2].size, want_big.len() as u64);
    assert_eq!(attrs_a[3].mode, 0o4755, "setuid bit kept");
    assert_eq!(attrs_a[4].ftype, ftype::LNK);
    assert_eq!(attrs_a[0].fsid, img.state.images["demo"].seq);

    // The same handle bytes work unchanged on B, C and on A after a restart.
    a.stop();
    let a2 = Server::start(&img.state, &img.store_dir);
    for srv in [&b, &c, &a2] {
        let mut cl = RawClient::connect(srv.nfs);
        assert_eq!(
            cl.mnt("/images/demo").unwrap(),
            root,
            "same root handle everywhere"
        );
        assert_eq!(
            cl.lookup(&root, "sbin").unwrap(),
            ca_lookup_bytes(&img, "sbin")
        );
        assert_eq!(cl.read_all(&init, 4096).unwrap(), want_init);
        assert_eq!(cl.read_all(&big, 1 << 20).unwrap(), want_big);
        let attrs: Vec<_> = [&root, &init, &big, &su, &link]
            .iter()
            .map(|h| cl.getattr(h).unwrap())
            .collect();
        assert_eq!(attrs, attrs_a, "identical attributes");
        assert_eq!(cl.readlink(&link).unwrap(), "../etc/hostname");
        // ACCESS: an executable can be executed (a client can run /sbin/init), never written.
        let all = 0x3f;
        let got = cl.access(&init, all).unwrap();
        assert_eq!(got, access::READ | access::EXECUTE);
        assert_eq!(cl.access(&etc, all).unwrap(), access::READ | access::LOOKUP);
        assert_eq!(cl.access(&big, all).unwrap(), access::READ);
    }

    // Every write operation is NFS3ERR_ROFS and nothing on disk changes.
    let before = (disk_snapshot(&store_b), disk_snapshot(&img.src));
    let mut cb = RawClient::connect(b.nfs);
    let name = |w: &mut raftboot::nfs::xdr::XdrWriter, n: &str| {
        w.opaque(n.as_bytes());
    };
    let mut write = fh(&big);
    write.u64(0).u32(5).u32(2).opaque(b"hello");
    let mut create = fh(&etc);
    name(&mut create, "new");
    create.u32(0);
    sattr_none(&mut create);
    let mut setattr = fh(&big);
    setattr
        .bool(true)
        .u32(0o777)
        .bool(false)
        .bool(false)
        .bool(true)
        .u64(0)
        .u32(0)
        .u32(0);
    setattr.bool(false);
    let mut remove = fh(&etc);
    name(&mut remove, "hostname");
    let mut rmdir = fh(&root);
    name(&mut rmdir, "etc");
    let mut rename = fh(&etc);
    name(&mut rename, "hostname");
    rename.opaque(&etc);
    name(&mut rename, "renamed");
    let mut mkdir = fh(&etc);
    name(&mut mkdir, "newdir");
    sattr_none(&mut mkdir);
    let mut symlink = fh(&etc);
    name(&mut symlink, "newlink");
    sattr_none(&mut symlink);
    symlink.opaque(b"hostname");
    let mut link_args = fh(&big);
    link_args.opaque(&etc);
    name(&mut link_args, "newhard");
    let mut mknod = fh(&etc);
    name(&mut mknod, "fifo");
    mknod.u32(ftype::FIFO);
    sattr_none(&mut mknod);
    let mut commit = fh(&big);
    commit.u64(0).u32(0);
    let ops = [
        ("WRITE", procs::WRITE, write),
        ("CREATE", procs::CREATE, create),
        ("SETATTR", procs::SETATTR, setattr),
        ("REMOVE", procs::REMOVE, remove),
        ("RMDIR", procs::RMDIR, rmdir),
        ("RENAME", procs::RENAME, rename),
        ("MKDIR", procs::MKDIR, mkdir),
        ("SYMLINK", procs::SYMLINK, symlink),
        ("LINK", procs::LINK, link_args),
        ("MKNOD", procs::MKNOD, mknod),
        ("COMMIT", procs::COMMIT, commit),
    ];
    let n = ops.len() as u64;
    for (what, p, args) in ops {
        assert_eq!(cb.status(p, args), NFS3ERR_ROFS, "{what}");
    }
    assert_eq!(b.counters.rofs_refusals.load(Ordering::Relaxed), n);
    for gone in ["new", "newdir", "newlink", "newhard", "fifo", "renamed"] {
        assert_eq!(cb.lookup(&etc, gone), Err(NFS3ERR_NOENT), "{gone}");
    }
    assert_eq!(cb.read_all(&big, 1 << 20).unwrap(), want_big);
    assert_eq!((disk_snapshot(&store_b), disk_snapshot(&img.src)), before);

    // A replica whose state no longer has the image answers STALE, not another file.
    let mut gone = img.state.clone();
    gone.groups.clear();
    gone.images.remove("demo");
    let d = Server::start(&gone, &store_c);
    let mut cd = RawClient::connect(d.nfs);
    assert_eq!(cd.getattr(&root), Err(NFS3ERR_STALE));
    assert_eq!(cd.read(&big, 0, 10), Err(NFS3ERR_STALE));
    assert_eq!(d.counters.stale_handles.load(Ordering::Relaxed), 2);
}

/// The handle of a top-level name as replica-independent bytes: computed from the
/// manifest alone (image seq + index), no server involved.
fn ca_lookup_bytes(img: &Image, name: &str) -> Vec<u8> {
    let (index, _) = img.manifest.lookup(name).unwrap();
    let seq = img.state.images["demo"].seq;
    raftboot::nfs::FileHandle::new(seq, index as u64, img.manifest.digest().as_bytes())
        .encode()
        .to_vec()
}

#[test]
fn a_corrupted_blob_is_an_io_error_never_the_bad_bytes() {
    let img = Image::build();
    let bad = img.copy_store("store-bad");
    let entry = img.manifest.lookup("var/big.bin").unwrap().1;
    let store = raftboot::cas::BlobStore::open(&bad).unwrap();
    let path = store.blob_path(&entry.file_digest().unwrap());
    let mut bytes = fs::read(&path).unwrap();
    bytes[300_000] ^= 0x55;
    fs::write(&path, &bytes).unwrap();
    drop(store);
    let srv = Server::start(&img.state, &bad);
    let want = fs::read(img.src.join("var/big.bin")).unwrap();
    let mut cl = RawClient::connect(srv.nfs);
    let root = cl.mnt("/images/demo").unwrap();
    let big = cl.walk(&root, "var/big.bin");
    // Chunks before the damage still read correctly; any read touching it is refused.
    assert_eq!(cl.read(&big, 0, 4096).unwrap().0, want[..4096]);
    assert_eq!(cl.read(&big, 299_990, 20), Err(NFS3ERR_IO));
    assert_eq!(cl.read(&big, 262_144, 65_536), Err(NFS3ERR_IO));
    assert_eq!(cl.read_all(&big, 1 << 20), Err(NFS3ERR_IO));
    assert!(srv.counters.errors.load(Ordering::Relaxed) >= 3);
    if have_libnfs() {
        let out = Command::new("nfs-cat")
            .arg(srv.url("/images/demo/var/big.bin"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "nfs-cat must fail on corrupt data");
        assert!(out.stdout.len() < 300_000, "no bytes past the damage");
        assert_eq!(out.stdout[..], want[..out.stdout.len()], "only good bytes");
    }
}

#[test]
fn the_portmapper_answers_over_udp_and_tcp_and_bad_input_is_a_counted_drop() {
    let img = Image::build_small();
    let srv = Server::start(&img.state, &img.store_dir);
    let nfs_port = u32::from(srv.nfs.port());
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let ask = |msg: &[u8], to| {
        let mut buf = [0u8; 65536];
        udp.send_to(msg, to).unwrap();
        let (n, _) = udp.recv_from(&mut buf).unwrap();
        buf[..n].to_vec()
    };
    let mut buf = [0u8; 65536];
    // klibc nfsmount: GETPORT(MOUNT v3) over UDP.
    for (xid, prog, prot) in [
        (1, MOUNT_PROG, IPPROTO_UDP),
        (2, MOUNT_PROG, IPPROTO_TCP),
        (3, NFS_PROG, IPPROTO_TCP),
        (4, NFS_PROG, IPPROTO_UDP),
    ] {
        let r = ask(&encode_getport_call(xid, prog, 3, prot), srv.portmap);
        assert_eq!(decode_getport_reply(&r).unwrap(), (xid, nfs_port));
    }
    let (_, maps) = decode_dump_reply(&ask(&encode_dump_call(9), srv.portmap)).unwrap();
    assert_eq!(maps.len(), 6);

    // Garbage datagram: no reply, counted; the next call is still answered.
    udp.send_to(b"\x00\x01garbage", srv.portmap).unwrap();
    let r = ask(
        &encode_getport_call(5, MOUNT_PROG, 3, IPPROTO_UDP),
        srv.portmap,
    );
    assert_eq!(decode_getport_reply(&r).unwrap(), (5, nfs_port));
    assert_eq!(srv.counters.bad_rpc.load(Ordering::Relaxed), 1);

    // GETPORT over TCP.
    let mut tcp = std::net::TcpStream::connect(srv.portmap).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    use std::io::{Read, Write};
    tcp.write_all(&frame_record(&encode_getport_call(
        6,
        NFS_PROG,
        3,
        IPPROTO_TCP,
    )))
    .unwrap();
    let mut rr = RecordReader::new(1 << 16);
    let reply = loop {
        if let Some(r) = rr.next_record().unwrap() {
            break r;
        }
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0);
        rr.push(&buf[..n]);
    };
    assert_eq!(decode_getport_reply(&reply).unwrap(), (6, nfs_port));

    // MOUNT over UDP on the NFS port, as a UDP-only mount client would do it.
    let mut args = raftboot::nfs::xdr::XdrWriter::new();
    args.opaque(b"/images/demo");
    let msg = raftboot::nfs::rpc::encode_call(7, MOUNT_PROG, 3, 1, None, &args.into_bytes());
    let r = ask(&msg, srv.nfs);
    let h = raftboot::nfs::rpc::decode_reply(&r).unwrap();
    let mut rd = raftboot::nfs::xdr::XdrReader::new(&r[h.results_at..]);
    let fh_udp = raftboot::nfs::mount::decode_mnt_result(&mut rd)
        .unwrap()
        .unwrap();
    let mut cl = RawClient::connect(srv.nfs);
    assert_eq!(cl.mnt("/images/demo").unwrap(), fh_udp);

    // An oversized record closes that connection only; garbage calls get no reply.
    let mut evil = RawClient::connect(srv.nfs);
    evil.send_raw(&0xffff_ffffu32.to_be_bytes());
    let mut s = std::net::TcpStream::connect(srv.nfs).unwrap();
    s.write_all(&frame_record(b"\x00\x00\x00\x01\x00\x00\x00\x01"))
        .unwrap(); // a "reply"
    drop(s);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while srv.counters.bad_rpc.load(Ordering::Relaxed) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "bad input not counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        cl.mnt("/images/demo").unwrap(),
        fh_udp,
        "server still serves"
    );
}
