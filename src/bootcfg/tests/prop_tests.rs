//! Property tests: arbitrary request paths never panic, and whatever resolves is a file
//! of a known image or generated text — never anything outside the namespace.

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

/// Path pieces that stress the normalizer: separators, dots, traversal, prefixes, names
/// of every route.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/".to_string()),
        Just("..".to_string()),
        Just(".".to_string()),
        Just("::".to_string()),
        Just("\\".to_string()),
        Just("\0".to_string()),
        Just("images".to_string()),
        Just("deb".to_string()),
        Just("vmlinuz".to_string()),
        Just("up".to_string()),
        Just("lib".to_string()),
        Just("etc".to_string()),
        Just("passwd".to_string()),
        Just("pxelinux.cfg".to_string()),
        Just("01-52-54-00-12-34-56".to_string()),
        Just("ipxe".to_string()),
        Just("boot.ipxe".to_string()),
        "[ -~]{0,12}",
        any::<String>(),
    ]
}

fn known_blobs() -> HashSet<Digest> {
    let (_, _, m) = fixture();
    m.by_name.values().flat_map(|m| m.blobs()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_strings_never_panic(raw in any::<String>()) {
        let _ = get(&raw);
        if let Ok(p) = BootPath::parse(&raw) {
            for c in p.components() {
                prop_assert!(!c.is_empty() && c != "." && c != "..");
                prop_assert!(!c.contains('/') && !c.contains('\\') && !c.contains('\0'));
            }
        }
    }

    #[test]
    fn composed_paths_stay_inside(pieces in proptest::collection::vec(piece(), 0..10)) {
        let raw = pieces.join("/");
        let blobs = known_blobs();
        match get(&raw) {
            Ok(Resolution { target: Target::Blob { digest, .. }, .. }) => {
                prop_assert!(blobs.contains(&digest), "{raw:?} -> {digest}");
                prop_assert!(!raw.split('/').any(|c| c == ".."), "{raw:?} resolved");
            }
            Ok(Resolution { target: Target::Generated(_), .. }) => {}
            Err(ResolveError::BadPath(_) | ResolveError::NotFound(_)) => {}
            Err(e @ ResolveError::Unavailable { .. }) => {
                prop_assert!(raw.contains("unreplicated"), "{raw:?}: {e}");
            }
        }
        if raw.split('/').any(|c| c == "..") && !raw.contains('\0') && !raw.contains('\\') {
            let refused = matches!(get(&raw), Err(ResolveError::BadPath(_)));
            prop_assert!(refused, "{raw:?} not refused");
        }
    }
}
