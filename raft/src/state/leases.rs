//! Lease allocation for [`State`]: deterministic (same address for the same MAC, the
//! requested address if free, else the lowest address without any lease record, else the
//! lowest expired one), never handing one address to two MACs, and never handing out a
//! host's fixed address. The lowest unused address comes from the [`super::Occupancy`]
//! index (a bitmap), so an allocation does not scan the leases already granted; only a
//! pool whose every address has a lease record falls back to a scan for an expired one.

use std::net::Ipv4Addr;

use super::{reject, Lease, Pool, State};
use crate::mac::Mac;
use crate::types::Response;

/// Largest pool accepted (a /16): bounds the work of one allocation.
pub const MAX_POOL_SIZE: u32 = 65_536;

impl State {
    pub(super) fn put_pool(&mut self, p: &Pool) -> Response {
        let (s, e) = (u32::from(p.start), u32::from(p.end));
        if p.name.is_empty() {
            return reject("pool name is empty");
        }
        if s > e {
            return reject(format!(
                "pool {}: start {} > end {}",
                p.name, p.start, p.end
            ));
        }
        if e - s >= MAX_POOL_SIZE {
            return reject(format!("pool {} is larger than {MAX_POOL_SIZE}", p.name));
        }
        if p.prefix == 0 || p.prefix > 32 {
            return reject(format!("pool {}: prefix /{} is invalid", p.name, p.prefix));
        }
        let overlaps = self
            .pools
            .values()
            .find(|o| o.name != p.name && u32::from(o.start) <= e && s <= u32::from(o.end));
        if let Some(o) = overlaps {
            return reject(format!("pool {} overlaps pool {}", p.name, o.name));
        }
        self.pools.insert(p.name.clone(), p.clone());
        Response::Ok
    }

    /// True when `ip` may be leased to `mac` at `now`: no live lease of another MAC, not
    /// another host's fixed address.
    pub fn address_free(&self, ip: Ipv4Addr, mac: Mac, now: u64) -> bool {
        let leased_to_other = self
            .leases
            .get(&ip)
            .is_some_and(|l| l.mac != mac && l.expires_ms > now);
        let reserved_for_other = self.fixed_owner(ip).is_some_and(|m| m != mac);
        !leased_to_other && !reserved_for_other
    }

    pub(super) fn allocate_lease(
        &mut self,
        mac: Mac,
        pool_name: &str,
        requested: Option<Ipv4Addr>,
        lease_secs: u32,
        now: u64,
    ) -> Response {
        if let Some(ip) = self.hosts.get(&mac).and_then(|h| h.ip) {
            return Response::Fixed(ip);
        }
        let Some(pool) = self.pools.get(pool_name) else {
            return reject(format!("no pool {pool_name}"));
        };
        let (start, end) = (u32::from(pool.start), u32::from(pool.end));
        let in_pool = |ip: Ipv4Addr| (start..=end).contains(&u32::from(ip));
        let expires_ms = now.saturating_add(u64::from(lease_secs) * 1000);

        // 1. The address this MAC already holds (renewal), if it is still in this pool.
        let current = self.lease_of(&mac).map(|l| l.ip).filter(|ip| in_pool(*ip));
        // 2. The requested address, 3. the lowest never-used one, 4. the lowest expired one.
        let chosen = current
            .or_else(|| requested.filter(|ip| in_pool(*ip) && self.address_free(*ip, mac, now)))
            .or_else(|| self.lowest_unused(pool.start, pool.end))
            .or_else(|| {
                (start..=end)
                    .map(Ipv4Addr::from)
                    .find(|ip| self.address_free(*ip, mac, now))
            });
        let Some(ip) = chosen else {
            return reject(format!("pool {pool_name} is exhausted"));
        };
        // The MAC gives up any other address it held; an expired holder of `ip` loses it.
        if let Some(old) = self.lease_by_mac.remove(&mac) {
            if old != ip {
                self.leases.remove(&old);
                self.refresh(old);
            }
        }
        if let Some(prev) = self.leases.get(&ip) {
            if prev.mac != mac {
                self.lease_by_mac.remove(&prev.mac);
            }
        }
        let granted_ms = match self.leases.get(&ip) {
            Some(l) if l.mac == mac => l.granted_ms,
            _ => now,
        };
        let lease = Lease {
            ip,
            mac,
            pool: pool_name.to_string(),
            granted_ms,
            expires_ms,
        };
        self.leases.insert(ip, lease.clone());
        self.lease_by_mac.insert(mac, ip);
        self.refresh(ip);
        Response::Lease(lease)
    }

    /// The lowest address of `start..=end` with no lease record and no host on it.
    pub fn lowest_unused(&self, start: Ipv4Addr, end: Ipv4Addr) -> Option<Ipv4Addr> {
        self.occupied.first_free(start, end)
    }

    /// The lowest address of `start..=end` with no lease record, no host on it and not
    /// marked in `also_used` (e.g. the answering node's reserved offers).
    pub fn lowest_unused_besides(
        &self,
        start: Ipv4Addr,
        end: Ipv4Addr,
        also_used: &super::Occupancy,
    ) -> Option<Ipv4Addr> {
        let mut from = start;
        // Each round skips at least one address, and a run of 64 per word lookup.
        for _ in 0..=MAX_POOL_SIZE {
            let a = self.occupied.first_free(from, end)?;
            let b = also_used.first_free(a, end)?;
            if a == b {
                return Some(a);
            }
            from = b;
        }
        None
    }

    pub(super) fn release_lease(&mut self, mac: Mac, ip: Ipv4Addr) -> Response {
        match self.leases.get(&ip) {
            Some(l) if l.mac == mac => {
                self.leases.remove(&ip);
                self.lease_by_mac.remove(&mac);
                self.refresh(ip);
                Response::Ok
            }
            Some(l) => reject(format!("{ip} is leased to {}, not {mac}", l.mac)),
            None => reject(format!("{ip} is not leased")),
        }
    }

    pub(super) fn expire_leases(&mut self, now: u64, grace_ms: u64) -> Response {
        let before = self.leases.len();
        self.leases
            .retain(|_, l| l.expires_ms.saturating_add(grace_ms) > now);
        if self.leases.len() != before {
            self.reindex();
        }
        Response::Ok
    }
}
