//! [`plan`]: who takes over in a planned failover, and who must hold still. Pure: it sees
//! the membership and the leader's replication progress, nothing else.

use raftboot_raft::NodeId;

/// One member as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: NodeId,
    pub voter: bool,
    pub witness: bool,
    /// The last log index the leader knows this member has (None: nothing yet).
    pub matched: Option<u64>,
}

/// What the orchestration will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The node asked to campaign.
    pub target: NodeId,
    /// The operator named the target (`--to`): the other boot servers hold their elections
    /// for the length of the yield, so only the target campaigns.
    pub named: bool,
    /// Nodes told not to campaign during the yield.
    pub hold_elect: Vec<NodeId>,
}

/// Why a failover cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("this node is not the leader (the leader is {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    #[error("node {0} is not a member")]
    UnknownNode(NodeId),
    #[error("node {0} is not a voter and cannot lead")]
    NotAVoter(NodeId),
    #[error("node {0} is a witness and never leads")]
    Witness(NodeId),
    #[error("node {0} already leads")]
    AlreadyLeader(NodeId),
    #[error("no other boot server can take over (every other member is a witness, a learner, or absent)")]
    NoCandidate,
}

/// Plan a failover from `me` (which must lead). With `to`, that node is the target and every
/// other boot-server voter holds its election; without, the most caught-up other boot-server
/// voter is the target (lowest id on a tie) and nobody is held.
pub fn plan(
    me: NodeId,
    leader: Option<NodeId>,
    members: &[Member],
    to: Option<NodeId>,
) -> Result<Plan, PlanError> {
    if leader != Some(me) {
        return Err(PlanError::NotLeader { leader });
    }
    let eligible = |m: &Member| m.voter && !m.witness && m.id != me;
    let target = match to {
        Some(t) => {
            let m = members
                .iter()
                .find(|m| m.id == t)
                .ok_or(PlanError::UnknownNode(t))?;
            if t == me {
                return Err(PlanError::AlreadyLeader(t));
            }
            if m.witness {
                return Err(PlanError::Witness(t));
            }
            if !m.voter {
                return Err(PlanError::NotAVoter(t));
            }
            t
        }
        None => {
            members
                .iter()
                .filter(|m| eligible(m))
                // Most caught up first, then the lowest id.
                .max_by(|a, b| a.matched.cmp(&b.matched).then(b.id.cmp(&a.id)))
                .ok_or(PlanError::NoCandidate)?
                .id
        }
    };
    let hold_elect = if to.is_some() {
        members
            .iter()
            .filter(|m| eligible(m) && m.id != target)
            .map(|m| m.id)
            .collect()
    } else {
        Vec::new()
    };
    Ok(Plan {
        target,
        named: to.is_some(),
        hold_elect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: NodeId, matched: Option<u64>) -> Member {
        Member {
            id,
            voter: true,
            witness: false,
            matched,
        }
    }

    #[test]
    fn picks_the_most_caught_up_then_lowest_id() {
        let ms = [m(1, Some(9)), m(2, Some(7)), m(3, Some(8))];
        assert_eq!(plan(1, Some(1), &ms, None).map(|p| p.target), Ok(3));
        let ms = [m(1, Some(9)), m(2, Some(8)), m(3, Some(8))];
        let p = plan(1, Some(1), &ms, None);
        assert_eq!(p.as_ref().map(|p| p.target), Ok(2));
        assert_eq!(p.map(|p| p.hold_elect), Ok(vec![]));
    }

    #[test]
    fn a_named_target_holds_the_other_boot_servers() {
        let mut w = m(4, Some(9));
        w.witness = true;
        let ms = [m(1, Some(9)), m(2, Some(9)), m(3, Some(9)), w];
        let p = plan(1, Some(1), &ms, Some(3));
        assert_eq!(
            p,
            Ok(Plan {
                target: 3,
                named: true,
                hold_elect: vec![2],
            })
        );
    }

    #[test]
    fn refuses_what_cannot_lead() {
        let mut w = m(3, Some(9));
        w.witness = true;
        let mut l = m(4, Some(9));
        l.voter = false;
        let ms = [m(1, Some(9)), m(2, Some(9)), w, l];
        assert_eq!(
            plan(2, Some(1), &ms, None),
            Err(PlanError::NotLeader { leader: Some(1) })
        );
        assert_eq!(
            plan(1, Some(1), &ms, Some(1)),
            Err(PlanError::AlreadyLeader(1))
        );
        assert_eq!(plan(1, Some(1), &ms, Some(3)), Err(PlanError::Witness(3)));
        assert_eq!(plan(1, Some(1), &ms, Some(4)), Err(PlanError::NotAVoter(4)));
        assert_eq!(
            plan(1, Some(1), &ms, Some(9)),
            Err(PlanError::UnknownNode(9))
        );
        // Pair + witness with the other boot server gone from the voters.
        let ms = [m(1, Some(9)), m(3, Some(9))];
        let mut ms = ms.to_vec();
        ms[1].witness = true;
        assert_eq!(plan(1, Some(1), &ms, None), Err(PlanError::NoCandidate));
    }
}
