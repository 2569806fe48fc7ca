//! Prometheus text exposition of a node's metrics, rendered at scrape time from openraft's
//! metrics watch and the counters the stores, peer network and API keep.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::api::AppState;
use crate::bootfiles::StatsSnapshot;

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// Render every metric of this node.
pub fn render(st: &AppState) -> String {
    let m = st.raft.metrics().borrow().clone();
    let mut o = String::new();
    let is_leader = u64::from(m.current_leader == Some(m.id));
    metric(
        &mut o,
        "raftboot_raft_term",
        "gauge",
        "Current Raft term.",
        m.current_term,
    );
    metric(
        &mut o,
        "raftboot_raft_is_leader",
        "gauge",
        "1 if this node is the Raft leader.",
        is_leader,
    );
    metric(
        &mut o,
        "raftboot_raft_has_leader",
        "gauge",
        "1 if this node knows a leader.",
        u64::from(m.current_leader.is_some()),
    );
    metric(
        &mut o,
        "raftboot_raft_last_log_index",
        "gauge",
        "Index of the last log entry.",
        m.last_log_index.unwrap_or(0),
    );
    metric(
        &mut o,
        "raftboot_raft_applied_index",
        "gauge",
        "Index of the last applied entry.",
        m.last_applied.map(|l| l.index).unwrap_or(0),
    );
    let _ = writeln!(o, "# HELP raftboot_raft_replication_lag Entries a follower is behind the leader (leader only).\n# TYPE raftboot_raft_replication_lag gauge");
    if let Some(r) = &m.replication {
        let last = m.last_log_index.unwrap_or(0);
        for (id, matched) in r.iter() {
            let lag = last.saturating_sub(matched.map(|l| l.index).unwrap_or(0));
            let _ = writeln!(o, "raftboot_raft_replication_lag{{target=\"{id}\"}} {lag}");
        }
    }
    let s = &st.shared.stats;
    metric(
        &mut o,
        "raftboot_commands_applied_total",
        "counter",
        "Log entries applied to the state machine.",
        s.applied.load(Ordering::Relaxed),
    );
    metric(
        &mut o,
        "raftboot_snapshots_built_total",
        "counter",
        "Snapshots built.",
        s.snapshots_built.load(Ordering::Relaxed),
    );
    metric(
        &mut o,
        "raftboot_snapshots_installed_total",
        "counter",
        "Snapshots installed from the leader.",
        s.snapshots_installed.load(Ordering::Relaxed),
    );
    metric(
        &mut o,
        "raftboot_log_flushes_total",
        "counter",
        "fsyncs of the sled log.",
        st.log_flushes.load(Ordering::Relaxed),
    );
    let p = &st.peer_stats;
    metric(
        &mut o,
        "raftboot_peer_handshakes_total",
        "counter",
        "Authenticated peer connections.",
        p.handshakes_ok.load(Ordering::Relaxed),
    );
    let _ = writeln!(o, "# HELP raftboot_peer_refused_total Peer connections or RPCs refused, by reason.\n# TYPE raftboot_peer_refused_total counter");
    for (reason, v) in [
        ("secret", &p.refused_secret),
        ("identity", &p.refused_identity),
        ("rpc_sender", &p.refused_rpc_sender),
        ("malformed", &p.malformed_frames),
        ("tls", &p.refused_tls),
    ] {
        let _ = writeln!(
            o,
            "raftboot_peer_refused_total{{reason=\"{reason}\"}} {}",
            v.load(Ordering::Relaxed)
        );
    }
    metric(
        &mut o,
        "raftboot_peer_rpcs_total",
        "counter",
        "Peer RPCs served.",
        p.rpcs_served.load(Ordering::Relaxed),
    );
    metric(
        &mut o,
        "raftboot_admin_requests_total",
        "counter",
        "Authenticated admin API calls attempted.",
        st.api_requests.load(Ordering::Relaxed),
    );
    metric(
        &mut o,
        "raftboot_admin_unauthorized_total",
        "counter",
        "Admin API calls refused for a bad token.",
        st.api_unauthorized.load(Ordering::Relaxed),
    );
    metric(
        &mut o,
        "raftboot_admin_forbidden_total",
        "counter",
        "Admin API calls refused because the token's scope does not allow them.",
        st.api_forbidden.load(Ordering::Relaxed),
    );
    let r = &st.replica_stats;
    metric(
        &mut o,
        "raftboot_blobs_fetched_total",
        "counter",
        "Blobs pulled from peers and verified.",
        r.blobs_fetched.load(Ordering::Relaxed),
    );
    metric(
        &mut o,
        "raftboot_blob_bytes_fetched_total",
        "counter",
        "Bytes of blobs pulled from peers.",
        r.bytes_fetched.load(Ordering::Relaxed),
    );
    metric(
        &mut o,
        "raftboot_blob_fetch_errors_total",
        "counter",
        "Blob fetches that failed.",
        r.fetch_errors.load(Ordering::Relaxed),
    );
    let v = &st.vip_stats;
    metric(
        &mut o,
        "raftboot_vip_held",
        "gauge",
        "1 while this node holds the VIP.",
        v.held.load(Ordering::Relaxed),
    );
    metric(
        &mut o,
        "raftboot_vip_claims_total",
        "counter",
        "VIP claims.",
        v.claims.load(Ordering::Relaxed),
    );
    metric(
        &mut o,
        "raftboot_vip_releases_total",
        "counter",
        "VIP releases.",
        v.releases.load(Ordering::Relaxed),
    );
    metric(
        &mut o,
        "raftboot_vip_errors_total",
        "counter",
        "VIP claim/release errors.",
        v.errors.load(Ordering::Relaxed),
    );
    let f = &st.failover.stats;
    metric(
        &mut o,
        "raftboot_failover_completed_total",
        "counter",
        "Planned failovers this node led that moved leadership.",
        f.completed.load(Ordering::Relaxed),
    );
    metric(
        &mut o,
        "raftboot_failover_failed_total",
        "counter",
        "Planned failovers refused or not completed on this node.",
        f.failed.load(Ordering::Relaxed),
    );
    let mut nfs: Vec<(&str, &str, u64)> = Vec::new();
    for c in &st.nfs_counters {
        for (i, (name, help, v)) in c.snapshot().into_iter().enumerate() {
            match nfs.get_mut(i) {
                Some(e) => e.2 += v,
                None => nfs.push((name, help, v)),
            }
        }
    }
    for (name, help, v) in nfs {
        let full = format!("raftboot_{name}");
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        metric(&mut o, &full, kind, help, v);
    }
    if let Some(store) = &st.store {
        let c = store.chunk_cache();
        metric(
            &mut o,
            "raftboot_cas_chunk_cache_hits_total",
            "counter",
            "64 KiB chunks served from the verified chunk cache.",
            c.hits.load(Ordering::Relaxed),
        );
        metric(
            &mut o,
            "raftboot_cas_chunk_cache_misses_total",
            "counter",
            "64 KiB chunks the serving path read and verified from disk.",
            c.misses.load(Ordering::Relaxed),
        );
        metric(
            &mut o,
            "raftboot_cas_chunk_cache_bytes",
            "gauge",
            "Bytes of verified chunks held in memory.",
            c.bytes() as u64,
        );
    }
    if let Some(d) = &st.dhcp {
        d.render(&mut o);
    }
    render_boot_files(&mut o, st);
    if let Some(t) = &st.takeover {
        for (name, help, v) in [
            (
                "notices_dropped",
                "Transfer notices dropped (a peer queue was full).",
                &t.notices_dropped,
            ),
            (
                "send_errors",
                "Transfer notice batches a peer did not take.",
                &t.send_errors,
            ),
            (
                "resumed",
                "Transfers resumed after a VIP claim.",
                &t.resumed,
            ),
            (
                "resume_errors",
                "Transfers that could not be resumed.",
                &t.resume_errors,
            ),
        ] {
            metric(
                &mut o,
                &format!("raftboot_tftp_takeover_{name}_total"),
                "counter",
                help,
                v.load(Ordering::Relaxed),
            );
        }
    }
    let data = st.shared.read();
    metric(
        &mut o,
        "raftboot_hosts",
        "gauge",
        "Hosts in the replicated host table.",
        data.state.hosts.len() as u64,
    );
    metric(
        &mut o,
        "raftboot_leases",
        "gauge",
        "Leases in the replicated lease table.",
        data.state.leases.len() as u64,
    );
    crate::api::backup::COUNTERS.render(&mut o, metric);
    render_ops(&mut o, st, &data.state, m.id);
    o
}

