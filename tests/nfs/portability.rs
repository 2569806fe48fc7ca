//! Handles from one replica work unchanged on others and after a restart; ACCESS; every
//! write operation is refused and changes nothing; a corrupted blob is an I/O error.

use std::fs;
use std::process::Command;
use std::sync::atomic::Ordering;

use raftboot::nfs::ftype;
use raftboot::nfs::nfs3::{access, procs};
use raftboot::nfs::status::{NFS3ERR_IO, NFS3ERR_NOENT, NFS3ERR_ROFS, NFS3ERR_STALE};

use crate::have_libnfs;
use crate::nfs_support::client::{fh, sattr_none, RawClient};
use crate::nfs_support::{disk_snapshot, Image, Server};

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
