//! The dialing side: [`PeerClient`] (one authenticated connection to one peer, reconnected on
//! demand) and openraft's network factory built on it.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use tokio::net::TcpStream;

use super::frame::{read_msg, write_msg, MAX_FRAME};
use super::tls::PeerStream;
use super::{PeerAuth, PeerError, PeerRequest, PeerResponse};
use crate::types::{NodeId, NodeInfo, TypeConfig};

/// One authenticated connection to one peer.
pub struct PeerClient {
    auth: PeerAuth,
    target: NodeId,
    addr: String,
    conn: Option<PeerStream>,
}

impl PeerClient {
    /// A client for `target` at `addr`; connects on first use.
    pub fn new(auth: PeerAuth, target: NodeId, addr: impl Into<String>) -> Self {
        Self {
            auth,
            target,
            addr: addr.into(),
            conn: None,
        }
    }

    /// The address this client dials.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Dial and authenticate a fresh connection (inside TLS when the cluster uses it).
    async fn dial(&self) -> Result<PeerStream, PeerError> {
        let tcp = TcpStream::connect(&self.addr).await?;
        tcp.set_nodelay(true)?;
        let mut s: PeerStream = match self.auth.tls() {
            Some(tls) => {
                tokio::time::timeout(super::auth::HANDSHAKE_TIMEOUT, tls.connect(&self.addr, tcp))
                    .await
                    .map_err(|_| PeerError::Timeout)??
            }
            None => Box::new(tcp),
        };
        self.auth.dial(&mut s, self.target).await?;
        Ok(s)
    }

    /// Send one request and wait for its answer. Any failure drops the connection.
    ///
    /// Cancellation-safe: the connection is taken out of the client for the whole exchange
    /// and put back only once the answer has been read in full. openraft wraps every RPC in
    /// its own deadline (the heartbeat interval for AppendEntries) and drops this future when
    /// it passes; the stream, which may still owe the answer to the dropped request, is
    /// dropped with it, so the next call dials afresh instead of reading that stale answer
    /// as its own (an old "Success" taken for the acknowledgement of newer entries).
    pub async fn call(
        &mut self,
        req: &PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, PeerError> {
        let fut = async {
            let mut s = match self.conn.take() {
                Some(s) => s,
                None => self.dial().await?,
            };
            write_msg(&mut s, req).await?;
            let resp = read_msg::<_, PeerResponse>(&mut s, MAX_FRAME).await?;
            Ok::<_, PeerError>((s, resp))
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok((s, resp))) => {
                self.conn = Some(s);
                Ok(resp)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(PeerError::Timeout),
        }
    }
}

/// openraft's factory: one [`PeerNetwork`] per target.
#[derive(Clone)]
pub struct PeerNetworkFactory {
    auth: PeerAuth,
    min_rpc_timeout: Duration,
}

impl PeerNetworkFactory {
    pub fn new(auth: PeerAuth) -> Self {
        Self {
            auth,
            min_rpc_timeout: Duration::ZERO,
        }
    }

    /// The shortest deadline this client puts on an RPC (the node sets the minimum election
    /// timeout). Note that openraft 0.9 also wraps every RPC in its own deadline (for
    /// AppendEntries the heartbeat interval) and drops the call when that passes, so for
    /// AppendEntries the heartbeat interval still bounds the wait; [`PeerClient::call`] is
    /// cancellation-safe for that reason. The VIP hold rule is unaffected: a late answer
    /// counts from when its request was sent.
    pub fn with_min_rpc_timeout(mut self, d: Duration) -> Self {
        self.min_rpc_timeout = d;
        self
    }
}

/// openraft's view of one peer.
pub struct PeerNetwork {
    client: PeerClient,
    target: NodeId,
    min_rpc_timeout: Duration,
    _stats: Option<Arc<super::PeerStats>>,
}

impl RaftNetworkFactory<TypeConfig> for PeerNetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> Self::Network {
        PeerNetwork {
            client: PeerClient::new(self.auth.clone(), target, node.peer_addr.clone()),
            target,
            min_rpc_timeout: self.min_rpc_timeout,
            _stats: None,
        }
    }
}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>;

fn unreachable<E: std::error::Error>(e: PeerError) -> RPCError<NodeId, NodeInfo, E> {
    match e {
        PeerError::Io(_) | PeerError::Timeout | PeerError::Refused(_) | PeerError::Tls(_) => {
            RPCError::Unreachable(Unreachable::new(&e))
        }
        other => RPCError::Network(NetworkError::new(&other)),
    }
}

