//! Offline recovery after quorum is lost for good (`bootd recover --i-have-lost-quorum`).
//!
//! openraft 0.9 has no API to shrink a membership without a quorum, so recovery works on the
//! stopped node's sled store (docs/adr/0004-quorum-loss-recovery.md): it reads the node's
//! last log id, vote and effective membership ([`OfflineView::read`]), decides whether
//! recovery is allowed ([`plan`], pure), and appends one membership entry naming only this
//! node after the last log entry, with a vote of its own at a term above everything in the
//! log ([`apply`]). At the next start openraft takes the last membership entry in the log as
//! the effective one: the node is the only voter, elects itself, and commits every entry it
//! holds (as any new leader would), including the new membership.

use std::collections::{BTreeMap, BTreeSet};

use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership, StoredMembership, Vote};

use crate::codec;
use crate::types::{NodeId, NodeInfo, TypeConfig};

/// Why recovery cannot run.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("reading the node's store: {0}")]
    Store(String),
    #[error(
        "this node's log is empty: it was never part of a cluster, so there is nothing to recover"
    )]
    Empty,
    #[error("node {0} is not a voter of the membership it knows ({1:?}); recover on a voter")]
    NotVoter(NodeId, Vec<NodeId>),
    #[error("node {0} is a witness: a witness never leads; recover on a boot server")]
    Witness(NodeId),
    #[error("a majority is still reachable ({reachable:?} of voters {voters:?} answer, this node included): the cluster can recover by itself; refusing")]
    MajorityReachable {
        voters: Vec<NodeId>,
        reachable: Vec<NodeId>,
    },
    #[error("this node already is the only voter; start it normally")]
    AlreadyAlone,
}

/// What the stopped node's store holds.
#[derive(Debug, Clone)]
pub struct OfflineView {
    pub last_log_id: Option<LogId<NodeId>>,
    pub vote: Option<Vote<NodeId>>,
    /// The effective membership: the last membership entry in the log, else the snapshot's.
    pub membership: StoredMembership<NodeId, NodeInfo>,
}

fn store_err(e: impl std::fmt::Display) -> RecoveryError {
    RecoveryError::Store(e.to_string())
}

impl OfflineView {
    /// Read the log (`log`, `meta`) and snapshot (`snapshot`) trees of a stopped node.
    pub fn read(db: &sled::Db) -> Result<OfflineView, RecoveryError> {
        let log = db.open_tree("log").map_err(store_err)?;
        let meta = db.open_tree("meta").map_err(store_err)?;
        let vote = match meta.get(b"vote").map_err(store_err)? {
            Some(v) => Some(codec::decode::<Vote<NodeId>>(&v).map_err(store_err)?),
            None => None,
        };
        let purged = match meta.get(b"last_purged").map_err(store_err)? {
            Some(v) => Some(codec::decode::<LogId<NodeId>>(&v).map_err(store_err)?),
            None => None,
        };
        let mut last_log_id = purged;
        let mut membership = None;
        // Newest first: the last entry gives the last log id, the first membership entry
        // met is the effective one.
        for kv in log.iter().rev() {
            let (_, v) = kv.map_err(store_err)?;
            let e: Entry<TypeConfig> = codec::decode(&v).map_err(store_err)?;
            if last_log_id.is_none() || last_log_id < Some(e.log_id) {
                last_log_id = Some(e.log_id);
            }
            if let EntryPayload::Membership(m) = e.payload {
                membership = Some(StoredMembership::new(Some(e.log_id), m));
                break;
            }
        }
        let membership = match membership {
            Some(m) => m,
            None => crate::sm_store::snapshot_membership(db)
                .map_err(store_err)?
                .unwrap_or_default(),
        };
        Ok(OfflineView {
            last_log_id,
            vote,
            membership,
        })
    }

    /// The voters of the effective membership.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        self.membership.membership().voter_ids().collect()
    }

    /// Every member with its description.
    pub fn nodes(&self) -> BTreeMap<NodeId, NodeInfo> {
        self.membership
            .membership()
            .nodes()
            .map(|(id, n)| (*id, n.clone()))
            .collect()
    }
}

/// The entry and vote that make `me` a one-node cluster.
#[derive(Debug, Clone)]
pub struct RecoveryPlan {
    pub entry: Entry<TypeConfig>,
    pub vote: Vote<NodeId>,
    /// The voters before recovery.
    pub old_voters: Vec<NodeId>,
}

