//! [`Policy`]: the DHCP server's decisions, pure. A request and a [`ClientView`] go in;
//! a [`Plan`] comes out — reply now, commit a lease through Raft first and then reply
//! ([`Policy::after_commit`]), release or decline an address, or stay silent.
//!
//! - Hosts with a fixed address get it without touching Raft.
//! - Dynamic clients (known hosts without an address; unknown MACs in `pool` or
//!   `register` mode) lease from the configured pool. An OFFER of a new address is a
//!   short in-memory reservation on the answering node ([`Plan::Reserve`], see
//!   [`super::offers`]); the ACK commits the lease (`AllocateLease` of the offered
//!   address) *before* it is sent, and commits again on renewal unless the lease was
//!   written moments ago (over [`FRESH_PERCENT`] of its time left). A fresh DORA is one
//!   commit, and commits from concurrent clients share log entries.
//! - REQUEST states (RFC 2131 4.3.2): SELECTING (server id + requested address; another
//!   server's id = stay silent), INIT-REBOOT (requested address, no server id),
//!   RENEWING/REBINDING (`ciaddr`). An address outside the pool, or held by another MAC,
//!   is NAKed.
//! - DECLINE parks the address under a marker MAC ([`declined_mac`]) for one lease time;
//!   RELEASE gives the lease back; INFORM gets the options without an address.

use std::net::Ipv4Addr;

use cluster_config::UnknownClients;
use raftboot_raft::{Mac, Response};

use super::boot::{BootSelector, ClientKind};
use super::reply::{Reply, ReplyKind};
use super::request::{DhcpRequest, Kind};
use super::settings::DhcpSettings;
use super::view::ClientView;

/// An ACK skips its commit when the lease has more than this share of its time left.
pub const FRESH_PERCENT: u64 = 90;

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Stay silent (the reason is a metrics label).
    Drop(&'static str),
    /// Send this reply; nothing to commit.
    Reply(Box<Reply>),
    /// Reserve an address for an OFFER (`requested` if free), then [`Policy::offer`].
    Reserve { requested: Option<Ipv4Addr> },
    /// Commit `AllocateLease` from the configured pool, then [`Policy::after_commit`].
    Allocate {
        requested: Option<Ipv4Addr>,
        then: ReplyKind,
    },
    /// Commit `ReleaseLease` for this MAC; no reply.
    Release { ip: Ipv4Addr },
    /// Release the client's lease on `ip` (if it holds it) and park `ip` under
    /// [`declined_mac`]; no reply.
    Decline { ip: Ipv4Addr, holds_it: bool },
}

/// The marker MAC a declined address is parked under: `01:de` and the address. The
/// group bit is set, so it can never be a real client's (requests from such MACs are
/// refused as malformed).
pub fn declined_mac(ip: Ipv4Addr) -> Mac {
    let o = ip.octets();
    Mac([0x01, 0xde, o[0], o[1], o[2], o[3]])
}

/// The network mask of a prefix length.
pub fn mask(prefix: u8) -> Ipv4Addr {
    match prefix {
        0 => Ipv4Addr::UNSPECIFIED,
        p => Ipv4Addr::from(u32::MAX << (32 - u32::from(p.min(32)))),
    }
}

/// The server's decisions for one node's settings.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    s: &'a DhcpSettings,
}

impl<'a> Policy<'a> {
    pub fn new(settings: &'a DhcpSettings) -> Self {
        Policy { s: settings }
    }

