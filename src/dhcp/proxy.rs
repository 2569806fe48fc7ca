//! proxyDHCP (`[dhcp] mode = "proxy"`, PXE spec 2.1 and RFC 4578): another DHCP server
//! owns the addresses; this one answers only PXE clients (option 60 `PXEClient`), and
//! only with what they need to boot: no `yiaddr`, no lease time, mask, router or DNS.
//!
//! - Port 67: a DISCOVER gets a proxy OFFER (`yiaddr` 0.0.0.0, option 60 `PXEClient`,
//!   option 54 and `siaddr`/option 66 = the next-server address, the boot file in `file`
//!   and option 67, option 43 PXE discovery control = 8: boot that file, no boot-server
//!   discovery). The client combines it with the address server's OFFER. Its REQUEST
//!   names the address server and is ignored here.
//! - Port [`cluster_config::PXE_PORT`] (4011): the DHCPREQUEST (or INFORM) a PXE client
//!   sends to the proxy after it has its address (`ciaddr`) gets a proxy ACK with the
//!   same boot options, sent back to where the request came from.
//!
//! iPXE clients get no option 175/176 here: it would tell iPXE *not* to wait for the
//! proxyDHCP offer this mode exists to send. Nothing here touches Raft.

use std::net::Ipv4Addr;

use cluster_config::UnknownClients;

use super::policy::{Plan, Policy};
use super::reply::ReplyKind;
use super::request::{DhcpRequest, Kind};
use super::view::ClientView;

/// Which socket a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// The DHCP server port (67).
    Dhcp,
    /// The PXE boot-server port (4011).
    Pxe,
}

/// The proxyDHCP answer to `req`.
pub fn proxy_plan(policy: &Policy<'_>, req: &DhcpRequest, view: &ClientView, port: Port) -> Plan {
    if !req.vendor_class_is("PXEClient") {
        return Plan::Drop("not_pxe_client");
    }
    if view.host.is_none() {
        match policy.settings().unknown_clients {
            UnknownClients::Ignore => return Plan::Drop("unknown_client"),
            UnknownClients::Register if view.group.is_none() => {
                return Plan::Drop("no_registration_group")
            }
            _ => {}
        }
    }
    let kind = match (port, req.kind) {
        (Port::Dhcp, Kind::Discover) => ReplyKind::Offer,
        (Port::Pxe, Kind::Request | Kind::Inform) => ReplyKind::Ack,
        // The REQUEST to the address server, RELEASE, DECLINE: not ours.
        _ => return Plan::Drop("proxy_not_answered"),
    };
    let mut r = policy.build(req, view, kind, Ipv4Addr::UNSPECIFIED);
    r.ciaddr = if kind == ReplyKind::Ack {
        req.ciaddr
    } else {
        Ipv4Addr::UNSPECIFIED
    };
    r.lease_secs = None;
    r.subnet_mask = None;
    r.router = None;
    r.dns.clear();
    r.domain = None;
    r.hostname = None;
    r.vendor_class = Some("PXEClient".into());
    r.pxe_discovery_control = true;
    r.ipxe_no_proxydhcp = false;
    Plan::Reply(Box::new(r))
}
