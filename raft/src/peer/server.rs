//! The listening side: accepts peer connections, runs the handshake, and serves Raft RPCs
//! and forwarded writes. A Raft RPC whose sender is not the authenticated peer is refused.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::auth::Refusal;
use super::frame::{read_msg, write_msg, MAX_FRAME};
use super::{
    wall_clock_ms, BlobSource, MembershipChange, NoticeSink, PeerAuth, PeerError, PeerRequest,
    PeerResponse, PeerStats, WriteRejection,
};
use crate::election_hold::ElectionHold;
use crate::types::{NodeId, Raft, Request};

/// Decides whether a node id may connect from an address.
pub type PeerCheck = Arc<dyn Fn(NodeId, SocketAddr) -> Result<(), String> + Send + Sync>;

/// Serves the peer port.
pub struct PeerServer {
    pub auth: PeerAuth,
    pub raft: Raft,
    pub check: PeerCheck,
    pub stats: Arc<PeerStats>,
    /// The node's blob store (none on a witness).
    pub blobs: Option<Arc<dyn BlobSource>>,
    /// This node's campaign/heartbeat switches (planned failover).
    pub hold: Arc<ElectionHold>,
    /// The node's TFTP transfer registry (none on a witness).
    pub notices: Option<Arc<dyn NoticeSink>>,
}

impl PeerServer {
    /// Accept connections until `cancel` fires.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, cancel: CancellationToken) {
        loop {
            let accepted = tokio::select! {
                _ = cancel.cancelled() => return,
                a = listener.accept() => a,
            };
            match accepted {
                Ok((stream, remote)) => {
                    let me = self.clone();
                    let cancel = cancel.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = cancel.cancelled() => {}
                            _ = me.connection(stream, remote) => {}
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "peer accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    async fn connection(&self, tcp: TcpStream, remote: SocketAddr) {
        let _ = tcp.set_nodelay(true);
        let mut s: super::tls::PeerStream = match self.auth.tls() {
            Some(tls) => {
                let r = tokio::time::timeout(super::auth::HANDSHAKE_TIMEOUT, tls.accept(tcp)).await;
                match r {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        self.stats.refused_tls.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%remote, error = %e, "peer refused: TLS handshake failed (is its certificate signed by the cluster CA?)");
                        return;
                    }
                    Err(_) => {
                        self.stats.refused_tls.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%remote, "peer refused: TLS handshake timed out");
                        return;
                    }
                }
            }
            None => Box::new(tcp),
        };
        let check = self.check.clone();
        let peer = match self
            .auth
            .accept(&mut s, remote, move |id, addr| check(id, addr))
            .await
        {
            Ok(p) => p,
            Err((refusal, err)) => {
                match refusal {
                    Refusal::Secret(r) => {
                        self.stats.refused_secret.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%remote, reason = %r, "peer refused: wrong cluster secret");
                    }
                    Refusal::Identity(r) => {
                        if !matches!(err, PeerError::Io(_)) {
                            self.stats.refused_identity.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(%remote, reason = %r, "peer refused: identity");
                        }
                    }
                }
                return;
            }
        };
        self.stats.handshakes_ok.fetch_add(1, Ordering::Relaxed);
        let span = tracing::debug_span!("peer", node = self.auth.me, peer);
        let _enter = span.enter();
        loop {
            let req: PeerRequest = match read_msg(&mut s, MAX_FRAME).await {
                Ok(r) => r,
                Err(PeerError::Io(_)) => return,
                Err(e) => {
                    self.stats.malformed_frames.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%remote, peer, error = %e, "malformed peer frame; closing");
                    return;
                }
            };
            let resp = self.handle(peer, req).await;
            self.stats.rpcs_served.fetch_add(1, Ordering::Relaxed);
            if write_msg(&mut s, &resp).await.is_err() {
                return;
            }
        }
    }

    fn refuse_sender(&self, peer: NodeId, claimed: NodeId, what: &str) -> PeerResponse {
        self.stats
            .refused_rpc_sender
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            peer,
            claimed,
            what,
            "peer RPC names another sender; refused"
        );
        PeerResponse::Refused(format!(
            "{what} from node {peer} claims to come from node {claimed}"
        ))
    }

    async fn handle(&self, peer: NodeId, req: PeerRequest) -> PeerResponse {
        match req {
            PeerRequest::Append(rpc) => {
                let claimed = rpc.vote.leader_id().voted_for().unwrap_or(peer);
                if claimed != peer {
                    return self.refuse_sender(peer, claimed, "append-entries");
                }
                PeerResponse::Append(self.raft.append_entries(rpc).await)
            }
            PeerRequest::Vote(rpc) => {
                let claimed = rpc.vote.leader_id().voted_for().unwrap_or(peer);
                if claimed != peer {
                    return self.refuse_sender(peer, claimed, "vote");
                }
                PeerResponse::Vote(self.raft.vote(rpc).await)
            }
            PeerRequest::Snapshot(rpc) => {
                let claimed = rpc.vote.leader_id().voted_for().unwrap_or(peer);
                if claimed != peer {
                    return self.refuse_sender(peer, claimed, "install-snapshot");
                }
                PeerResponse::Snapshot(self.raft.install_snapshot(rpc).await)
            }
            PeerRequest::Write(cmd) => {
                let req = Request {
                    now_ms: wall_clock_ms(),
                    cmd,
                };
                PeerResponse::Write(write_result(self.raft.client_write(req).await))
            }
            PeerRequest::Membership(change) => {
                PeerResponse::Membership(apply_membership(&self.raft, change).await)
            }
            PeerRequest::FetchBlob {
                digest,
                offset,
                len,
            } => {
                let res = match &self.blobs {
                    _ if len > super::MAX_BLOB_READ => Err(format!(
                        "read of {len} bytes exceeds {}",
                        super::MAX_BLOB_READ
                    )),
                    Some(b) => {
                        let b = b.clone();
                        tokio::task::spawn_blocking(move || b.read_blob(&digest, offset, len))
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()))
                    }
                    None => Err(format!("node {} stores no blobs", self.auth.me)),
                };
                PeerResponse::Blob(res)
            }
            PeerRequest::TransferNotices(body) => PeerResponse::Noted(match &self.notices {
                _ if body.len() > super::MAX_NOTICES => {
                    Err(format!("{} bytes of notices exceed the limit", body.len()))
                }
                Some(n) => n.transfer_notices(peer, &body),
                None => Err(format!("node {} keeps no transfer notices", self.auth.me)),
            }),
            PeerRequest::Ping => PeerResponse::Pong {
                node: self.auth.me,
                initialized: self.raft.is_initialized().await.unwrap_or(false),
            },
            PeerRequest::Hold { hold, for_ms } => {
                PeerResponse::Control(self.check_leader(peer, "hold").map(|()| {
                    self.hold
                        .hold(hold, std::time::Duration::from_millis(for_ms));
                }))
            }
            PeerRequest::Campaign => {
                let res = match self.check_leader(peer, "campaign") {
                    Ok(()) => {
                        tracing::info!(peer, "campaigning at the leader's request");
                        self.raft.trigger().elect().await.map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e),
                };
                PeerResponse::Control(res)
            }
            PeerRequest::Resume => {
                self.hold.resume();
                PeerResponse::Control(Ok(()))
            }
        }
    }

    /// Failover control is taken only from the leader this node currently follows.
    fn check_leader(&self, peer: NodeId, what: &str) -> Result<(), String> {
        let leader = self.raft.metrics().borrow().current_leader;
        if leader == Some(peer) {
            Ok(())
        } else {
            tracing::warn!(
                peer,
                ?leader,
                what,
                "failover control from a non-leader; refused"
            );
            Err(format!(
                "{what} from node {peer} refused: this node follows {leader:?}"
            ))
        }
    }
}

