//! The peer handshake: mutual challenge-response keyed by the cluster secret, binding both
//! node ids and both nonces. The secret never crosses the wire.
//!
//! ```text
//! dialer  -> Hello { cluster, from, to, nonce_d }
//! listener-> Challenge { node, nonce_l }            (or Refused: unknown id, wrong target)
//! dialer  -> Proof { proof_d }                      (after checking node == to)
//! listener-> Welcome { proof_l }                    (or Refused: wrong secret)
//! ```
//! The dialer proves first, so a listener sees (logs and counts) a wrong secret; the dialer
//! then checks the listener's proof before sending any request.
//! ```text
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};

use super::frame::{read_msg, write_msg, MAX_HANDSHAKE_FRAME};
use super::PeerError;
use crate::types::NodeId;

/// How long a handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Serialize, Deserialize)]
enum Handshake {
    Hello {
        cluster: String,
        from: NodeId,
        to: NodeId,
        nonce: [u8; 32],
    },
    Challenge {
        node: NodeId,
        nonce: [u8; 32],
    },
    Proof {
        proof: [u8; 32],
    },
    Welcome {
        proof: [u8; 32],
    },
    Refused {
        reason: String,
    },
}

/// This node's identity and the key derived from the cluster secret.
#[derive(Clone)]
pub struct PeerAuth {
    pub cluster: String,
    pub me: NodeId,
    key: [u8; 32],
    /// Mutual TLS around every peer connection, when configured.
    tls: Option<std::sync::Arc<super::tls::PeerTls>>,
}

impl std::fmt::Debug for PeerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PeerAuth({}, node {})", self.cluster, self.me)
    }
}

/// Why the listener refused a dialer (for counting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The dialer could not prove it knows the secret.
    Secret(String),
    /// The dialer's claimed identity does not fit (unknown id, wrong target, wrong address).
    Identity(String),
}

impl PeerAuth {
    /// Derive the handshake key from the cluster secret.
    pub fn new(cluster: &str, me: NodeId, secret: &[u8]) -> Self {
        Self {
            cluster: cluster.to_string(),
            me,
            key: blake3::derive_key("raftboot peer handshake v1", secret),
            tls: None,
        }
    }

    /// Run every connection made or accepted with this identity inside mutual TLS.
    pub fn with_tls(mut self, tls: std::sync::Arc<super::tls::PeerTls>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The mutual-TLS settings, if any.
    pub fn tls(&self) -> Option<&std::sync::Arc<super::tls::PeerTls>> {
        self.tls.as_ref()
    }

    fn proof(
        &self,
        role: &[u8],
        from: NodeId,
        to: NodeId,
        nd: &[u8; 32],
        nl: &[u8; 32],
    ) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(role);
        h.update(&(self.cluster.len() as u64).to_be_bytes());
        h.update(self.cluster.as_bytes());
        h.update(&from.to_be_bytes());
        h.update(&to.to_be_bytes());
        h.update(nd);
        h.update(nl);
        h.finalize()
    }

