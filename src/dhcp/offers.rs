//! [`OfferBook`]: the answering node's short-lived, in-memory reservations of offered
//! addresses. An OFFER is not a lease (RFC 2131: the server *may* reserve the address);
//! only the ACK commits the lease through Raft, before the ACK is sent. The book keeps two
//! concurrent DISCOVERs from being offered the same address and makes a retransmitted
//! DISCOVER get the same offer; a REQUEST for an address reserved for another MAC is NAKed.
//! Reservations live [`OFFER_HOLD_MS`] and are forgotten when the client's REQUEST is
//! answered or it releases or declines. They are not replicated: after a failover the new
//! answering node has none, and a REQUEST for an offered address that someone else got
//! meanwhile is NAKed by the commit (the state machine never grants one address twice).
//!
//! [`pick_address`] chooses the address to offer from the state: the client's preferred
//! address if it is free, else the first address without any lease record (the state's
//! occupancy bitmap, not a scan) at or after the MAC's own starting point
//! ([`search_start`], a fixed hash of the MAC) and wrapping around the pool, else an
//! expired one — skipping reservations. Starting from the MAC's point rather than from the
//! lowest address is what keeps a failover from NAKing clients: the node that takes over
//! offers each client the address the old node offered it (when it is still free), not the
//! lowest free address, which the old node may already have offered to a client that is
//! about to REQUEST it.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Mutex;

use raftboot_raft::state::Occupancy;
use raftboot_raft::{Mac, State};

/// How long an offered address stays reserved for its client.
pub const OFFER_HOLD_MS: u64 = 30_000;
/// Expired reservations are swept at most this often.
const SWEEP_MS: u64 = 1_000;

#[derive(Debug, Default)]
struct Book {
    by_ip: BTreeMap<Ipv4Addr, (Mac, u64)>,
    by_mac: HashMap<Mac, Ipv4Addr>,
    /// The addresses in `by_ip`, as a bitmap for the allocator.
    reserved: Occupancy,
    next_sweep_ms: u64,
}

impl Book {
    fn sweep(&mut self, now_ms: u64) {
        if now_ms < self.next_sweep_ms {
            return;
        }
        self.next_sweep_ms = now_ms.saturating_add(SWEEP_MS);
        let reserved = &mut self.reserved;
        self.by_ip.retain(|ip, (_, exp)| {
            let live = *exp > now_ms;
            if !live {
                reserved.set(*ip, false);
            }
            live
        });
        let by_ip = &self.by_ip;
        self.by_mac
            .retain(|mac, ip| by_ip.get(ip).is_some_and(|(m, _)| m == mac));
    }

    fn holder(&self, ip: Ipv4Addr, now_ms: u64) -> Option<Mac> {
        self.by_ip
            .get(&ip)
            .filter(|(_, exp)| *exp > now_ms)
            .map(|(m, _)| *m)
    }

    fn forget(&mut self, mac: Mac) {
        if let Some(ip) = self.by_mac.remove(&mac) {
            if self.by_ip.get(&ip).is_some_and(|(m, _)| *m == mac) {
                self.by_ip.remove(&ip);
                self.reserved.set(ip, false);
            }
        }
    }
}

/// Reservations of offered addresses on this node.
#[derive(Debug, Default)]
pub struct OfferBook {
    book: Mutex<Book>,
}

impl OfferBook {
    /// Reserve an address for `mac` at `now_ms`. `pick(preferred, skip, reserved)`
    /// chooses it: the address already reserved for `mac` (else `requested`) is
    /// preferred; `skip` says which addresses are reserved for other MACs, `reserved`
    /// marks every reserved address. `None`: nothing free.
    pub fn reserve(
        &self,
        mac: Mac,
        requested: Option<Ipv4Addr>,
        now_ms: u64,
        pick: impl FnOnce(Option<Ipv4Addr>, &dyn Fn(Ipv4Addr) -> bool, &Occupancy) -> Option<Ipv4Addr>,
    ) -> Option<Ipv4Addr> {
        let Ok(mut book) = self.book.lock() else {
            return None;
        };
        book.sweep(now_ms);
        let mine = book
            .by_mac
            .get(&mac)
            .copied()
            .filter(|ip| book.holder(*ip, now_ms) == Some(mac));
        let ip = {
            let b = &*book;
            let skip = |ip: Ipv4Addr| b.holder(ip, now_ms).is_some_and(|m| m != mac);
            pick(mine.or(requested), &skip, &b.reserved)
        }?;
        book.forget(mac);
        book.by_ip
            .insert(ip, (mac, now_ms.saturating_add(OFFER_HOLD_MS)));
        book.by_mac.insert(mac, ip);
        book.reserved.set(ip, true);
        Some(ip)
    }

