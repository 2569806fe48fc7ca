//! [`Failover`]: the leader's side of `bootctl failover`, the thin I/O around [`plan`].
//!
//! 1. Plan (pure): the target, and with `--to` the other boot servers to hold. A leader
//!    elected less than `election_timeout_max` ago first waits that out (see
//!    [`Failover::outwait_own_lease`]).
//! 2. Tell those to hold their elections (peer RPC `Hold`) for the yield.
//! 3. Yield: stop this node's heartbeats and campaigning ([`ElectionHold`]) and tell the VIP
//!    controller, which lets go at once; wait until it has acted on that (so no claim is in
//!    flight and the address is gone).
//! 4. Ask the target to campaign now (peer RPC `Campaign`; openraft's `trigger().elect()`).
//!    Only now: a triggered election skips the candidate's election timeout, which the hold
//!    rule otherwise relies on, so the old holder must have released first.
//! 5. Wait for another leader (bounded by the yield), then resume everyone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use raftboot_raft::election_hold::{bounded, ElectionHold, Hold};
use raftboot_raft::peer::{wall_clock_ms, PeerAuth, PeerClient, PeerRequest, PeerResponse};
use raftboot_raft::{NodeId, Raft};

use super::plan::{plan, Member, PlanError};
use crate::api::types::{FailoverReport, FailoverRequest};
use crate::vip::controller::VipStats;
use crate::vip::moves::VipEventKind;

/// Shortest yield (shorter ones could not see an election through).
pub const MIN_YIELD: Duration = Duration::from_millis(100);
/// Default length of a yield.
pub const DEFAULT_YIELD: Duration = Duration::from_secs(5);
/// How long the VIP controller may take to act on the yield.
const RELEASE_WAIT: Duration = Duration::from_secs(2);
/// How long to wait for the target to have every entry the leader has.
const CATCH_UP_WAIT: Duration = Duration::from_secs(1);
/// Timeout of one control RPC.
const RPC_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a failover did not happen.
#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    #[error("a failover is already running on this node")]
    Busy,
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("the VIP controller did not let go within {0:?}; the leader resumed")]
    NoRelease(Duration),
    #[error("no new leader within {0:?}; node {1} resumed leading")]
    NoNewLeader(Duration, NodeId),
}

/// Planned failovers this node led, for `/metrics`.
#[derive(Debug, Default)]
pub struct FailoverStats {
    /// Leadership moved.
    pub completed: std::sync::atomic::AtomicU64,
    /// Refused or not completed (no release, no new leader, busy, bad target).
    pub failed: std::sync::atomic::AtomicU64,
}

/// Runs planned failovers on this node.
pub struct Failover {
    raft: Raft,
    hold: Arc<ElectionHold>,
    /// The VIP controller's shared state (None: this node has no VIP).
    vip: Option<Arc<VipStats>>,
    auth: PeerAuth,
    running: tokio::sync::Mutex<()>,
    pub stats: FailoverStats,
}

impl Failover {
    pub fn new(
        raft: Raft,
        hold: Arc<ElectionHold>,
        vip: Option<Arc<VipStats>>,
        auth: PeerAuth,
    ) -> Self {
        Self {
            raft,
            hold,
            vip,
            auth,
            running: tokio::sync::Mutex::new(()),
            stats: FailoverStats::default(),
        }
    }

    async fn control(&self, id: NodeId, req: PeerRequest) -> Result<(), String> {
        let addr = {
            let m = self.raft.metrics().borrow().membership_config.clone();
            m.membership()
                .get_node(&id)
                .map(|n| n.peer_addr.clone())
                .ok_or_else(|| format!("node {id} is not a member"))?
        };
        let mut client = PeerClient::new(self.auth.clone(), id, addr);
        match client.call(&req, RPC_TIMEOUT).await {
            Ok(PeerResponse::Control(r)) => r,
            Ok(other) => Err(format!("unexpected answer {other:?}")),
            Err(e) => Err(e.to_string()),
        }
        .map_err(|e| format!("node {id}: {e}"))
    }

    /// Move leadership (and with it the VIP) away from this node.
    pub async fn run(&self, req: FailoverRequest) -> Result<FailoverReport, FailoverError> {
        use std::sync::atomic::Ordering;
        let res = self.run_once(req).await;
        match &res {
            Ok(_) => self.stats.completed.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                tracing::warn!(error = %e, "planned failover did not happen");
                self.stats.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
        res
    }

    async fn run_once(&self, req: FailoverRequest) -> Result<FailoverReport, FailoverError> {
        let _running = self.running.try_lock().map_err(|_| FailoverError::Busy)?;
        let me = self.auth.me;
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: std::collections::BTreeSet<NodeId> = membership.voter_ids().collect();
        let members: Vec<Member> = membership
            .nodes()
            .map(|(id, n)| Member {
                id: *id,
                voter: voters.contains(id),
                witness: n.witness,
                matched: m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(id).copied().flatten())
                    .map(|l| l.index),
            })
            .collect();
        let plan = plan(me, m.current_leader, &members, req.to)?;
        let term_before = m.current_term;
        let yield_for = bounded(
            req.yield_ms
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_YIELD),
        )
        .max(MIN_YIELD);
        self.outwait_own_lease(term_before).await;
        let started = Instant::now();
        let mut warnings = Vec::new();
        tracing::info!(target = plan.target, named = plan.named, hold = ?plan.hold_elect, ms = yield_for.as_millis() as u64, "planned failover");

