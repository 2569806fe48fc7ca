//! The `[[nodes]]` list: converting each entry and the cluster-wide membership
//! rules (unique ids, names and addresses, voter/witness makeup, and no two
//! nodes on one machine listening on the same port).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;

use toml::Spanned;

use super::wire::WireNode;
use super::{NodeEntry, Role, Services};
use crate::net::parse_cidr;
use crate::source::Source;
use crate::ConfigError;

/// Converts and checks every `[[nodes]]` entry; the result is sorted by id.
pub(crate) fn build_nodes(
    src: &Source<'_>,
    wire: &[Spanned<WireNode>],
) -> Result<Vec<NodeEntry>, ConfigError> {
    if wire.is_empty() {
        return Err(src.error(
            None,
            "nodes",
            "no [[nodes]] are listed; the cluster needs at least one voter",
        ));
    }
    let mut nodes = Vec::with_capacity(wire.len());
    let mut ids: HashMap<u64, usize> = HashMap::new();
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut sockets: HashMap<SocketAddr, (usize, &str)> = HashMap::new();
    let mut lans: HashMap<Ipv4Addr, usize> = HashMap::new();
    let mut witnesses = 0;
    for (i, w) in wire.iter().enumerate() {
        let n = w.get_ref();
        let node = build_node(src, n)?;
        if let Some(&first) = ids.get(&node.id) {
            return Err(src.error(
                Some(n.id.span()),
                "nodes.id",
                format!(
                    "duplicate node id {} (already used by node {})",
                    node.id,
                    nodes_name(&nodes, first)
                ),
            ));
        }
        ids.insert(node.id, i);
        if let Some(&first) = names.get(node.name.as_str()) {
            return Err(src.error(
                Some(n.name.span()),
                "nodes.name",
                format!(
                    "duplicate node name {:?} (already used by node id {})",
                    node.name,
                    nodes_id(&nodes, first)
                ),
            ));
        }
        names.insert(n.name.get_ref().trim(), i);
        for (key, addr, span) in [
            ("peer_addr", node.peer_addr, n.peer_addr.span()),
            ("admin_addr", node.admin_addr, n.admin_addr.span()),
        ] {
            if let Some(&(first, first_key)) = sockets.get(&addr) {
                let owner = if first == i {
                    node.name.as_str()
                } else {
                    nodes_name(&nodes, first)
                };
                return Err(src.error(
                    Some(span),
                    format!("nodes.{key}"),
                    format!("{key} {addr} is already the {first_key} of node {owner}"),
                ));
            }
            sockets.insert(addr, (i, key));
        }
        if let (Some((ip, _)), Some(span)) = (node.lan, n.lan.as_ref().map(Spanned::span)) {
            if let Some(&first) = lans.get(&ip) {
                return Err(src.error(
                    Some(span),
                    "nodes.lan",
                    format!(
                        "lan address {ip} is already used by node {}",
                        nodes_name(&nodes, first)
                    ),
                ));
            }
            lans.insert(ip, i);
        }
        if node.role == Role::Witness {
            witnesses += 1;
            if witnesses > 1 {
                return Err(src.error(
                    n.role.as_ref().map(Spanned::span),
                    "nodes.role",
                    format!(
                        "node {} is a second witness; at most one witness is supported \
                         (make it a voter or remove it)",
                        node.name
                    ),
                ));
            }
        }
        nodes.push(node);
    }
    if !nodes.iter().any(NodeEntry::is_voter) {
        let witness = wire
            .iter()
            .find_map(|w| w.get_ref().role.as_ref().map(Spanned::span));
        return Err(src.error(
            witness,
            "nodes.role",
            "no node has role \"voter\": a witness cannot be the only voter; \
             list at least one voter (a witness-only cluster cannot serve or lead)",
        ));
    }
    check_shared_hosts(src, wire, &nodes)?;
    nodes.sort_by_key(|n| n.id);
    Ok(nodes)
}

fn nodes_name(nodes: &[NodeEntry], i: usize) -> &str {
    nodes.get(i).map_or("?", |n| n.name.as_str())
}

fn nodes_id(nodes: &[NodeEntry], i: usize) -> u64 {
    nodes.get(i).map_or(0, |n| n.id)
}