    /// The MAC `ip` is reserved for, if the reservation is live and not `mac`'s own.
    pub fn held_by_other(&self, ip: Ipv4Addr, mac: Mac, now_ms: u64) -> Option<Mac> {
        let book = self.book.lock().ok()?;
        book.holder(ip, now_ms).filter(|m| *m != mac)
    }

    /// Drop `mac`'s reservation (its REQUEST was answered, or it released or declined).
    pub fn forget(&self, mac: Mac) {
        if let Ok(mut book) = self.book.lock() {
            book.forget(mac);
        }
    }

    /// Live and expired-but-unswept reservations (for tests and metrics).
    pub fn len(&self) -> usize {
        self.book.lock().map(|b| b.by_ip.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where `mac`'s search for an address to offer starts in `start..=end`: the pool offset
/// given by a fixed hash of the MAC (32-bit FNV-1a of its six bytes), the same on every
/// node and in every release (dnsmasq picks addresses the same way).
pub fn search_start(mac: Mac, start: Ipv4Addr, end: Ipv4Addr) -> Ipv4Addr {
    let (s, e) = (u32::from(start), u32::from(end));
    if e <= s {
        return start;
    }
    let mut h: u32 = 0x811c_9dc5;
    for b in mac.0 {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    // The pool holds `e - s + 1` (at most 2^32) addresses; the offset is below that.
    let size = u64::from(e - s) + 1;
    let offset = u32::try_from(u64::from(h) % size).unwrap_or(0);
    Ipv4Addr::from(s + offset)
}

/// The address to offer `mac` from pool `start..=end` of `state` at `now_ms`: `preferred`
/// if it is in the pool and free, else the first address with no lease record and no host
/// on it at or after [`search_start`] (wrapping around), else a free one (an expired
/// lease, searched the same way); never one `skip` excludes.
pub fn pick_address(
    state: &State,
    (start, end): (Ipv4Addr, Ipv4Addr),
    mac: Mac,
    now_ms: u64,
    preferred: Option<Ipv4Addr>,
    skip: &dyn Fn(Ipv4Addr) -> bool,
    reserved: &Occupancy,
) -> Option<Ipv4Addr> {
    let in_pool = |ip: Ipv4Addr| (u32::from(start)..=u32::from(end)).contains(&u32::from(ip));
    let usable = |ip: Ipv4Addr| in_pool(ip) && !skip(ip) && state.address_free(ip, mac, now_ms);
    if let Some(ip) = preferred.filter(|ip| usable(*ip)) {
        return Some(ip);
    }
    let from = search_start(mac, start, end);
    state
        .lowest_unused_besides(from, end, reserved)
        .or_else(|| state.lowest_unused_besides(start, end, reserved))
        .or_else(|| {
            (u32::from(from)..=u32::from(end))
                .chain(u32::from(start)..u32::from(from))
                .map(Ipv4Addr::from)
                .find(|ip| usable(*ip))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The starting point lies in the pool, depends only on the MAC and the pool, and
        /// a one-address pool starts at its address.
        #[test]
        fn search_start_is_inside_the_pool(mac: [u8; 6], a: u32, len in 0u32..70_000) {
            let start = Ipv4Addr::from(a);
            let end = Ipv4Addr::from(a.saturating_add(len));
            let p = search_start(Mac(mac), start, end);
            prop_assert!(start <= p && p <= end, "{p} outside {start}-{end}");
            prop_assert_eq!(p, search_start(Mac(mac), start, end));
            prop_assert_eq!(search_start(Mac(mac), start, start), start);
        }
    }

    #[test]
    fn starting_points_spread_over_the_pool() {
        // 1000 MACs over a 4064-address pool (the chaos storm's size): no address is the
        // start of more than a handful, so clients rarely compete for one offer.
        let (start, end) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 15, 254));
        let mut hits = HashMap::new();
        for i in 0..1000u32 {
            let b = i.to_be_bytes();
            let mac = Mac([0x52, 0x54, b[0], b[1], b[2], b[3]]);
            *hits.entry(search_start(mac, start, end)).or_insert(0u32) += 1;
        }
        let worst = hits.values().max().copied().unwrap_or(0);
        assert!(
            hits.len() > 850 && worst <= 4,
            "{} distinct, worst {worst}",
            hits.len()
        );
    }
}
