//! bootctl's side of `bootctl failover [--to NODE] [--drill]`: find the leader, ask it to
//! fail over (`POST /v1/failover`), and for a drill probe DHCP, TFTP and NFS on the VIP
//! from this host, read every node's recorded VIP moves, and build the timeline
//! ([`crate::failover::timeline`]).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use raftboot_raft::peer::wall_clock_ms;
use raftboot_raft::{Mac, NodeId};

use super::client::{AdminClient, CtlError};
use super::commands::{cluster_status, ClusterStatus};
use super::probe::{self, Answer};
use crate::api::types::{FailoverReport, FailoverRequest};
use crate::failover::timeline::{build, Budgets, DrillFacts, ProbeResult, Timeline};

/// How long the drill waits for the VIP to be held by the leader before it starts.
const SETTLE: Duration = Duration::from_secs(10);
/// One probe attempt's wait for an answer (a LAN answers in milliseconds; a short wait
/// keeps the measured time close to when the service came back).
const ATTEMPT: Duration = Duration::from_millis(150);
/// After the DHCP answer, how long to listen for a second (wrong) answerer.
const LINGER: Duration = Duration::from_millis(300);

/// What the drill probes and how.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    pub budgets: Budgets,
    /// The client MAC the DHCPINFORM carries (a known host's MAC when unknown clients are
    /// ignored).
    pub mac: Mac,
    /// The file read over TFTP.
    pub tftp_file: String,
    pub dhcp_port: u16,
    pub tftp_port: u16,
    pub portmap_port: u16,
}

/// A random locally administered unicast MAC.
pub fn random_mac() -> Mac {
    let mut b: [u8; 6] = rand::random();
    b[0] = (b[0] & 0xfc) | 0x02;
    Mac(b)
}

fn parse_vip(s: &str) -> Result<(Ipv4Addr, u8), CtlError> {
    let bad = || CtlError::Other(format!("the cluster reports an unreadable VIP {s:?}"));
    let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
    Ok((
        ip.parse().map_err(|_| bad())?,
        prefix.parse().map_err(|_| bad())?,
    ))
}

fn leader_api(s: &ClusterStatus) -> Result<(NodeId, String), CtlError> {
    let leader = s
        .leader
        .ok_or_else(|| CtlError::NoLeader("no node reports a leader".into()))?;
    let node = s
        .nodes
        .iter()
        .find(|n| n.id == leader)
        .ok_or_else(|| CtlError::Other(format!("leader {leader} is not in the membership")))?;
    Ok((leader, node.admin_addr.clone()))
}

/// Ask the leader to fail over; returns the cluster status before and its report, and
/// bootctl's clock when it asked.
pub fn failover(
    c: &AdminClient,
    req: &FailoverRequest,
) -> Result<(ClusterStatus, u64, FailoverReport), CtlError> {
    let before = cluster_status(c)?;
    let (_, api) = leader_api(&before)?;
    let t0 = wall_clock_ms();
    let report: FailoverReport = c.for_node(&api).post("/v1/failover", req)?;
    Ok((before, t0, report))
}

