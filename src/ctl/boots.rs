//! `bootctl boots`: each machine's boot timeline, merged from every boot server's tracker
//! (the VIP can move mid-boot, so one node may have seen the DHCP exchange and another the
//! kernel download). Fetching is in [`fetch`]; merging and rendering are pure.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::client::{AdminClient, CtlError};
use crate::api::types::{NodeBoots, NodeStatus};
use crate::failover::render::utc;

/// One stage as one node saw it, placed on a machine's timeline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BootEvent {
    /// First time the node saw the stage, ms since the epoch.
    pub first_ms: u64,
    /// The node that served it.
    pub node: String,
    pub stage: String,
    /// Latest time, ms since the epoch.
    pub last_ms: u64,
    pub count: u64,
    pub path: String,
}

/// One machine's timeline across the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    /// The MAC (or the address when no node could tell the MAC).
    pub key: String,
    pub host: Option<String>,
    pub last_addr: Option<String>,
    pub events: Vec<BootEvent>,
}

/// What `bootctl boots --json` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BootsReport {
    pub machines: Vec<Timeline>,
    /// Nodes that could not be asked, with the reason.
    pub unreachable: Vec<(String, String)>,
}

/// Nodes that could not be asked: (name, reason).
pub type Unreachable = Vec<(String, String)>;

/// Ask every boot server (not witnesses) for its tracker.
pub fn fetch(c: &AdminClient) -> Result<(Vec<NodeBoots>, Unreachable), CtlError> {
    let first: NodeStatus = c.get("/v1/status")?;
    let mut got = Vec::new();
    let mut unreachable = Vec::new();
    for m in first.members.iter().filter(|m| !m.witness) {
        match c.for_node(&m.admin_addr).get::<NodeBoots>("/v1/boots") {
            Ok(b) => got.push(b),
            Err(e) => unreachable.push((m.name.clone(), e.to_string())),
        }
    }
    Ok((got, unreachable))
}

/// Merge every node's records into one timeline per machine, newest machine last. With
/// `host`, only machines whose name, MAC or address equals it (case-insensitive).
pub fn merge(nodes: &[NodeBoots], host: Option<&str>) -> Vec<Timeline> {
    let mut by_key: BTreeMap<String, Timeline> = BTreeMap::new();
    let mut last_seen: BTreeMap<String, u64> = BTreeMap::new();
    for n in nodes {
        for b in &n.boots {
            let t = by_key.entry(b.key.clone()).or_insert_with(|| Timeline {
                key: b.key.clone(),
                host: None,
                last_addr: None,
                events: Vec::new(),
            });
            if t.host.is_none() {
                t.host.clone_from(&b.host);
            }
            let seen = last_seen.entry(b.key.clone()).or_insert(0);
            if b.last_ms >= *seen {
                *seen = b.last_ms;
                t.last_addr.clone_from(&b.last_addr);
            }
            for s in &b.stages {
                t.events.push(BootEvent {
                    first_ms: s.first_ms,
                    node: n.name.clone(),
                    stage: s.stage.clone(),
                    last_ms: s.last_ms,
                    count: s.count,
                    path: s.last_path.clone(),
                });
            }
        }
    }
    let wanted = host.map(str::to_ascii_lowercase);
    let mut out: Vec<Timeline> = by_key
        .into_values()
        .filter(|t| match &wanted {
            None => true,
            Some(w) => {
                t.key.to_ascii_lowercase() == *w
                    || t.host.as_deref().map(str::to_ascii_lowercase).as_deref() == Some(w)
                    || t.last_addr.as_deref() == Some(w.as_str())
            }
        })
        .map(|mut t| {
            // Same millisecond (an OFFER and its ACK often are): boot order decides.
            t.events.sort_by(|a, b| {
                (a.first_ms, stage_rank(&a.stage), &a.node, a.last_ms).cmp(&(
                    b.first_ms,
                    stage_rank(&b.stage),
                    &b.node,
                    b.last_ms,
                ))
            });
            t
        })
        .collect();
    out.sort_by_key(|t| t.events.last().map_or(0, |e| e.last_ms));
    out
}

/// Where a stage comes in a network boot (unknown names last).
pub fn stage_rank(stage: &str) -> u8 {
    match stage {
        "dhcp-offer" => 0,
        "dhcp-ack" => 1,
        "loader" => 2,
        "config" => 3,
        "kernel" => 4,
        "initrd" => 5,
        "other" => 6,
        "nfs-mount" => 7,
        _ => 8,
    }
}

/// One timeline line (shared by the table and `--follow`).
pub fn event_line(base_ms: u64, e: &BootEvent) -> String {
    let rel = e.first_ms.saturating_sub(base_ms);
    let repeats = if e.count > 1 {
        format!(
            " (x{}, last +{:.3}s)",
            e.count,
            e.last_ms.saturating_sub(base_ms) as f64 / 1000.0
        )
    } else {
        String::new()
    };
    format!(
        "  +{:>8.3}s  {:<10} {:<10} {}{}",
        rel as f64 / 1000.0,
        e.node,
        e.stage,
        e.path,
        repeats
    )
}

/// The heading of one machine.
pub fn heading(t: &Timeline) -> String {
    let name = t.host.as_deref().unwrap_or("(unknown host)");
    let start = t.events.first().map_or(0, |e| e.first_ms);
    format!(
        "{name} {} at {} (first seen {})",
        t.key,
        t.last_addr.as_deref().unwrap_or("?"),
        utc(start)
    )
}

