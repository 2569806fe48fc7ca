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

    async fn connect(&mut self) -> Result<&mut PeerStream, PeerError> {
        if self.conn.is_none() {
            let tcp = TcpStream::connect(&self.addr).await?;
            tcp.set_nodelay(true)?;
            let mut s: PeerStream = match self.auth.tls() {
                Some(tls) => tokio::time::timeout(
                    super::auth::HANDSHAKE_TIMEOUT,
                    tls.connect(&self.addr, tcp),
                )
                .await
                .map_err(|_| PeerError::Timeout)??,
                None => Box::new(tcp),
            };
            self.auth.dial(&mut s, self.target).await?;
            self.conn = Some(s);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| PeerError::Protocol("no connection".into()))
    }

    /// Send one request and wait for its answer. Any failure drops the connection.
    pub async fn call(
        &mut self,
        req: &PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, PeerError> {
        let fut = async {
            let s = self.connect().await?;
            write_msg(s, req).await?;
            read_msg::<_, PeerResponse>(s, MAX_FRAME).await
        };
        let res = match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(PeerError::Timeout),
        };
        if res.is_err() {
            self.conn = None;
        }
        res
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

    /// The shortest time an RPC may take before it counts as failed. openraft 0.9 gives
    /// AppendEntries the heartbeat interval as its deadline (50 ms by default); a follower
    /// whose fsync takes longer on a busy machine then looks unreachable, its connection is
    /// dropped and re-handshaken, and it misses heartbeats until it stands for election. The
    /// node sets this to the minimum election timeout. The VIP hold rule is unaffected: a
    /// late answer counts from when its request was sent.
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
