//! NFS and MOUNT procedures through the `Dispatcher` (no sockets): READDIR cookies, ACCESS,
//! read-only refusals, handles, hard links, group exports, corruption, hostile arguments.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use proptest::prelude::*;

use super::fixture::{call, dispatcher, fixture, Fixture, MANY};
use crate::nfs::mount::{self, MOUNT_PROG};
use crate::nfs::nfs3::{access, procs};
use crate::nfs::portmap::NFS_PROG;
use crate::nfs::rpc::{AcceptStat, AuthUnix};
use crate::nfs::status::*;
use crate::nfs::xdr::{XdrReader, XdrWriter};
use crate::nfs::{decode_post_op_attr, Dispatcher, Fattr3, FileHandle};
use std::sync::atomic::Ordering;

fn root() -> AuthUnix {
    AuthUnix::default()
}

fn nfs(d: &Dispatcher, proc_: u32, args: &[u8]) -> Vec<u8> {
    let (stat, res) = call(d, NFS_PROG, 3, proc_, Some(&root()), args);
    assert_eq!(stat, AcceptStat::Success);
    res
}

fn status(res: &[u8]) -> u32 {
    XdrReader::new(res).u32().unwrap()
}

fn mnt(d: &Dispatcher, path: &str) -> Result<Vec<u8>, u32> {
    let mut a = XdrWriter::new();
    a.opaque(path.as_bytes());
    let (stat, res) = call(d, MOUNT_PROG, 3, mount::procs::MNT, None, &a.into_bytes());
    assert_eq!(stat, AcceptStat::Success);
    mount::decode_mnt_result(&mut XdrReader::new(&res)).unwrap()
}

fn fh_args(fh: &[u8]) -> XdrWriter {
    let mut a = XdrWriter::new();
    a.opaque(fh);
    a
}

fn lookup(d: &Dispatcher, dir: &[u8], name: &str) -> Result<(Vec<u8>, Fattr3), u32> {
    let mut a = fh_args(dir);
    a.opaque(name.as_bytes());
    let res = nfs(d, procs::LOOKUP, &a.into_bytes());
    let mut r = XdrReader::new(&res);
    match r.u32().unwrap() {
        NFS3_OK => {
            let fh = r.opaque(64).unwrap().to_vec();
            let attr = decode_post_op_attr(&mut r).unwrap().unwrap();
            Ok((fh, attr))
        }
        st => Err(st),
    }
}

fn path_fh(d: &Dispatcher, path: &str) -> Vec<u8> {
    let mut fh = mnt(d, "/images/demo").unwrap();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        fh = lookup(d, &fh, part).unwrap().0;
    }
    fh
}

fn shared() -> &'static (Fixture, Dispatcher) {
    static F: OnceLock<(Fixture, Dispatcher)> = OnceLock::new();
    F.get_or_init(|| {
        let fx = fixture();
        let d = dispatcher(&fx);
        (fx, d)
    })
}

/// Page through a directory; returns (name, cookie) pairs and the number of calls.
fn list(d: &Dispatcher, dir: &[u8], plus: bool, count: u32) -> (Vec<(String, u64)>, usize) {
    let mut out = Vec::new();
    let mut cookie = 0u64;
    let mut calls = 0;
    loop {
        calls += 1;
        let mut a = fh_args(dir);
        a.u64(cookie).fixed(&[0; 8]);
        if plus {
            a.u32(count / 4).u32(count);
        } else {
            a.u32(count);
        }
        let proc_ = if plus {
            procs::READDIRPLUS
        } else {
            procs::READDIR
        };
        let res = nfs(d, proc_, &a.into_bytes());
        let mut r = XdrReader::new(&res);
        assert_eq!(r.u32().unwrap(), NFS3_OK);
        decode_post_op_attr(&mut r).unwrap();
        r.fixed(8).unwrap();
        let before = out.len();
        while r.bool().unwrap() {
            let _fileid = r.u64().unwrap();
            let name = String::from_utf8(r.opaque(255).unwrap().to_vec()).unwrap();
            cookie = r.u64().unwrap();
            if plus {
                assert!(decode_post_op_attr(&mut r).unwrap().is_some());
                assert!(r.bool().unwrap());
                r.opaque(64).unwrap();
            }
            out.push((name, cookie));
        }
        assert!(
            res.len() <= count as usize,
            "reply of {} > count {count}",
            res.len()
        );
        if r.bool().unwrap() {
            return (out, calls);
        }
        assert!(out.len() > before, "no progress");
        assert!(calls < 10_000);
    }
}