/// Map openraft's client-write result to what a forwarding peer needs.
pub fn write_result(
    r: Result<
        openraft::raft::ClientWriteResponse<crate::types::TypeConfig>,
        RaftError<NodeId, ClientWriteError<NodeId, crate::types::NodeInfo>>,
    >,
) -> Result<crate::types::Response, WriteRejection> {
    match r {
        Ok(resp) => Ok(resp.data),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
            Err(WriteRejection::ForwardToLeader {
                leader: f.leader_id,
            })
        }
        Err(e) => Err(WriteRejection::Failed(e.to_string())),
    }
}

/// Run a membership change on this node (which must be the leader). Adding is learner
/// first (blocking until it has caught up), then voter; removing drops the node entirely.
pub async fn apply_membership(raft: &Raft, change: MembershipChange) -> Result<(), WriteRejection> {
    let to_rejection =
        |e: RaftError<NodeId, ClientWriteError<NodeId, crate::types::NodeInfo>>| match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                WriteRejection::ForwardToLeader {
                    leader: f.leader_id,
                }
            }
            other => WriteRejection::Failed(other.to_string()),
        };
    match change {
        MembershipChange::Add { id, node } => {
            raft.add_learner(id, node, true)
                .await
                .map_err(to_rejection)?;
            let ids: std::collections::BTreeSet<NodeId> = [id].into();
            raft.change_membership(openraft::ChangeMembers::AddVoterIds(ids), false)
                .await
                .map_err(to_rejection)?;
            Ok(())
        }
        MembershipChange::Remove { id } => {
            let ids: std::collections::BTreeSet<NodeId> = [id].into();
            raft.change_membership(openraft::ChangeMembers::RemoveVoters(ids.clone()), false)
                .await
                .map_err(to_rejection)?;
            raft.change_membership(openraft::ChangeMembers::RemoveNodes(ids), false)
                .await
                .map_err(to_rejection)?;
            Ok(())
        }
    }
}
