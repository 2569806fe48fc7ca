//! Submitting commands: on the leader, straight into Raft; on a follower, forwarded to the
//! leader over the authenticated peer network. A write is reported as done only when the
//! leader has committed and applied it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use raftboot_raft::peer::server::{apply_membership, write_result};
use raftboot_raft::peer::{
    wall_clock_ms, MembershipChange, PeerAuth, PeerClient, PeerRequest, PeerResponse,
    WriteRejection,
};
use raftboot_raft::{Command, NodeId, Raft, Request, Response};
use tokio::sync::Mutex;
use tracing::Instrument;

/// Why a write did not complete.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("no leader")]
    NoLeader,
    #[error("leader unreachable: {0}")]
    Unreachable(String),
    #[error("{0}")]
    Failed(String),
}

/// How long a write waits for a leader and its commit, in total.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// Submits commands and membership changes to the leader.
pub struct Writer {
    raft: Raft,
    auth: PeerAuth,
    me: NodeId,
    clients: Mutex<HashMap<NodeId, Arc<Mutex<PeerClient>>>>,
}

enum Op {
    Cmd(Command),
    Members(MembershipChange),
}

impl Writer {
    pub fn new(raft: Raft, auth: PeerAuth) -> Self {
        let me = auth.me;
        Self {
            raft,
            auth,
            me,
            clients: Mutex::default(),
        }
    }

    /// Commit one command; returns the state machine's answer.
    pub async fn submit(&self, cmd: Command) -> Result<Response, WriteError> {
        let kind = cmd.kind();
        let span = tracing::debug_span!("write", node = self.me, kind);
        match self.run(Op::Cmd(cmd)).instrument(span).await? {
            Some(r) => Ok(r),
            None => Err(WriteError::Failed("no response".into())),
        }
    }

    /// Run a membership change on the leader.
    pub async fn membership(&self, change: MembershipChange) -> Result<(), WriteError> {
        self.run(Op::Members(change)).await.map(|_| ())
    }

    async fn client_for(&self, leader: NodeId) -> Option<Arc<Mutex<PeerClient>>> {
        let node = {
            let m = self.raft.metrics().borrow().membership_config.clone();
            m.membership().get_node(&leader).cloned()
        }?;
        let mut map = self.clients.lock().await;
        Some(
            map.entry(leader)
                .or_insert_with(|| {
                    Arc::new(Mutex::new(PeerClient::new(
                        self.auth.clone(),
                        leader,
                        node.peer_addr,
                    )))
                })
                .clone(),
        )
    }

    async fn run(&self, op: Op) -> Result<Option<Response>, WriteError> {
        let deadline = tokio::time::Instant::now() + WRITE_DEADLINE;
        let mut last_err = WriteError::NoLeader;
        let mut delay = Duration::from_millis(20);
        while tokio::time::Instant::now() < deadline {
            let leader = self.raft.metrics().borrow().current_leader;
            let outcome = match leader {
                None => Err(WriteRejection::ForwardToLeader { leader: None }),
                Some(l) if l == self.me => match &op {
                    Op::Cmd(cmd) => {
                        let req = Request {
                            now_ms: wall_clock_ms(),
                            cmd: cmd.clone(),
                        };
                        write_result(self.raft.client_write(req).await).map(Some)
                    }
                    Op::Members(ch) => apply_membership(&self.raft, ch.clone()).await.map(|_| None),
                },
                Some(l) => match self.forward(l, &op).await {
                    Ok(r) => r,
                    Err(e) => {
                        last_err = e;
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_millis(500));
                        continue;
                    }
                },
            };
            match outcome {
                Ok(r) => return Ok(r),
                Err(WriteRejection::ForwardToLeader { .. }) => {
                    last_err = WriteError::NoLeader;
                    // Wait for the metrics to name a (new) leader, bounded by the deadline.
                    let mut rx = self.raft.metrics();
                    let _ = tokio::time::timeout(delay, rx.changed()).await;
                    delay = (delay * 2).min(Duration::from_millis(500));
                }
                Err(WriteRejection::Failed(m)) => return Err(WriteError::Failed(m)),
            }
        }
        Err(last_err)
    }

    async fn forward(
        &self,
        leader: NodeId,
        op: &Op,
    ) -> Result<Result<Option<Response>, WriteRejection>, WriteError> {
        let client = self.client_for(leader).await.ok_or_else(|| {
            WriteError::Unreachable(format!("leader {leader} is not in the membership"))
        })?;
        let req = match op {
            Op::Cmd(c) => PeerRequest::Write(c.clone()),
            Op::Members(m) => PeerRequest::Membership(m.clone()),
        };
        let resp = client
            .lock()
            .await
            .call(&req, WRITE_DEADLINE)
            .await
            .map_err(|e| WriteError::Unreachable(format!("node {leader}: {e}")))?;
        Ok(match resp {
            PeerResponse::Write(r) => r.map(Some),
            PeerResponse::Membership(r) => r.map(|_| None),
            other => Err(WriteRejection::Failed(format!(
                "unexpected answer {other:?}"
            ))),
        })
    }
}