/// The table `bootctl boots` prints.
pub fn render(r: &BootsReport) -> String {
    let mut o = String::new();
    if r.machines.is_empty() {
        o.push_str("no boots seen\n");
    }
    for t in &r.machines {
        let _ = writeln!(o, "{}", heading(t));
        let base = t.events.first().map_or(0, |e| e.first_ms);
        for e in &t.events {
            let _ = writeln!(o, "{}", event_line(base, e));
        }
    }
    for (n, e) in &r.unreachable {
        let _ = writeln!(o, "note: {n} not asked: {e}");
    }
    o
}

/// For `--follow`: the lines of `now` not printed before (tracked in `printed`), with a
/// heading for a machine the first time it shows up.
pub fn new_lines(now: &[Timeline], printed: &mut BTreeSet<(String, BootEvent)>) -> Vec<String> {
    let mut out = Vec::new();
    for t in now {
        let base = t.events.first().map_or(0, |e| e.first_ms);
        let known = printed.iter().any(|(k, _)| *k == t.key);
        let fresh: Vec<&BootEvent> = t
            .events
            .iter()
            .filter(|e| !printed.contains(&(t.key.clone(), (*e).clone())))
            .collect();
        if fresh.is_empty() {
            continue;
        }
        if !known {
            out.push(heading(t));
        }
        for e in fresh {
            let label = t.host.as_deref().unwrap_or(&t.key);
            out.push(format!("{label}{}", event_line(base, e)));
            printed.insert((t.key.clone(), e.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::{BootStageView, BootView};

    fn stage(stage: &str, first_ms: u64, count: u64) -> BootStageView {
        BootStageView {
            stage: stage.into(),
            first_ms,
            last_ms: first_ms + 10 * count.saturating_sub(1),
            count,
            last_path: format!("/{stage}"),
        }
    }

    fn node(name: &str, boots: Vec<BootView>) -> NodeBoots {
        NodeBoots {
            id: 1,
            name: name.into(),
            boots,
        }
    }

    fn boot(key: &str, host: Option<&str>, stages: Vec<BootStageView>) -> BootView {
        BootView {
            key: key.into(),
            host: host.map(str::to_string),
            last_addr: Some("10.0.0.50".into()),
            last_ms: stages.iter().map(|s| s.last_ms).max().unwrap_or(0),
            stages,
        }
    }

    #[test]
    fn merges_two_nodes_into_one_ordered_timeline() {
        let mac = "52:54:00:00:00:01";
        let a = node(
            "node1",
            vec![boot(
                mac,
                Some("web1"),
                vec![stage("dhcp-ack", 1000, 1), stage("loader", 1100, 1)],
            )],
        );
        // node2 took over (VIP moved) and served the kernel; it does not know the host name.
        let b = node(
            "node2",
            vec![boot(mac, None, vec![stage("kernel", 1050, 3)])],
        );
        let m = merge(&[a, b], None);
        assert_eq!(m.len(), 1);
        let t = &m[0];
        assert_eq!(t.host.as_deref(), Some("web1"));
        let order: Vec<(&str, &str)> = t
            .events
            .iter()
            .map(|e| (e.node.as_str(), e.stage.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("node1", "dhcp-ack"),
                ("node2", "kernel"),
                ("node1", "loader")
            ]
        );
        let table = render(&BootsReport {
            machines: m.clone(),
            unreachable: vec![],
        });
        assert!(table.contains("web1 52:54:00:00:00:01"), "{table}");
        assert!(
            table.contains("+   0.050s  node2      kernel     /kernel (x3, last +0.070s)"),
            "{table}"
        );
    }

    #[test]
    fn same_millisecond_stages_keep_boot_order() {
        let mac = "52:54:00:00:00:01";
        let n = node(
            "node1",
            vec![boot(
                mac,
                None,
                vec![stage("dhcp-ack", 7, 1), stage("dhcp-offer", 7, 1)],
            )],
        );
        let m = merge(&[n], None);
        let order: Vec<&str> = m[0].events.iter().map(|e| e.stage.as_str()).collect();
        assert_eq!(order, ["dhcp-offer", "dhcp-ack"]);
    }

    #[test]
    fn host_filter_matches_name_mac_or_address() {
        let nodes = [node(
            "node1",
            vec![
                boot(
                    "52:54:00:00:00:01",
                    Some("web1"),
                    vec![stage("loader", 5, 1)],
                ),
                boot(
                    "52:54:00:00:00:02",
                    Some("web2"),
                    vec![stage("loader", 6, 1)],
                ),
            ],
        )];
        assert_eq!(merge(&nodes, Some("WEB2")).len(), 1);
        assert_eq!(
            merge(&nodes, Some("52:54:00:00:00:01"))[0].host.as_deref(),
            Some("web1")
        );
        assert_eq!(merge(&nodes, Some("10.0.0.50")).len(), 2);
        assert!(merge(&nodes, Some("web3")).is_empty());
    }

    #[test]
    fn follow_prints_each_event_once() {
        let mac = "52:54:00:00:00:01";
        let mut printed = BTreeSet::new();
        let first = merge(
            &[node(
                "node1",
                vec![boot(mac, Some("web1"), vec![stage("dhcp-ack", 1, 1)])],
            )],
            None,
        );
        let l1 = new_lines(&first, &mut printed);
        assert_eq!(l1.len(), 2, "{l1:?}"); // heading + event
        assert!(new_lines(&first, &mut printed).is_empty());
        let second = merge(
            &[node(
                "node1",
                vec![boot(
                    mac,
                    Some("web1"),
                    vec![stage("dhcp-ack", 1, 1), stage("loader", 20, 1)],
                )],
            )],
            None,
        );
        let l2 = new_lines(&second, &mut printed);
        assert_eq!(l2.len(), 1, "{l2:?}");
        assert!(l2[0].contains("loader"));
    }
}