    /// The settings this policy answers with.
    pub fn settings(&self) -> &'a DhcpSettings {
        self.s
    }

    /// The address a request is about: option 50, else `ciaddr`.
    pub fn address_of(req: &DhcpRequest) -> Option<Ipv4Addr> {
        req.requested
            .or(Some(req.ciaddr).filter(|c| !c.is_unspecified()))
    }

    fn other_server(&self, req: &DhcpRequest) -> bool {
        req.server_id.is_some_and(|id| id != self.s.server_addr)
    }

    /// Decide what to do with `req`, given what the state says about its client.
    pub fn decide(&self, req: &DhcpRequest, view: &ClientView) -> Plan {
        if view.host.is_none() {
            match self.s.unknown_clients {
                UnknownClients::Ignore => return Plan::Drop("unknown_client"),
                UnknownClients::Register if view.group.is_none() => {
                    return Plan::Drop("no_registration_group")
                }
                _ => {}
            }
        }
        let fixed = view.fixed_ip();
        match req.kind {
            Kind::Discover => {
                if let Some(ip) = fixed {
                    return self.answer(req, view, ReplyKind::Offer, ip);
                }
                if view.pool.is_none() {
                    return Plan::Drop("no_pool");
                }
                if let Some(l) = view.live_lease() {
                    return self.answer(req, view, ReplyKind::Offer, l.ip);
                }
                Plan::Reserve {
                    requested: req.requested.filter(|ip| view.in_pool(*ip)),
                }
            }
            Kind::Request => self.request(req, view, fixed),
            Kind::Release => {
                if self.other_server(req) {
                    return Plan::Drop("other_server");
                }
                match &view.lease {
                    Some(l) if l.ip == req.ciaddr => Plan::Release { ip: l.ip },
                    _ => Plan::Drop("no_lease"),
                }
            }
            Kind::Decline => {
                if self.other_server(req) {
                    return Plan::Drop("other_server");
                }
                match req.requested {
                    Some(ip) if fixed == Some(ip) => Plan::Drop("declined_fixed_address"),
                    Some(ip) if view.in_pool(ip) => Plan::Decline {
                        ip,
                        holds_it: view.lease.as_ref().is_some_and(|l| l.ip == ip),
                    },
                    _ => Plan::Drop("decline_outside_pool"),
                }
            }
            Kind::Inform => {
                let mut r = self.build(req, view, ReplyKind::Ack, Ipv4Addr::UNSPECIFIED);
                r.lease_secs = None;
                Plan::Reply(Box::new(r))
            }
        }
    }

    fn request(&self, req: &DhcpRequest, view: &ClientView, fixed: Option<Ipv4Addr>) -> Plan {
        if self.other_server(req) {
            // SELECTING another server's offer.
            return Plan::Drop("other_server");
        }
        let Some(addr) = Self::address_of(req) else {
            return Plan::Drop("no_requested_address");
        };
        if let Some(ip) = fixed {
            return if addr == ip {
                self.answer(req, view, ReplyKind::Ack, ip)
            } else {
                self.nak(req, "that address is not this host's")
            };
        }
        if view.pool.is_none() {
            return Plan::Drop("no_pool");
        }
        if !view.in_pool(addr) {
            return self.nak(req, "address not on this network");
        }
        if view.address_taken_by.is_some() {
            return self.nak(req, "address in use");
        }
        if let Some(l) = view.live_lease().filter(|l| l.ip == addr) {
            let left = l.expires_ms.saturating_sub(view.now_ms);
            if left * 100 >= u64::from(self.s.lease_secs) * 1000 * FRESH_PERCENT {
                return self.answer(req, view, ReplyKind::Ack, addr);
            }
        }
        Plan::Allocate {
            requested: Some(addr),
            then: ReplyKind::Ack,
        }
    }

    /// The reply after an `AllocateLease` for a [`Plan::Allocate`] was committed.
    pub fn after_commit(
        &self,
        req: &DhcpRequest,
        view: &ClientView,
        then: ReplyKind,
        requested: Option<Ipv4Addr>,
        outcome: &Response,
    ) -> Plan {
        let ip = match outcome {
            Response::Lease(l) => l.ip,
            Response::Fixed(ip) => *ip,
            Response::Rejected(m) => {
                tracing::warn!(mac = %req.mac, reason = %m, "lease refused");
                return match then {
                    ReplyKind::Ack => self.nak(req, "no address available"),
                    _ => Plan::Drop("pool_exhausted"),
                };
            }
            _ => return Plan::Drop("unexpected_response"),
        };
        if then == ReplyKind::Ack && requested != Some(ip) {
            return self.nak(req, "address changed");
        }
        self.answer(req, view, then, ip)
    }

    /// The OFFER of a reserved address (`None`: the pool has nothing free).
    pub fn offer(&self, req: &DhcpRequest, view: &ClientView, ip: Option<Ipv4Addr>) -> Plan {
        match ip {
            Some(ip) => self.answer(req, view, ReplyKind::Offer, ip),
            None => Plan::Drop("pool_exhausted"),
        }
    }

    fn answer(&self, req: &DhcpRequest, view: &ClientView, kind: ReplyKind, ip: Ipv4Addr) -> Plan {
        Plan::Reply(Box::new(self.build(req, view, kind, ip)))
    }

    /// A NAK to `req`.
    pub fn nak(&self, req: &DhcpRequest, why: &str) -> Plan {
        let mut r = Reply::new(ReplyKind::Nak, req.xid, req.mac, self.s.server_addr);
        r.giaddr = req.giaddr;
        r.broadcast = !req.giaddr.is_unspecified();
        r.message = Some(why.to_string());
        r.relay_agent = req.relay_agent.clone();
        Plan::Reply(Box::new(r))
    }

    /// An OFFER or ACK of `yiaddr` with every option the client gets.
    pub fn build(
        &self,
        req: &DhcpRequest,
        view: &ClientView,
        kind: ReplyKind,
        yiaddr: Ipv4Addr,
    ) -> Reply {
        let s = self.s;
        let mut r = Reply::new(kind, req.xid, req.mac, s.server_addr);
        r.broadcast = req.broadcast;
        r.giaddr = req.giaddr;
        if kind == ReplyKind::Ack {
            r.ciaddr = req.ciaddr;
        }
        r.yiaddr = yiaddr;
        r.siaddr = s.server_addr;
        r.lease_secs = Some(s.lease_secs);
        let pool = if view.fixed_ip().is_some() {
            view.fixed_pool.as_ref()
        } else {
            view.pool.as_ref()
        };
        r.subnet_mask = Some(mask(pool.map_or(s.default_prefix, |p| p.prefix)));
        r.router = pool.and_then(|p| p.router).or(s.router);
        r.dns = match pool {
            Some(p) if !p.dns.is_empty() => p.dns.clone(),
            _ => s.dns.clone(),
        };
        r.domain = s.domain.clone();
        r.hostname = view.host.as_ref().map(|h| h.name.clone());
        let client = ClientKind {
            archs: req.archs.clone(),
            ipxe: req.ipxe,
        };
        let boot = BootSelector::new(&s.boot_files).choose(
            &client,
            view.host.as_ref(),
            view.group.as_ref(),
        );
        if let Some(file) = boot {
            r.boot_file = Some(file);
            r.tftp_server = Some(s.server_addr.to_string());
        }
        if req.vendor_class_is("PXEClient") {
            r.vendor_class = Some("PXEClient".into());
            r.pxe_discovery_control = !req.ipxe;
        } else if req.vendor_class_is("HTTPClient") {
            r.vendor_class = Some("HTTPClient".into());
        }
        r.ipxe_no_proxydhcp = req.ipxe;
        r.relay_agent = req.relay_agent.clone();
        r
    }
}
