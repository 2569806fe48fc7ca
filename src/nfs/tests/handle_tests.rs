//! File handles: stable layout, round trip, hostile bytes, fileid uniqueness.

use proptest::prelude::*;

use crate::nfs::handle::{MAX_INDEX, MAX_SEQ};
use crate::nfs::{fileid, FileHandle, HandleError, HANDLE_LEN};

#[test]
fn layout_is_stable() {
    // The wire form is part of the cluster's compatibility: a handle issued before an
    // upgrade must still resolve after it. Changing this test means breaking mounted clients.
    let h = FileHandle::new(3, 0x0102, &[0xab; 32]);
    let mut want = b"RBN1".to_vec();
    want.extend_from_slice(&3u64.to_be_bytes());
    want.extend_from_slice(&0x0102u64.to_be_bytes());
    want.extend_from_slice(&[0xab; 8]);
    assert_eq!(h.encode().to_vec(), want);
    assert_eq!(h.encode().len(), HANDLE_LEN);
    assert_eq!(h.fileid(), 3 << 40 | 0x0103);
    assert_eq!(fileid(1, 0), (1 << 40) | 1);
}

#[test]
fn foreign_handles_are_bad() {
    // nfsserve's default handle: 8 bytes of server start time + 8 bytes of fileid.
    let mut nfsserve_style = 1_700_000_000_000u64.to_le_bytes().to_vec();
    nfsserve_style.extend_from_slice(&42u64.to_le_bytes());
    assert_eq!(FileHandle::decode(&nfsserve_style), Err(HandleError::Bad));
    assert_eq!(FileHandle::decode(&[]), Err(HandleError::Bad));
    let mut bad_magic = FileHandle::new(1, 1, &[0; 32]).encode();
    bad_magic[0] = b'X';
    assert_eq!(FileHandle::decode(&bad_magic), Err(HandleError::Bad));
}

proptest! {
    #[test]
    fn round_trip(seq in 0..=MAX_SEQ, index in 0..=MAX_INDEX, d in any::<[u8; 32]>()) {
        let h = FileHandle::new(seq, index, &d);
        prop_assert_eq!(FileHandle::decode(&h.encode()), Ok(h));
        prop_assert_ne!(h.fileid(), 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = FileHandle::decode(&bytes);
    }

    #[test]
    fn fileids_are_unique(a in (0..=MAX_SEQ, 0..=MAX_INDEX), b in (0..=MAX_SEQ, 0..=MAX_INDEX)) {
        prop_assume!(a != b);
        prop_assert_ne!(fileid(a.0, a.1), fileid(b.0, b.1));
    }
}