#[test]
fn readdir_honors_the_cookie_and_lists_each_entry_once() {
    let (fx, d) = shared();
    let many = path_fh(d, "many");
    for plus in [false, true] {
        let (entries, calls) = list(d, &many, plus, 2048);
        assert!(
            calls > 3,
            "the directory must need several replies (plus={plus})"
        );
        let names: Vec<&String> = entries.iter().map(|(n, _)| n).collect();
        let unique: BTreeSet<&String> = names.iter().copied().collect();
        assert_eq!(names.len(), MANY, "plus={plus}");
        assert_eq!(unique.len(), MANY, "plus={plus}");
        let cookies: Vec<u64> = entries.iter().map(|(_, c)| *c).collect();
        assert!(cookies.windows(2).all(|w| w[0] < w[1]));
    }
    // A cookie past the end is refused, never wraps around to the start.
    let mut a = fh_args(&many);
    a.u64(MANY as u64 + 1).fixed(&[0; 8]).u32(4096);
    assert_eq!(
        status(&nfs(d, procs::READDIR, &a.into_bytes())),
        NFS3ERR_BAD_COOKIE
    );
    // Too small for a single entry.
    let mut a = fh_args(&many);
    a.u64(0).fixed(&[0; 8]).u32(120);
    assert_eq!(
        status(&nfs(d, procs::READDIR, &a.into_bytes())),
        NFS3ERR_TOOSMALL
    );
    let root_names: Vec<String> = list(d, &mnt(d, "/images/demo").unwrap(), false, 4096)
        .0
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let want: Vec<String> = fx
        .manifest
        .children(0)
        .map(|(_, e)| e.name().to_string())
        .collect();
    assert_eq!(root_names, want);
}

fn access_of(d: &Dispatcher, fh: &[u8], auth: &AuthUnix) -> u32 {
    let mut a = fh_args(fh);
    a.u32(0x3f);
    let (_, res) = call(d, NFS_PROG, 3, procs::ACCESS, Some(auth), &a.into_bytes());
    let mut r = XdrReader::new(&res);
    assert_eq!(r.u32().unwrap(), NFS3_OK);
    decode_post_op_attr(&mut r).unwrap();
    r.u32().unwrap()
}

#[test]
fn access_grants_execute_for_executables_and_lookup_for_directories() {
    let (_, d) = shared();
    let user = AuthUnix {
        uid: 1000,
        gid: 1000,
        gids: vec![],
    };
    let init = path_fh(d, "bin/init");
    assert_eq!(access_of(d, &init, &root()), access::READ | access::EXECUTE);
    assert_eq!(access_of(d, &init, &user), access::READ | access::EXECUTE);
    let bin = path_fh(d, "bin");
    assert_eq!(access_of(d, &bin, &root()), access::READ | access::LOOKUP);
    let secret = path_fh(d, "secret");
    assert_eq!(access_of(d, &secret, &root()), access::READ);
    assert_eq!(access_of(d, &secret, &user), 0);
}

