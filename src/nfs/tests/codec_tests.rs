//! XDR, RPC, record marking and portmapper codecs: round trips, and arbitrary bytes never
//! panic.

use proptest::prelude::*;

use crate::nfs::portmap::{
    decode_dump_reply, decode_getport_reply, encode_dump_call, encode_getport_call, PortmapOutcome,
    PortmapTable, IPPROTO_TCP, IPPROTO_UDP, MOUNT_PROG, NFS_PROG, PMAP_PROG,
};
use crate::nfs::rpc::{
    decode_call, decode_reply, encode_call, frame_record, AcceptStat, AuthUnix, RecordReader,
    RpcError,
};
use crate::nfs::xdr::{XdrReader, XdrWriter};

fn reply(outcome: PortmapOutcome) -> Vec<u8> {
    match outcome {
        PortmapOutcome::Reply(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

#[test]
fn getport_answers_nfs_and_mount_on_both_protocols() {
    let t = PortmapTable::new(2049, 111);
    for (prog, prot, want) in [
        (MOUNT_PROG, IPPROTO_UDP, 2049),
        (MOUNT_PROG, IPPROTO_TCP, 2049),
        (NFS_PROG, IPPROTO_TCP, 2049),
        (NFS_PROG, IPPROTO_UDP, 2049),
        (PMAP_PROG, IPPROTO_UDP, 111),
        (100_021, IPPROTO_UDP, 0), // NLM: not served
    ] {
        let vers = if prog == PMAP_PROG { 2 } else { 3 };
        let r = reply(t.answer(&encode_getport_call(9, prog, vers, prot)));
        assert_eq!(
            decode_getport_reply(&r).unwrap(),
            (9, want),
            "prog {prog} prot {prot}"
        );
    }
    // MOUNT v1 is not served.
    let r = reply(t.answer(&encode_getport_call(1, MOUNT_PROG, 1, IPPROTO_UDP)));
    assert_eq!(decode_getport_reply(&r).unwrap().1, 0);
}

#[test]
fn dump_lists_every_mapping() {
    let t = PortmapTable::new(2049, 111);
    let r = reply(t.answer(&encode_dump_call(3)));
    let (xid, maps) = decode_dump_reply(&r).unwrap();
    assert_eq!(xid, 3);
    assert_eq!(maps, t.mappings());
    assert_eq!(maps.len(), 6);
}

#[test]
fn portmap_refuses_other_versions_programs_and_callit() {
    let t = PortmapTable::new(2049, 111);
    let r = reply(t.answer(&encode_call(1, PMAP_PROG, 4, 3, None, &[])));
    assert_eq!(
        decode_reply(&r).unwrap().accept,
        Some(AcceptStat::ProgMismatch { low: 2, high: 2 })
    );
    let r = reply(t.answer(&encode_call(1, NFS_PROG, 3, 0, None, &[])));
    assert_eq!(
        decode_reply(&r).unwrap().accept,
        Some(AcceptStat::ProgUnavail)
    );
    assert_eq!(
        t.answer(&encode_call(1, PMAP_PROG, 2, 5, None, &[])),
        PortmapOutcome::Ignore
    );
    // GETPORT with truncated arguments.
    let r = reply(t.answer(&encode_call(1, PMAP_PROG, 2, 3, None, &[0, 0, 0, 1])));
    assert_eq!(
        decode_reply(&r).unwrap().accept,
        Some(AcceptStat::GarbageArgs)
    );
    // A reply sent to the server is malformed input.
    assert!(matches!(
        t.answer(&r),
        PortmapOutcome::Malformed(RpcError::NotACall(1))
    ));
}

#[test]
fn record_reader_joins_fragments_and_refuses_oversized_records() {
    let mut rr = RecordReader::new(100);
    let mut stream = Vec::new();
    stream.extend_from_slice(&5u32.to_be_bytes()); // not last
    stream.extend_from_slice(b"hello");
    stream.extend_from_slice(&(0x8000_0000u32 | 3).to_be_bytes());
    stream.extend_from_slice(b"abc");
    stream.extend_from_slice(&frame_record(b"x"));
    for b in &stream {
        rr.push(std::slice::from_ref(b));
    }
    assert_eq!(rr.next_record().unwrap().unwrap(), b"helloabc");
    assert_eq!(rr.next_record().unwrap().unwrap(), b"x");
    assert_eq!(rr.next_record().unwrap(), None);
    rr.push(&(0x8000_0000u32 | 101).to_be_bytes());
    assert!(rr.next_record().is_err());
}

proptest! {
    #[test]
    fn call_header_round_trip(
        xid in any::<u32>(), prog in any::<u32>(), vers in any::<u32>(), proc_ in any::<u32>(),
        uid in any::<u32>(), gid in any::<u32>(), gids in proptest::collection::vec(any::<u32>(), 0..16),
        args in proptest::collection::vec(any::<u8>(), 0..64), with_auth in any::<bool>(),
    ) {
        let auth = AuthUnix { uid, gid, gids };
        let msg = encode_call(xid, prog, vers, proc_, with_auth.then_some(&auth), &args);
        let h = decode_call(&msg).unwrap();
        prop_assert_eq!((h.xid, h.rpcvers, h.prog, h.vers, h.proc_), (xid, 2, prog, vers, proc_));
        prop_assert_eq!(h.auth, with_auth.then_some(auth));
        prop_assert_eq!(&msg[h.args_at..], &args[..]);
    }

    #[test]
    fn records_reassemble_from_any_split(
        msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..5),
        cut in 1usize..50,
    ) {
        let stream: Vec<u8> = msgs.iter().flat_map(|m| frame_record(m)).collect();
        let mut rr = RecordReader::new(1000);
        let mut got = Vec::new();
        for chunk in stream.chunks(cut) {
            rr.push(chunk);
            while let Some(m) = rr.next_record().unwrap() {
                got.push(m);
            }
        }
        prop_assert_eq!(got, msgs);
    }

    #[test]
    fn xdr_round_trip(a in any::<u32>(), b in any::<u64>(), c in any::<bool>(),
                      d in proptest::collection::vec(any::<u8>(), 0..40)) {
        let mut w = XdrWriter::new();
        w.u32(a).u64(b).bool(c).opaque(&d);
        let bytes = w.into_bytes();
        prop_assert_eq!(bytes.len() % 4, 0);
        let mut r = XdrReader::new(&bytes);
        prop_assert_eq!(r.u32().unwrap(), a);
        prop_assert_eq!(r.u64().unwrap(), b);
        prop_assert_eq!(r.bool().unwrap(), c);
        prop_assert_eq!(r.opaque(40).unwrap(), &d[..]);
        prop_assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let t = PortmapTable::new(2049, 111);
        let _ = t.answer(&bytes);
        let _ = decode_call(&bytes);
        let _ = decode_reply(&bytes);
        let _ = decode_getport_reply(&bytes);
        let _ = decode_dump_reply(&bytes);
        let _ = AuthUnix::decode(&bytes);
        let mut rr = RecordReader::new(64);
        rr.push(&bytes);
        while let Ok(Some(_)) = rr.next_record() {}
    }

    #[test]
    fn portmap_calls_with_arbitrary_args_never_panic(
        proc_ in 0u32..8, vers in 1u32..5, args in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let t = PortmapTable::new(2049, 111);
        let _ = t.answer(&encode_call(1, PMAP_PROG, vers, proc_, None, &args));
    }
}