/// Decide whether `me` may turn itself into a one-node cluster, given which other voters
/// answered an authenticated ping (`reachable`, not including `me`). Pure.
pub fn plan(
    view: &OfflineView,
    me: NodeId,
    reachable: &BTreeSet<NodeId>,
) -> Result<RecoveryPlan, RecoveryError> {
    let Some(last) = view.last_log_id else {
        return Err(RecoveryError::Empty);
    };
    let voters = view.voters();
    if !voters.contains(&me) {
        return Err(RecoveryError::NotVoter(me, voters.into_iter().collect()));
    }
    let nodes = view.nodes();
    let info = nodes.get(&me).cloned().unwrap_or_default();
    if info.witness {
        return Err(RecoveryError::Witness(me));
    }
    if voters.len() == 1 {
        return Err(RecoveryError::AlreadyAlone);
    }
    let up: BTreeSet<NodeId> = reachable
        .iter()
        .copied()
        .filter(|id| voters.contains(id))
        .chain(std::iter::once(me))
        .collect();
    if up.len() * 2 > voters.len() {
        return Err(RecoveryError::MajorityReachable {
            voters: voters.into_iter().collect(),
            reachable: up.into_iter().collect(),
        });
    }
    // A term above the log's and the vote's, so the new entry sorts after every entry and
    // no other node can ever have written an entry of this term.
    let vote_term = view.vote.map(|v| v.leader_id().get_term()).unwrap_or(0);
    let term = last.leader_id.term.max(vote_term) + 1;
    let membership = Membership::new(vec![BTreeSet::from([me])], BTreeMap::from([(me, info)]));
    let entry = Entry::<TypeConfig> {
        log_id: LogId::new(CommittedLeaderId::new(term, me), last.index + 1),
        payload: EntryPayload::Membership(membership),
    };
    Ok(RecoveryPlan {
        entry,
        vote: Vote::new(term, me),
        old_voters: voters.into_iter().collect(),
    })
}

/// Write the plan into the stopped node's store and flush it.
pub fn apply(db: &sled::Db, plan: &RecoveryPlan) -> Result<(), RecoveryError> {
    let log = db.open_tree("log").map_err(store_err)?;
    let meta = db.open_tree("meta").map_err(store_err)?;
    log.insert(
        plan.entry.log_id.index.to_be_bytes(),
        codec::encode(&plan.entry).map_err(store_err)?,
    )
    .map_err(store_err)?;
    meta.insert(b"vote", codec::encode(&plan.vote).map_err(store_err)?)
        .map_err(store_err)?;
    db.flush().map_err(store_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn view(voters: &[NodeId], witness: Option<NodeId>, last: Option<(u64, u64)>) -> OfflineView {
        let nodes: BTreeMap<NodeId, NodeInfo> = voters
            .iter()
            .map(|id| {
                (
                    *id,
                    NodeInfo {
                        name: format!("n{id}"),
                        witness: witness == Some(*id),
                        ..NodeInfo::default()
                    },
                )
            })
            .collect();
        let m = Membership::new(vec![voters.iter().copied().collect()], nodes);
        OfflineView {
            last_log_id: last.map(|(t, i)| LogId::new(CommittedLeaderId::new(t, 1), i)),
            vote: Some(Vote::new_committed(7, 1)),
            membership: StoredMembership::new(None, m),
        }
    }

    #[test]
    fn refuses_while_a_majority_answers() {
        let v = view(&[1, 2, 3], None, Some((5, 40)));
        let e = plan(&v, 3, &BTreeSet::from([1])).unwrap_err();
        assert!(matches!(e, RecoveryError::MajorityReachable { .. }), "{e}");
        // A node that is not a voter does not count.
        let p = plan(&v, 3, &BTreeSet::from([9])).unwrap();
        assert_eq!(p.old_voters, vec![1, 2, 3]);
    }

    #[test]
    fn plan_appends_after_the_log_at_a_higher_term() {
        let v = view(&[1, 2, 3], None, Some((5, 40)));
        let p = plan(&v, 3, &BTreeSet::new()).unwrap();
        assert_eq!(p.entry.log_id.index, 41);
        assert_eq!(p.entry.log_id.leader_id.term, 8);
        assert_eq!(p.vote, Vote::new(8, 3));
        let EntryPayload::Membership(m) = &p.entry.payload else {
            panic!("not a membership entry")
        };
        assert_eq!(m.voter_ids().collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn refuses_empty_witness_non_voter_and_alone() {
        assert!(matches!(
            plan(&view(&[1, 2, 3], None, None), 3, &BTreeSet::new()),
            Err(RecoveryError::Empty)
        ));
        assert!(matches!(
            plan(
                &view(&[1, 2, 3], Some(3), Some((1, 3))),
                3,
                &BTreeSet::new()
            ),
            Err(RecoveryError::Witness(3))
        ));
        assert!(matches!(
            plan(&view(&[1, 2], None, Some((1, 3))), 3, &BTreeSet::new()),
            Err(RecoveryError::NotVoter(3, _))
        ));
        assert!(matches!(
            plan(&view(&[3], None, Some((1, 3))), 3, &BTreeSet::new()),
            Err(RecoveryError::AlreadyAlone)
        ));
    }
}