/// Gauges the alert rules in docs/alerts/ are built on: per-pool DHCP address use, this
/// node's readiness for every image, and the free space of the data dir's file system.
fn render_ops(o: &mut String, st: &AppState, state: &raftboot_raft::state::State, me: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let _ = writeln!(o, "# HELP raftboot_dhcp_pool_addresses Addresses in a pool's range.\n# TYPE raftboot_dhcp_pool_addresses gauge");
    let _ = writeln!(o, "# HELP raftboot_dhcp_pool_used Addresses of a pool held by a live lease or a host's fixed address.\n# TYPE raftboot_dhcp_pool_used gauge");
    for (name, size, used) in pool_usage(state, now) {
        let _ = writeln!(
            o,
            "raftboot_dhcp_pool_addresses{{pool=\"{name}\"}} {size}\nraftboot_dhcp_pool_used{{pool=\"{name}\"}} {used}"
        );
    }
    if st.store.is_some() {
        let _ = writeln!(o, "# HELP raftboot_image_ready 1 if this boot server holds every blob of the image, verified.\n# TYPE raftboot_image_ready gauge");
        for name in state.images.keys() {
            let ready = state
                .readiness
                .get(name)
                .and_then(|r| r.get(&me))
                .is_some_and(|r| r.ready);
            let _ = writeln!(
                o,
                "raftboot_image_ready{{image=\"{name}\"}} {}",
                u8::from(ready)
            );
        }
    }
    // statvfs counts are u64 on 64-bit Linux but narrower on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    if let Ok(fs) = nix::sys::statvfs::statvfs(st.data_dir.as_path()) {
        let frag = u64::from(fs.fragment_size());
        metric(
            o,
            "raftboot_data_dir_free_bytes",
            "gauge",
            "Bytes available to bootd on the data dir's file system.",
            u64::from(fs.blocks_available()).saturating_mul(frag),
        );
        metric(
            o,
            "raftboot_data_dir_size_bytes",
            "gauge",
            "Size of the data dir's file system.",
            u64::from(fs.blocks()).saturating_mul(frag),
        );
    }
}