#[test]
fn every_write_procedure_is_refused_read_only() {
    let fx = fixture();
    let d = dispatcher(&fx);
    let before = fx.store.list().unwrap();
    let root_fh = mnt(&d, "/images/demo").unwrap();
    let write_procs = [
        procs::SETATTR,
        procs::WRITE,
        procs::CREATE,
        procs::MKDIR,
        procs::SYMLINK,
        procs::MKNOD,
        procs::REMOVE,
        procs::RMDIR,
        procs::RENAME,
        procs::LINK,
        procs::COMMIT,
    ];
    for p in write_procs {
        let mut a = fh_args(&root_fh);
        a.opaque(b"new-name").raw(&[0u8; 64]);
        assert_eq!(
            status(&nfs(&d, p, &a.into_bytes())),
            NFS3ERR_ROFS,
            "proc {p}"
        );
    }
    assert_eq!(
        d.counters().rofs_refusals.load(Ordering::Relaxed),
        write_procs.len() as u64
    );
    assert_eq!(fx.store.list().unwrap(), before);
    assert!(lookup(&d, &root_fh, "new-name").is_err());
}

#[test]
fn stale_and_foreign_handles_are_refused() {
    let (fx, d) = shared();
    let digest = fx.manifest.digest();
    let gone = FileHandle::new(999, 0, digest.as_bytes()).encode();
    assert_eq!(
        status(&nfs(d, procs::GETATTR, &fh_args(&gone).into_bytes())),
        NFS3ERR_STALE
    );
    let seq = fx.state.images["demo"].seq;
    let other_cluster = FileHandle::new(seq, 0, &[7; 32]).encode();
    assert_eq!(
        status(&nfs(
            d,
            procs::GETATTR,
            &fh_args(&other_cluster).into_bytes()
        )),
        NFS3ERR_STALE
    );
    let past_end = FileHandle::new(seq, fx.manifest.len() as u64, digest.as_bytes()).encode();
    assert_eq!(
        status(&nfs(d, procs::GETATTR, &fh_args(&past_end).into_bytes())),
        NFS3ERR_STALE
    );
    assert_eq!(
        status(&nfs(d, procs::GETATTR, &fh_args(b"junk").into_bytes())),
        NFS3ERR_BADHANDLE
    );
    assert!(d.counters().stale_handles.load(Ordering::Relaxed) >= 4);
}

#[test]
fn hard_links_share_handle_and_fileid_and_groups_mount_their_active_image() {
    let (fx, d) = shared();
    let root_fh = mnt(d, "/images/demo").unwrap();
    let (a, attr_a) = lookup(d, &root_fh, "data").unwrap();
    let (b, attr_b) = lookup(d, &root_fh, "data.hard").unwrap();
    assert_eq!(a, b);
    assert_eq!(attr_a, attr_b);
    assert_eq!(attr_a.nlink, 2);
    assert_eq!(attr_a.fsid, fx.state.images["demo"].seq);
    assert_eq!(mnt(d, "/groups/web").unwrap(), root_fh);
    assert_eq!(mnt(d, "/images/demo/bin").unwrap(), path_fh(d, "bin"));
    assert_eq!(mnt(d, "/images/nope"), Err(mount::mountstat::NOENT));
    assert_eq!(mnt(d, "/groups/nope"), Err(mount::mountstat::NOENT));
    assert_eq!(mnt(d, "/elsewhere"), Err(mount::mountstat::NOENT));
    // Registered, but its manifest is not on this replica.
    assert_eq!(mnt(d, "/images/other"), Err(mount::mountstat::IO));
    // READLINK and ".."
    let link = lookup(d, &root_fh, "init-link").unwrap().0;
    let res = nfs(d, procs::READLINK, &fh_args(&link).into_bytes());
    let mut r = XdrReader::new(&res);
    assert_eq!(r.u32().unwrap(), NFS3_OK);
    decode_post_op_attr(&mut r).unwrap();
    assert_eq!(r.opaque(1024).unwrap(), b"bin/init");
    let bin = path_fh(d, "bin");
    assert_eq!(lookup(d, &bin, "..").unwrap().0, root_fh);
    assert_eq!(lookup(d, &root_fh, "..").unwrap().0, root_fh);
}