fn unexpected<E: std::error::Error>(resp: PeerResponse) -> RPCError<NodeId, NodeInfo, E> {
    let e = PeerError::Protocol(format!("unexpected answer: {resp:?}"));
    RPCError::Network(NetworkError::new(&e))
}

impl PeerNetwork {
    async fn call(
        &mut self,
        req: PeerRequest,
        option: &RPCOption,
    ) -> Result<PeerResponse, PeerError> {
        let timeout = option.hard_ttl().max(self.min_rpc_timeout);
        self.client.call(&req, timeout).await
    }
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        match self
            .call(PeerRequest::Append(rpc), &option)
            .await
            .map_err(unreachable)?
        {
            PeerResponse::Append(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(unexpected(other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<InstallSnapshotError>> {
        match self
            .call(PeerRequest::Snapshot(rpc), &option)
            .await
            .map_err(unreachable)?
        {
            PeerResponse::Snapshot(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr> {
        match self
            .call(PeerRequest::Vote(rpc), &option)
            .await
            .map_err(unreachable)?
        {
            PeerResponse::Vote(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(unexpected(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use tokio::net::TcpListener;
    use tokio::sync::{oneshot, Notify};

    const SECRET: &[u8] = b"0123456789abcdef";

    /// A peer on loopback (real handshake and frames) that answers FetchBlob with a blob
    /// error and Ping with Pong. The first FetchBlob is answered only after `release` is
    /// notified; `answered` fires once that late answer has been written.
    async fn scripted_peer(
        release: Arc<Notify>,
        answered: oneshot::Sender<()>,
    ) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let auth = PeerAuth::new("c", 2, SECRET);
            let mut answered = Some(answered);
            loop {
                let Ok((mut s, remote)) = listener.accept().await else {
                    return;
                };
                if auth.accept(&mut s, remote, |_, _| Ok(())).await.is_err() {
                    continue;
                }
                while let Ok(req) = read_msg::<_, PeerRequest>(&mut s, MAX_FRAME).await {
                    let resp = match req {
                        PeerRequest::FetchBlob { .. } => {
                            if answered.is_some() {
                                release.notified().await;
                            }
                            PeerResponse::Blob(Err("late answer to the first request".into()))
                        }
                        PeerRequest::Ping => PeerResponse::Pong {
                            node: 2,
                            initialized: true,
                        },
                        other => PeerResponse::Refused(format!("{other:?}")),
                    };
                    let wrote = write_msg(&mut s, &resp).await;
                    if let Some(tx) = answered.take() {
                        let _ = tx.send(());
                    }
                    if wrote.is_err() {
                        break;
                    }
                }
            }
        });
        addr
    }

    /// openraft drops an RPC future when its own deadline passes (the heartbeat interval for
    /// AppendEntries), which is shorter than the client's. The answer to the dropped request
    /// must never be read as the answer to the next one: that made a leader take an old
    /// heartbeat's "Success" for the acknowledgement of entries the follower never stored.
    #[tokio::test]
    async fn a_cancelled_call_does_not_leave_its_answer_for_the_next() {
        let release = Arc::new(Notify::new());
        let (answered_tx, answered_rx) = oneshot::channel();
        let addr = scripted_peer(release.clone(), answered_tx).await;
        let mut client = PeerClient::new(PeerAuth::new("c", 1, SECRET), 2, addr.to_string());
        let first = PeerRequest::FetchBlob {
            digest: [0; 32],
            offset: 0,
            len: 1,
        };
        // The caller's deadline passes while the peer still owes the answer.
        let cancelled = tokio::time::timeout(
            Duration::from_millis(200),
            client.call(&first, Duration::from_secs(10)),
        )
        .await;
        assert!(
            cancelled.is_err(),
            "first call was not cancelled: {cancelled:?}"
        );
        // The peer now answers the dropped request.
        release.notify_one();
        tokio::time::timeout(Duration::from_secs(10), answered_rx)
            .await
            .expect("peer never answered the first request")
            .unwrap();
        let next = client
            .call(&PeerRequest::Ping, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(
            matches!(next, PeerResponse::Pong { node: 2, .. }),
            "the next call got the cancelled call's answer: {next:?}"
        );
    }
}
