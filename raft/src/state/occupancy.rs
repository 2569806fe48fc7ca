//! [`Occupancy`]: a sparse bitmap of IPv4 addresses (one bit per address, 64 per word,
//! only non-empty words stored). The state machine keeps one as a derived index of the
//! addresses that have a lease record or are a host's fixed address, so finding the lowest
//! unused address of a pool costs at most one word lookup per 64 addresses instead of a
//! scan over every lease and host.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Addresses marked as in use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Occupancy {
    words: BTreeMap<u32, u64>,
}

impl Occupancy {
    /// Mark `ip` used (`true`) or unused.
    pub fn set(&mut self, ip: Ipv4Addr, used: bool) {
        let a = u32::from(ip);
        let (w, bit) = (a >> 6, 1u64 << (a & 63));
        if used {
            *self.words.entry(w).or_insert(0) |= bit;
        } else if let Some(word) = self.words.get_mut(&w) {
            *word &= !bit;
            if *word == 0 {
                self.words.remove(&w);
            }
        }
    }

    /// True when `ip` is marked used.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let a = u32::from(ip);
        self.words
            .get(&(a >> 6))
            .is_some_and(|w| w & (1u64 << (a & 63)) != 0)
    }

    /// The lowest unmarked address in `start..=end`, if any.
    pub fn first_free(&self, start: Ipv4Addr, end: Ipv4Addr) -> Option<Ipv4Addr> {
        let (mut a, end) = (u64::from(u32::from(start)), u64::from(u32::from(end)));
        while a <= end {
            let w = (a >> 6) as u32;
            let below = (1u64 << (a & 63)) - 1;
            let word = self.words.get(&w).copied().unwrap_or(0) | below;
            if word != u64::MAX {
                let found = (u64::from(w) << 6) | u64::from((!word).trailing_zeros());
                return (found <= end).then(|| Ipv4Addr::from(found as u32));
            }
            a = (u64::from(w) + 1) << 6;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `first_free` agrees with a linear scan of a plain set.
        #[test]
        fn first_free_matches_a_scan(
            used in proptest::collection::btree_set(0u32..300, 0..300),
            cleared in proptest::collection::vec(0u32..300, 0..50),
            lo in 0u32..300,
            len in 0u32..300,
        ) {
            let base = u32::MAX - 700;
            let mut occ = Occupancy::default();
            let mut set = used.clone();
            for u in &used {
                occ.set(Ipv4Addr::from(base + u), true);
            }
            for c in &cleared {
                occ.set(Ipv4Addr::from(base + c), false);
                set.remove(c);
            }
            let (s, e) = (base + lo, base + lo + len);
            let want = (s..=e).find(|a| !set.contains(&(a - base))).map(Ipv4Addr::from);
            prop_assert_eq!(occ.first_free(Ipv4Addr::from(s), Ipv4Addr::from(e)), want);
            for a in 0..300 {
                prop_assert_eq!(occ.contains(Ipv4Addr::from(base + a)), set.contains(&a));
            }
        }
    }

    #[test]
    fn top_of_the_address_space() {
        let mut occ = Occupancy::default();
        let top = Ipv4Addr::from(u32::MAX);
        occ.set(top, true);
        assert_eq!(occ.first_free(top, top), None);
        assert_eq!(
            occ.first_free(Ipv4Addr::from(u32::MAX - 1), top),
            Some(Ipv4Addr::from(u32::MAX - 1))
        );
    }
}