fn read(d: &Dispatcher, fh: &[u8], offset: u64, count: u32) -> Result<(Vec<u8>, bool), u32> {
    let mut a = fh_args(fh);
    a.u64(offset).u32(count);
    let res = nfs(d, procs::READ, &a.into_bytes());
    let mut r = XdrReader::new(&res);
    let st = r.u32().unwrap();
    decode_post_op_attr(&mut r).unwrap();
    if st != NFS3_OK {
        return Err(st);
    }
    let n = r.u32().unwrap();
    let eof = r.bool().unwrap();
    let data = r.opaque(u32::MAX).unwrap().to_vec();
    assert_eq!(n as usize, data.len());
    Ok((data, eof))
}

#[test]
fn reads_are_verified_and_corruption_is_an_io_error() {
    let fx = fixture();
    let d = dispatcher(&fx);
    let fh = path_fh(&d, "data");
    let want = super::fixture::bytes(200_000, 1);
    let (all, eof) = read(&d, &fh, 0, 1 << 20).unwrap();
    assert!(eof);
    assert_eq!(all, want);
    let (tail, eof) = read(&d, &fh, 199_990, 100).unwrap();
    assert_eq!((tail.as_slice(), eof), (&want[199_990..], true));
    assert_eq!(read(&d, &fh, 500_000, 10).unwrap(), (vec![], true));
    assert_eq!(read(&d, &path_fh(&d, "bin"), 0, 10), Err(NFS3ERR_ISDIR));

    let entry = fx.manifest.lookup("data").unwrap().1;
    let path = fx.store.blob_path(&entry.file_digest().unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[70_000] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(read(&d, &fh, 0, 1000).unwrap().0, want[..1000]);
    assert_eq!(read(&d, &fh, 65_536, 10), Err(NFS3ERR_IO));
    assert_eq!(read(&d, &fh, 0, 1 << 20), Err(NFS3ERR_IO));
    assert_eq!(d.counters().errors.load(Ordering::Relaxed), 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn arbitrary_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (_, d) = shared();
        let _ = d.answer(&bytes, 1 << 20);
    }

    #[test]
    fn arbitrary_arguments_never_panic(
        prog in prop_oneof![Just(NFS_PROG), Just(MOUNT_PROG), Just(100_000u32), any::<u32>()],
        vers in 1u32..5, proc_ in 0u32..24,
        args in proptest::collection::vec(any::<u8>(), 0..120),
        real_fh in any::<bool>(),
    ) {
        let (_, d) = shared();
        let mut a = XdrWriter::new();
        if real_fh {
            a.opaque(&mnt(d, "/images/demo").unwrap());
        }
        a.raw(&args);
        let msg = crate::nfs::rpc::encode_call(1, prog, vers, proc_, Some(&root()), &a.into_bytes());
        let _ = d.answer(&msg, 4096);
    }
}

#[test]
fn fsinfo_offers_one_mib_reads_over_tcp_and_fsstat_counts_the_image() {
    let (fx, d) = shared();
    let root_fh = mnt(d, "/images/demo").unwrap();
    let res = nfs(d, procs::FSINFO, &fh_args(&root_fh).into_bytes());
    let mut r = XdrReader::new(&res);
    assert_eq!(r.u32().unwrap(), NFS3_OK);
    decode_post_op_attr(&mut r).unwrap();
    assert_eq!(r.u32().unwrap(), 1 << 20, "rtmax");
    let res = nfs(d, procs::FSSTAT, &fh_args(&root_fh).into_bytes());
    let mut r = XdrReader::new(&res);
    assert_eq!(r.u32().unwrap(), NFS3_OK);
    decode_post_op_attr(&mut r).unwrap();
    assert_eq!(r.u64().unwrap(), fx.manifest.total_file_bytes());
    let res = nfs(d, procs::PATHCONF, &fh_args(&root_fh).into_bytes());
    assert_eq!(status(&res), NFS3_OK);
}