        for id in &plan.hold_elect {
            let hold = PeerRequest::Hold {
                hold: Hold {
                    stop_elect: true,
                    stop_heartbeat: false,
                },
                for_ms: yield_for.as_millis() as u64,
            };
            if let Err(e) = self.control(*id, hold).await {
                warnings.push(format!("hold: {e}"));
            }
        }
        self.hold.hold(
            Hold {
                stop_elect: true,
                stop_heartbeat: true,
            },
            yield_for,
        );
        let yielded_at_ms = wall_clock_ms();
        let released_at_ms = match &self.vip {
            Some(vip) => {
                vip.set_yielding(true, term_before);
                if !wait(RELEASE_WAIT, || vip.yield_acked()).await {
                    self.resume(&plan.hold_elect, term_before).await;
                    return Err(FailoverError::NoRelease(RELEASE_WAIT));
                }
                vip.events()
                    .iter()
                    .rev()
                    .find(|e| {
                        e.at_ms >= yielded_at_ms && matches!(e.kind, VipEventKind::Released { .. })
                    })
                    .map(|e| e.at_ms)
            }
            None => None,
        };

        // The target should have everything this leader has, or the old leader's vote
        // (granted at once: its own lease is long expired) would be refused.
        let last = self.raft.metrics().borrow().last_log_index;
        wait(CATCH_UP_WAIT, || {
            let m = self.raft.metrics();
            let m = m.borrow();
            let matched = m
                .replication
                .as_ref()
                .and_then(|r| r.get(&plan.target).copied().flatten())
                .map(|l| l.index);
            matched >= last
        })
        .await;
        let campaign_at_ms = match self.control(plan.target, PeerRequest::Campaign).await {
            Ok(()) => Some(wall_clock_ms()),
            Err(e) => {
                warnings.push(format!("campaign: {e}"));
                None
            }
        };

        let mut rx = self.raft.metrics();
        let deadline = started + yield_for;
        let new_leader = loop {
            let now_leader = rx.borrow().current_leader;
            if let Some(l) = now_leader.filter(|l| *l != me) {
                break Some(l);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break None;
            }
            match tokio::time::timeout(left, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => break None,
            }
        };
        let leader_seen_at_ms = wall_clock_ms();
        let term_after = self.raft.metrics().borrow().current_term;
        self.resume(&plan.hold_elect, term_after).await;
        let resumed_at_ms = wall_clock_ms();
        let new_leader = new_leader.ok_or(FailoverError::NoNewLeader(yield_for, me))?;
        tracing::info!(new_leader, term_after, "planned failover done");
        Ok(FailoverReport {
            from: me,
            target: plan.target,
            named: plan.named,
            new_leader,
            term_before,
            term_after,
            yielded_at_ms,
            released_at_ms,
            campaign_at_ms,
            leader_seen_at_ms,
            resumed_at_ms,
            warnings,
        })
    }

    /// A leader refuses votes for `election_timeout_max` after it was elected (its vote's
    /// lease); its vote is what lets a triggered target win at once in a three-node
    /// cluster. A freshly elected leader therefore waits that out before yielding (while
    /// still serving), which keeps the time without a VIP holder short.
    async fn outwait_own_lease(&self, term: u64) {
        let Some(vip) = &self.vip else { return };
        let Some(since) = vip
            .events()
            .iter()
            .rev()
            .find(|e| e.term == term && matches!(e.kind, VipEventKind::Elected))
            .map(|e| e.at_ms)
        else {
            return;
        };
        let lease = Duration::from_millis(self.raft.config().election_timeout_max)
            + Duration::from_millis(50);
        let age = Duration::from_millis(wall_clock_ms().saturating_sub(since));
        if let Some(left) = lease.checked_sub(age) {
            tracing::info!(
                ms = left.as_millis() as u64,
                "waiting out this leader's vote lease before yielding"
            );
            tokio::time::sleep(left).await;
        }
    }

    /// End the yield here and the holds on `held` (each would also expire by itself).
    async fn resume(&self, held: &[NodeId], term: u64) {
        self.hold.resume();
        if let Some(vip) = &self.vip {
            vip.set_yielding(false, term);
        }
        for id in held {
            if let Err(e) = self.control(*id, PeerRequest::Resume).await {
                tracing::warn!(error = %e, "could not end a peer's hold (it expires by itself)");
            }
        }
    }
}

/// Poll `cond` every 5 ms for at most `limit`; true when it held.
async fn wait(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