/// Converts one entry: name, addresses, lan and services.
fn build_node(src: &Source<'_>, n: &WireNode) -> Result<NodeEntry, ConfigError> {
    let name = n.name.get_ref().trim();
    if name.is_empty() {
        return Err(src.error(Some(n.name.span()), "nodes.name", "name must not be empty"));
    }
    let peer_addr = socket(src, &n.peer_addr, "peer_addr")?;
    if peer_addr.ip().is_unspecified() {
        return Err(src.error(
            Some(n.peer_addr.span()),
            "nodes.peer_addr",
            format!("peer_addr {peer_addr} must be an address other nodes can connect to, not a wildcard"),
        ));
    }
    let admin_addr = socket(src, &n.admin_addr, "admin_addr")?;
    let lan = match &n.lan {
        None => None,
        Some(l) => Some(
            parse_cidr(l.get_ref())
                .map_err(|m| src.error(Some(l.span()), "nodes.lan", format!("lan {m}")))?,
        ),
    };
    Ok(NodeEntry {
        id: *n.id.get_ref(),
        name: name.to_string(),
        role: n.role.as_ref().map_or(Role::Voter, |r| *r.get_ref()),
        peer_addr,
        admin_addr,
        lan,
        services: Services::from_wire(src, n.services.as_ref())?,
    })
}

fn socket(src: &Source<'_>, s: &Spanned<String>, key: &str) -> Result<SocketAddr, ConfigError> {
    let text = s.get_ref().trim();
    let addr: SocketAddr = text.parse().map_err(|_| {
        src.error(
            Some(s.span()),
            format!("nodes.{key}"),
            format!("{key} {text:?} is not an ip:port address like \"127.0.0.1:7101\""),
        )
    })?;
    if addr.port() == 0 {
        return Err(src.error(
            Some(s.span()),
            format!("nodes.{key}"),
            format!("{key} {addr} needs a port other than 0"),
        ));
    }
    Ok(addr)
}

/// Nodes whose `peer_addr` shares an IP run on one machine: their listeners
/// (peer, admin and — for voters — boot services) must not share a port on
/// overlapping bind addresses. Port 0 is ignored.
fn check_shared_hosts(
    src: &Source<'_>,
    wire: &[Spanned<WireNode>],
    nodes: &[NodeEntry],
) -> Result<(), ConfigError> {
    // (host, bind ip, port, node index, key) for every listener seen so far.
    let mut seen: Vec<(IpAddr, IpAddr, u16, usize, &str)> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let host = node.peer_addr.ip();
        let mut listeners = vec![
            (node.peer_addr.ip(), node.peer_addr.port(), "peer_addr"),
            (node.admin_addr.ip(), node.admin_addr.port(), "admin_addr"),
        ];
        if node.is_voter() {
            let bind = node.services.bind;
            listeners.extend(node.services.ports().iter().map(|(k, p)| (bind, *p, *k)));
        }
        for (bind, port, key) in listeners {
            if port == 0 {
                continue;
            }
            let clash = seen.iter().find(|(h, b, p, _, _)| {
                *h == host
                    && *p == port
                    && (b == &bind || b.is_unspecified() || bind.is_unspecified())
            });
            if let Some((_, _, _, j, other_key)) = clash {
                let span = wire.get(i).map(|w| key_span(w, key));
                let full_key = match key {
                    "peer_addr" | "admin_addr" => format!("nodes.{key}"),
                    k => format!("nodes.services.{k}"),
                };
                return Err(src.error(
                    span,
                    full_key,
                    format!(
                        "{key} of node {} and {other_key} of node {} would both listen on \
                         port {port} of host {host}",
                        node.name,
                        nodes_name(nodes, *j)
                    ),
                ));
            }
            seen.push((host, bind, port, i, key));
        }
    }
    Ok(())
}

/// The best span for a key of one node: the key itself, its table, or the entry.
fn key_span(entry: &Spanned<WireNode>, key: &str) -> Range<usize> {
    let w = entry.get_ref();
    match key {
        "peer_addr" => w.peer_addr.span(),
        "admin_addr" => w.admin_addr.span(),
        _ => {
            let Some(services) = w.services.as_ref() else {
                return entry.span();
            };
            let s = services.get_ref();
            let port = match key {
                "dhcp_port" => &s.dhcp_port,
                "tftp_port" => &s.tftp_port,
                "http_port" => &s.http_port,
                "nfs_port" => &s.nfs_port,
                "mount_port" => &s.mount_port,
                _ => &s.portmap_port,
            };
            port.as_ref().map_or_else(|| services.span(), Spanned::span)
        }
    }
}