/// Wait until the leader holds the VIP (a drill starts from a settled cluster).
fn settled(c: &AdminClient) -> Result<ClusterStatus, CtlError> {
    let until = Instant::now() + SETTLE;
    loop {
        let s = cluster_status(c)?;
        if s.vip.is_none() {
            return Err(CtlError::Invalid(
                "this cluster has no VIP: the drill probes the services on the VIP".into(),
            ));
        }
        if s.leader.is_some() && s.vip_holder == s.leader {
            return Ok(s);
        }
        if Instant::now() >= until {
            return Err(CtlError::Other(format!(
                "drill not started: the VIP is not held by the leader (leader {:?}, holder {:?}) after {SETTLE:?}",
                s.leader, s.vip_holder
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The address the new holder's DHCP answers come from: its `lan`, else its peer address.
fn node_address(s: &ClusterStatus, id: NodeId) -> Option<Ipv4Addr> {
    let n = s.nodes.iter().find(|n| n.id == id)?;
    let lan = n
        .status
        .as_ref()
        .and_then(|st| st.lan.as_deref())
        .and_then(|l| l.split('/').next())
        .and_then(|ip| ip.parse().ok());
    lan.or_else(|| {
        n.status
            .as_ref()
            .and_then(|st| st.members.iter().find(|m| m.id == id))
            .and_then(|m| m.peer_addr.parse::<std::net::SocketAddrV4>().ok())
            .map(|a| *a.ip())
    })
}

fn result(r: Result<Answer, String>) -> ProbeResult {
    match r {
        Ok(a) => ProbeResult {
            at_ms: Some(a.at_ms),
            detail: a.detail,
        },
        Err(e) => ProbeResult {
            at_ms: None,
            detail: e,
        },
    }
}

/// Fail over and check every service answers from the new holder; the timeline says
/// whether each step kept its budget.
pub fn drill(
    c: &AdminClient,
    req: &FailoverRequest,
    opts: &DrillOptions,
) -> Result<Timeline, CtlError> {
    settled(c)?;
    let (before, t0, report) = failover(c, req)?;
    let vip_text = before.vip.clone().unwrap_or_default();
    let (vip, prefix) = parse_vip(&vip_text)?;
    let expected = node_address(&before, report.new_leader).ok_or_else(|| {
        CtlError::Other(format!(
            "cannot tell node {}'s address (no lan in its status)",
            report.new_leader
        ))
    })?;
    // Probe until twice the longest budget: a late answer is reported with its time.
    let deadline = Instant::now()
        + opts
            .budgets
            .longest()
            .saturating_mul(2)
            .saturating_sub(Duration::from_millis(wall_clock_ms().saturating_sub(t0)));
    let pause = Duration::from_millis(20);
    let (dhcp, tftp, nfs) = std::thread::scope(|s| {
        let dhcp = s.spawn(|| {
            probe::retry(deadline, pause, || {
                probe::dhcp::inform_once(
                    vip,
                    prefix,
                    opts.dhcp_port,
                    opts.mac,
                    expected,
                    ATTEMPT,
                    LINGER,
                )
            })
        });
        let tftp = s.spawn(|| {
            probe::retry(deadline, pause, || {
                probe::tftp::read(vip, opts.tftp_port, &opts.tftp_file, ATTEMPT)
                    .map(|b| {
                        Answer::now(format!("{} ({} bytes) from {vip}", opts.tftp_file, b.len()))
                    })
                    .map_err(probe::Failure::Retry)
            })
        });
        let nfs = s.spawn(|| {
            probe::retry(deadline, pause, || {
                let port = probe::nfs::getport(vip, opts.portmap_port, ATTEMPT)?;
                probe::nfs::null(vip, port, ATTEMPT)?;
                Ok(Answer::now(format!(
                    "portmapper -> {port}, NULL ok on {vip}"
                )))
            })
        });
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<Answer, String>>| {
            h.join()
                .unwrap_or_else(|_| Err("probe thread panicked".into()))
        };
        (join(dhcp), join(tftp), join(nfs))
    });

    // The nodes' own records: wait (bounded) for the new holder's claim to show.
    let until = Instant::now() + Duration::from_secs(5);
    let (events, holders_after) = loop {
        let s = cluster_status(c)?;
        let mut events = BTreeMap::new();
        let mut holders = Vec::new();
        for n in &s.nodes {
            if let Some(st) = &n.status {
                events.insert(n.id, st.vip_events.clone());
                if st.vip_holder == Some(n.id) {
                    holders.push(n.id);
                }
            }
        }
        let claimed = events.get(&report.new_leader).is_some_and(|ev| {
            ev.iter()
                .any(|e| e.term > report.term_before && e.name() == "claimed")
        });
        if claimed || Instant::now() >= until {
            break (events, holders);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Ok(build(
        &DrillFacts {
            t0_ms: t0,
            report,
            events,
            holders_after,
            dhcp: result(dhcp),
            tftp: result(tftp),
            nfs: result(nfs),
        },
        &opts.budgets,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_macs_are_local_unicast() {
        for _ in 0..64 {
            let m = random_mac();
            assert_eq!(m.0[0] & 0x03, 0x02);
        }
    }

    #[test]
    fn vip_text_parses() {
        assert_eq!(
            parse_vip("10.0.0.10/24").ok(),
            Some((Ipv4Addr::new(10, 0, 0, 10), 24))
        );
        assert!(parse_vip("10.0.0.10").is_err());
    }
}
