//! [`ClientView`]: what the replicated state says about one client, copied out under
//! the state's read lock so the policy never holds it (and never holds it across an
//! await).

use std::net::Ipv4Addr;

use raftboot_raft::state::{Group, Host, Lease, Pool};
use raftboot_raft::{Mac, State};

use super::settings::DhcpSettings;
use cluster_config::UnknownClients;

/// The slice of the state one decision needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientView {
    /// The host table entry of this MAC.
    pub host: Option<Host>,
    /// The host's group, or for an unknown client in `register` mode the registration
    /// group.
    pub group: Option<Group>,
    /// The configured pool (dynamic clients lease from it).
    pub pool: Option<Pool>,
    /// The pool containing a fixed host's address (for its mask, router and DNS).
    pub fixed_pool: Option<Pool>,
    /// This MAC's dynamic lease, if any (live or expired).
    pub lease: Option<Lease>,
    /// Another MAC that holds (live lease) or has reserved `address` — the address the
    /// client asks for (option 50, else `ciaddr`).
    pub address_taken_by: Option<Mac>,
    /// The leader's clock when the view was taken, in ms since the epoch.
    pub now_ms: u64,
}

fn contains(p: &Pool, ip: Ipv4Addr) -> bool {
    (u32::from(p.start)..=u32::from(p.end)).contains(&u32::from(ip))
}

impl ClientView {
    /// Read everything about `mac` asking for `address` from `state`.
    pub fn read(
        state: &State,
        settings: &DhcpSettings,
        mac: Mac,
        address: Option<Ipv4Addr>,
        now_ms: u64,
    ) -> ClientView {
        let host = state.hosts.get(&mac).cloned();
        let group_name = match &host {
            Some(h) => Some(h.group.as_str()),
            None if settings.unknown_clients == UnknownClients::Register => {
                settings.registration_group.as_deref()
            }
            None => None,
        };
        let group = group_name.and_then(|g| state.groups.get(g)).cloned();
        let fixed_pool = host
            .as_ref()
            .and_then(|h| h.ip)
            .and_then(|ip| state.pools.values().find(|p| contains(p, ip)))
            .cloned();
        let address_taken_by = address.and_then(|ip| {
            let leased = state
                .leases
                .get(&ip)
                .filter(|l| l.mac != mac && l.expires_ms > now_ms)
                .map(|l| l.mac);
            leased.or_else(|| {
                state
                    .hosts
                    .values()
                    .find(|h| h.ip == Some(ip) && h.mac != mac)
                    .map(|h| h.mac)
            })
        });
        ClientView {
            host,
            group,
            pool: state.pools.get(&settings.pool).cloned(),
            fixed_pool,
            lease: state.lease_of(&mac).cloned(),
            address_taken_by,
            now_ms,
        }
    }

    /// The fixed address of a known host.
    pub fn fixed_ip(&self) -> Option<Ipv4Addr> {
        self.host.as_ref().and_then(|h| h.ip)
    }

    /// True when `ip` lies in the configured pool.
    pub fn in_pool(&self, ip: Ipv4Addr) -> bool {
        self.pool.as_ref().is_some_and(|p| contains(p, ip))
    }

    /// This MAC's lease if it is live and in the configured pool.
    pub fn live_lease(&self) -> Option<&Lease> {
        self.lease
            .as_ref()
            .filter(|l| l.expires_ms > self.now_ms && self.in_pool(l.ip))
    }
}