/// `(pool, addresses in its range, addresses in use)` for every pool: live leases (not
/// expired at `now_ms`) of the pool plus fixed host addresses inside its range.
pub fn pool_usage(state: &raftboot_raft::state::State, now_ms: u64) -> Vec<(String, u64, u64)> {
    state
        .pools
        .values()
        .map(|p| {
            let (a, b) = (u32::from(p.start), u32::from(p.end));
            let size = u64::from(b.saturating_sub(a)) + u64::from(a <= b);
            let in_range = |ip: std::net::Ipv4Addr| (a..=b).contains(&u32::from(ip));
            let leased = state
                .leases
                .values()
                .filter(|l| l.pool == p.name && l.expires_ms > now_ms && in_range(l.ip))
                .count() as u64;
            let fixed = state
                .hosts
                .values()
                .filter_map(|h| h.ip)
                .filter(|ip| {
                    in_range(*ip) && state.leases.get(ip).is_none_or(|l| l.expires_ms <= now_ms)
                })
                .count() as u64;
            (p.name.clone(), size, (leased + fixed).min(size))
        })
        .collect()
}

/// TFTP and HTTP boot counters (one series per protocol) and the boot tracker's size.
fn render_boot_files(o: &mut String, st: &AppState) {
    let protos: Vec<(&str, StatsSnapshot)> = [("tftp", &st.tftp_stats), ("http", &st.http_stats)]
        .into_iter()
        .filter_map(|(p, s)| s.as_ref().map(|s| (p, s.snapshot())))
        .collect();
    if !protos.is_empty() {
        type Series = (&'static str, &'static str, fn(&StatsSnapshot) -> u64);
        let series: [Series; 11] = [
            ("requests_total", "Boot-file requests received.", |s| {
                s.requests
            }),
            ("bytes_total", "Boot-file payload bytes sent.", |s| s.bytes),
            ("completed_total", "Boot files sent to the end.", |s| {
                s.completed
            }),
            ("not_found_total", "Requests for unknown names.", |s| {
                s.not_found
            }),
            (
                "traversal_refused_total",
                "Paths refused before lookup (.., NUL, ...).",
                |s| s.traversal_refused,
            ),
            (
                "write_refused_total",
                "Write requests refused (read-only service).",
                |s| s.write_refused,
            ),
            (
                "corrupt_total",
                "Reads that hit a corrupt blob (nothing bad was sent).",
                |s| s.corrupt,
            ),
            (
                "unavailable_total",
                "Requests for images or blobs not on this node yet.",
                |s| s.unavailable,
            ),
            (
                "errors_total",
                "Other failures (I/O, transfers abandoned by the client).",
                |s| s.other_errors,
            ),
            (
                "malformed_total",
                "Requests that did not decode (counted, dropped).",
                |s| s.malformed,
            ),
            (
                "resumed_total",
                "Transfers taken over from another node after a VIP move.",
                |s| s.resumed,
            ),
        ];
        for (name, help, get) in series {
            let _ = writeln!(o, "# HELP raftboot_bootfile_{name} {help}");
            let _ = writeln!(o, "# TYPE raftboot_bootfile_{name} counter");
            for (proto, snap) in &protos {
                let _ = writeln!(
                    o,
                    "raftboot_bootfile_{name}{{proto=\"{proto}\"}} {}",
                    get(snap)
                );
            }
        }
    }
    if let Some(t) = &st.boots {
        metric(
            o,
            "raftboot_boots_tracked",
            "gauge",
            "Machines in this node's boot tracker.",
            t.len() as u64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftboot_raft::state::{Host, Lease, Pool, State};
    use std::net::Ipv4Addr;

    #[test]
    fn pool_usage_counts_live_leases_and_fixed_hosts_in_range() {
        let mut s = State::default();
        s.pools.insert(
            "lab".into(),
            Pool {
                name: "lab".into(),
                start: Ipv4Addr::new(10, 0, 1, 100),
                end: Ipv4Addr::new(10, 0, 1, 109),
                prefix: 24,
                router: None,
                dns: vec![],
            },
        );
        for (i, exp) in [(100u8, 2000u64), (101, 500), (150, 2000)] {
            let ip = Ipv4Addr::new(10, 0, 1, i);
            s.leases.insert(
                ip,
                Lease {
                    ip,
                    mac: format!("52:54:00:00:00:{i:02x}")
                        .parse()
                        .unwrap_or_default(),
                    pool: "lab".into(),
                    granted_ms: 0,
                    expires_ms: exp,
                },
            );
        }
        for (n, ip) in [
            (1u8, Some(Ipv4Addr::new(10, 0, 1, 105))),
            (2, Some(Ipv4Addr::new(10, 0, 2, 5))),
            (3, None),
        ] {
            let mac = format!("52:54:00:00:01:{n:02x}")
                .parse()
                .unwrap_or_default();
            s.hosts.insert(
                mac,
                Host {
                    mac,
                    name: format!("h{n}"),
                    group: "default".into(),
                    ip,
                    boot_file: None,
                    kernel_args: None,
                },
            );
        }
        // .100 live, .101 expired at 1000, .150 outside the range; host .105 inside.
        assert_eq!(pool_usage(&s, 1000), vec![("lab".to_string(), 10, 2)]);
        // Later every lease has expired: only the fixed host is left.
        assert_eq!(pool_usage(&s, 5000), vec![("lab".to_string(), 10, 1)]);
    }
}
