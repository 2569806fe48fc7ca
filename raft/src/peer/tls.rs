//! Mutual TLS for the peer network (and the PEM loading the admin API shares): every peer
//! connection is TLS 1.2/1.3 (rustls, `ring` provider) where both sides present a
//! certificate signed by the cluster CA. The secret handshake ([`super::auth`]) then runs
//! inside the TLS stream, so a peer needs both a CA-signed certificate and the secret.
//!
//! The dialer checks the listener's certificate names the address it dialed (an IP SAN for
//! `ip:port` peer addresses); the listener checks only that the dialer's certificate chains
//! to the cluster CA (the node id is proven by the secret handshake).

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Why TLS could not be set up or a TLS connection failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file is missing, unreadable or holds nothing usable.
    #[error("{path}: {message}")]
    File { path: String, message: String },
    /// rustls refused the material (e.g. a key that does not match the certificate).
    #[error("TLS setup: {0}")]
    Setup(String),
    /// The peer address cannot be used as a TLS server name.
    #[error("peer address {0:?} has no usable host for TLS")]
    ServerName(String),
}

/// A connected peer stream: plain TCP or TLS over TCP.
pub trait PeerIo: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> PeerIo for T {}
/// A boxed [`PeerIo`].
pub type PeerStream = Box<dyn PeerIo>;

/// The certificate chain, key and cluster CA of this node, parsed.
pub struct TlsMaterial {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub roots: Arc<RootCertStore>,
}

impl Clone for TlsMaterial {
    fn clone(&self) -> Self {
        TlsMaterial {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            roots: self.roots.clone(),
        }
    }
}

/// The crypto provider raftboot uses everywhere: `ring` (no aws-lc-rs).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn file_err(path: &Path, message: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Read every certificate of a PEM file (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| file_err(path, e))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(file_err(path, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// A root store holding every certificate of a PEM CA file.
pub fn load_roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(path)? {
        roots
            .add(c)
            .map_err(|e| file_err(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(Arc::new(roots))
}

impl TlsMaterial {
    /// Load the node's certificate chain, private key and the cluster CA.
    pub fn load(cert: &Path, key: &Path, ca: &Path) -> Result<TlsMaterial, TlsError> {
        let chain = load_certs(cert)?;
        let key_bytes = std::fs::read(key).map_err(|e| file_err(key, e))?;
        let key_der = PrivateKeyDer::from_pem_slice(&key_bytes)
            .map_err(|e| file_err(key, format!("no PEM private key: {e}")))?;
        Ok(TlsMaterial {
            chain,
            key: key_der,
            roots: load_roots(ca)?,
        })
    }

    /// A server config presenting this node's certificate, without client certificates
    /// (the admin API: clients prove themselves with a token).
    pub fn server_config(&self) -> Result<ServerConfig, TlsError> {
        ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Setup(e.to_string()))
    }
}

/// A client config that trusts only `roots` and presents no certificate (HTTPS clients of
/// the admin API: bootctl, tests).
pub fn https_client_config(roots: Arc<RootCertStore>) -> Result<ClientConfig, TlsError> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Mutual TLS for peer connections.
pub struct PeerTls {
    connector: TlsConnector,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerTls")
    }
}

/// The TLS server name for a `host:port` peer address (an IP or a DNS name).
pub fn server_name(addr: &str) -> Result<ServerName<'static>, TlsError> {
    if let Ok(sa) = addr.parse::<std::net::SocketAddr>() {
        return Ok(ServerName::IpAddress(sa.ip().into()));
    }
    let host = addr
        .rsplit_once(':')
        .map_or(addr, |(h, _)| h)
        .trim_matches(|c| c == '[' || c == ']');
    ServerName::try_from(host.to_string()).map_err(|_| TlsError::ServerName(addr.to_string()))
}

impl PeerTls {
    /// Both sides' configs from this node's material: present our certificate, require and
    /// verify the other side's against the cluster CA.
    pub fn new(m: &TlsMaterial) -> Result<PeerTls, TlsError> {
        let setup = |e: &dyn std::fmt::Display| TlsError::Setup(e.to_string());
        let verifier = WebPkiClientVerifier::builder_with_provider(m.roots.clone(), provider())
            .build()
            .map_err(|e| setup(&e))?;
        let server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| setup(&e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(m.chain.clone(), m.key.clone_key())
            .map_err(|e| setup(&e))?;
        let client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| setup(&e))?
            .with_root_certificates(m.roots.clone())
            .with_client_auth_cert(m.chain.clone(), m.key.clone_key())
            .map_err(|e| setup(&e))?;
        Ok(PeerTls {
            connector: TlsConnector::from(Arc::new(client)),
            acceptor: TlsAcceptor::from(Arc::new(server)),
        })
    }

    /// Run the client side of the TLS handshake on `tcp`, checking the listener's
    /// certificate names `addr`.
    pub async fn connect(
        &self,
        addr: &str,
        tcp: TcpStream,
    ) -> Result<PeerStream, super::PeerError> {
        let name = server_name(addr).map_err(|e| super::PeerError::Tls(e.to_string()))?;
        let s = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| super::PeerError::Tls(e.to_string()))?;
        Ok(Box::new(s))
    }

    /// Run the server side of the TLS handshake on `tcp` (the dialer must present a
    /// certificate signed by the cluster CA).
    pub async fn accept(&self, tcp: TcpStream) -> Result<PeerStream, super::PeerError> {
        let s = self
            .acceptor
            .accept(tcp)
            .await
            .map_err(|e| super::PeerError::Tls(e.to_string()))?;
        Ok(Box::new(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_from_peer_addresses() {
        assert!(matches!(
            server_name("10.1.2.3:7100"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("boot-a:7100"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(server_name("bad name:7100").is_err());
    }

    #[test]
    fn missing_or_empty_pem_files_are_named() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { return };
        let empty = dir.path().join("empty.pem");
        let _ = std::fs::write(&empty, "");
        let e = load_certs(&empty)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("empty.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let e = load_roots(&dir.path().join("nope.pem"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("nope.pem"), "{e}");
    }
}
