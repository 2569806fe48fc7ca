//! Versioned encoding of everything raftboot persists or sends: one format-version byte,
//! then bincode 1.3. A future encoding bumps the byte; old bytes are refused clearly.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The current format version.
pub const FORMAT_VERSION: u8 = 1;
/// Upper bound for any decoded value (guards bincode against hostile length prefixes).
pub const MAX_DECODED: u64 = 256 * 1024 * 1024;

/// Encoding or decoding failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Empty input.
    #[error("empty input")]
    Empty,
    /// A version byte this build does not understand.
    #[error("unknown format version {0} (this build reads version {FORMAT_VERSION})")]
    Version(u8),
    /// bincode failed.
    #[error("bincode: {0}")]
    Bincode(#[from] bincode::Error),
}

fn options() -> impl bincode::Options {
    use bincode::Options;
    // Same wire layout as bincode::serialize (fixint, little endian), plus a size limit.
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(MAX_DECODED)
}

/// Encode `v` behind the version byte.
pub fn encode<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, CodecError> {
    use bincode::Options;
    let mut out = vec![FORMAT_VERSION];
    options().serialize_into(&mut out, v)?;
    Ok(out)
}

/// Decode bytes produced by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    use bincode::Options;
    let (v, rest) = bytes.split_first().ok_or(CodecError::Empty)?;
    if *v != FORMAT_VERSION {
        return Err(CodecError::Version(*v));
    }
    Ok(options().deserialize(rest)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<crate::types::Request>(&bytes);
            let _ = decode::<crate::peer::PeerRequest>(&bytes);
        }

        #[test]
        fn roundtrip(s in ".*", n in any::<u64>()) {
            let v = (s, n);
            let e = encode(&v).unwrap();
            prop_assert_eq!(decode::<(String, u64)>(&e).unwrap(), v);
        }
    }

    #[test]
    fn wrong_version_is_refused() {
        let mut e = encode(&5u32).unwrap();
        e[0] = 9;
        assert!(matches!(decode::<u32>(&e), Err(CodecError::Version(9))));
    }
}