    /// Run the dialer's side: prove ourselves to `target` and check it is `target`.
    pub async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        s: &mut S,
        target: NodeId,
    ) -> Result<(), PeerError> {
        let fut = async {
            let nonce_d: [u8; 32] = rand::random();
            write_msg(
                s,
                &Handshake::Hello {
                    cluster: self.cluster.clone(),
                    from: self.me,
                    to: target,
                    nonce: nonce_d,
                },
            )
            .await?;
            let (node, nonce_l) = match read_msg(s, MAX_HANDSHAKE_FRAME).await? {
                Handshake::Challenge { node, nonce } => (node, nonce),
                Handshake::Refused { reason } => return Err(PeerError::Refused(reason)),
                other => return Err(PeerError::Protocol(format!("{other:?}"))),
            };
            if node != target {
                return Err(PeerError::Refused(format!(
                    "dialed node {target} but node {node} answered"
                )));
            }
            let mine = self.proof(b"dialer", self.me, target, &nonce_d, &nonce_l);
            write_msg(
                s,
                &Handshake::Proof {
                    proof: *mine.as_bytes(),
                },
            )
            .await?;
            match read_msg(s, MAX_HANDSHAKE_FRAME).await? {
                Handshake::Welcome { proof } => {
                    if self.proof(b"listener", self.me, target, &nonce_d, &nonce_l)
                        == blake3::Hash::from(proof)
                    {
                        Ok(())
                    } else {
                        Err(PeerError::Refused(format!(
                            "node {node} does not know the cluster secret"
                        )))
                    }
                }
                Handshake::Refused { reason } => Err(PeerError::Refused(reason)),
                other => Err(PeerError::Protocol(format!("{other:?}"))),
            }
        };
        tokio::time::timeout(HANDSHAKE_TIMEOUT, fut)
            .await
            .map_err(|_| PeerError::Timeout)?
    }

    /// Run the listener's side. `check_peer(id, addr)` says whether `id` may connect from
    /// `addr` (`Err(reason)` if not). Returns the authenticated peer id.
    pub async fn accept<S, F>(
        &self,
        s: &mut S,
        remote: SocketAddr,
        check_peer: F,
    ) -> Result<NodeId, (Refusal, PeerError)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        F: Fn(NodeId, SocketAddr) -> Result<(), String>,
    {
        let io = |e: PeerError| (Refusal::Identity(e.to_string()), e);
        let fut = async {
            let (cluster, from, to, nonce_d) =
                match read_msg(s, MAX_HANDSHAKE_FRAME).await.map_err(io)? {
                    Handshake::Hello {
                        cluster,
                        from,
                        to,
                        nonce,
                    } => (cluster, from, to, nonce),
                    other => return Err(io(PeerError::Protocol(format!("{other:?}")))),
                };
            let identity_problem = if cluster != self.cluster {
                Some(format!("cluster {cluster:?} is not {:?}", self.cluster))
            } else if to != self.me {
                Some(format!(
                    "wrong node id: dialed node {to}, this is node {}",
                    self.me
                ))
            } else {
                check_peer(from, remote).err()
            };
            if let Some(reason) = identity_problem {
                let _ = write_msg(
                    s,
                    &Handshake::Refused {
                        reason: reason.clone(),
                    },
                )
                .await;
                return Err((
                    Refusal::Identity(reason.clone()),
                    PeerError::Refused(reason),
                ));
            }
            let nonce_l: [u8; 32] = rand::random();
            write_msg(
                s,
                &Handshake::Challenge {
                    node: self.me,
                    nonce: nonce_l,
                },
            )
            .await
            .map_err(io)?;
            let theirs = match read_msg(s, MAX_HANDSHAKE_FRAME).await.map_err(io)? {
                Handshake::Proof { proof } => blake3::Hash::from(proof),
                other => return Err(io(PeerError::Protocol(format!("{other:?}")))),
            };
            if theirs != self.proof(b"dialer", from, to, &nonce_d, &nonce_l) {
                let reason = format!("node {from} at {remote} failed the cluster secret check");
                let _ = write_msg(
                    s,
                    &Handshake::Refused {
                        reason: reason.clone(),
                    },
                )
                .await;
                return Err((Refusal::Secret(reason.clone()), PeerError::Refused(reason)));
            }
            let proof = self.proof(b"listener", from, to, &nonce_d, &nonce_l);
            write_msg(
                s,
                &Handshake::Welcome {
                    proof: *proof.as_bytes(),
                },
            )
            .await
            .map_err(io)?;
            Ok(from)
        };
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, fut).await {
            Ok(r) => r,
            Err(_) => Err((
                Refusal::Identity("handshake timed out".into()),
                PeerError::Timeout,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn run(
        dialer: PeerAuth,
        listener: PeerAuth,
        target: NodeId,
    ) -> (Result<(), PeerError>, Result<NodeId, (Refusal, PeerError)>) {
        let (mut a, mut b) = tokio::io::duplex(8192);
        let remote: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let d = async move { dialer.dial(&mut a, target).await };
        let l = async move {
            listener
                .accept(&mut b, remote, |id, _| {
                    if id <= 3 {
                        Ok(())
                    } else {
                        Err(format!("node {id} is not a member"))
                    }
                })
                .await
        };
        tokio::join!(d, l)
    }

    #[tokio::test]
    async fn same_secret_succeeds() {
        let (d, l) = run(
            PeerAuth::new("c", 1, b"0123456789abcdef"),
            PeerAuth::new("c", 2, b"0123456789abcdef"),
            2,
        )
        .await;
        d.unwrap();
        assert_eq!(l.unwrap(), 1);
    }

    #[tokio::test]
    async fn wrong_secret_is_refused_both_ways() {
        let (d, l) = run(
            PeerAuth::new("c", 1, b"0123456789abcdef"),
            PeerAuth::new("c", 2, b"XXXXXXXXXXabcdef"),
            2,
        )
        .await;
        assert!(matches!(d, Err(PeerError::Refused(_))), "{d:?}");
        assert!(matches!(l, Err((Refusal::Secret(_), _))), "{l:?}");
    }

    #[tokio::test]
    async fn wrong_target_or_unknown_sender_is_refused() {
        let s = b"0123456789abcdef";
        let (d, l) = run(PeerAuth::new("c", 1, s), PeerAuth::new("c", 2, s), 3).await;
        assert!(d.is_err());
        assert!(matches!(l, Err((Refusal::Identity(_), _))));
        let (d, l) = run(PeerAuth::new("c", 9, s), PeerAuth::new("c", 2, s), 2).await;
        assert!(d.is_err());
        assert!(matches!(l, Err((Refusal::Identity(r), _)) if r.contains("not a member")));
    }
}
