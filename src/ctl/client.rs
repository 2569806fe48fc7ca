//! A blocking admin-API client that tries each given node until one answers. With a
//! cluster CA ([`AdminClient::with_ca`]) it speaks HTTPS and trusts only that CA.

use std::io::Read as _;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::types::ApiErrorBody;

/// One-line errors, each with its own exit status.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error("cluster unreachable (tried {0})")]
    Unreachable(String),
    #[error("no leader: the cluster cannot accept writes right now ({0})")]
    NoLeader(String),
    #[error("not authorized: the admin token was refused (check --token-file)")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("refused by the cluster: {0}")]
    Rejected(String),
    #[error("failover drill failed: {0}")]
    DrillFailed(String),
    #[error("{0}")]
    Other(String),
}

impl CtlError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CtlError::Invalid(_) => 2,
            CtlError::Unreachable(_) => 3,
            CtlError::NoLeader(_) => 4,
            CtlError::Unauthorized => 5,
            CtlError::Rejected(_) => 6,
            CtlError::DrillFailed(_) => 7,
            CtlError::Forbidden(_) => 8,
            CtlError::Tls(_) => 9,
            CtlError::Other(_) => 1,
        }
    }
}

/// Talks to the first reachable node of `apis`.
pub struct AdminClient {
    pub apis: Vec<String>,
    token: String,
    agent: ureq::Agent,
    /// `https` when a cluster CA was given, else `http` (for addresses without a scheme).
    scheme: &'static str,
    /// The CA file, for error messages.
    ca: Option<String>,
    /// Connect and whole-call timeouts (kept for [`AdminClient::with_ca`]).
    timeouts: (std::time::Duration, std::time::Duration),
}

/// A request body.
#[derive(Clone, Copy)]
enum Body<'a> {
    Empty,
    /// Encoded JSON.
    Json(&'a [u8]),
    /// Raw bytes (a blob, a backup).
    Bytes(&'a [u8]),
}

fn base(scheme: &str, api: &str) -> String {
    if api.starts_with("http://") || api.starts_with("https://") {
        api.trim_end_matches('/').to_string()
    } else {
        format!("{scheme}://{}", api.trim_end_matches('/'))
    }
}

fn agent_builder(
    (connect, total): (std::time::Duration, std::time::Duration),
) -> ureq::AgentBuilder {
    ureq::AgentBuilder::new()
        .timeout_connect(connect)
        .timeout(total)
}

/// Whether a transport error is a TLS failure (certificate not trusted, handshake refused).
fn is_tls_failure(t: &ureq::Transport) -> bool {
    // The message and the cause only: the URL (part of the Display) may contain anything.
    let text = format!(
        "{} {}",
        t.message().unwrap_or_default(),
        std::error::Error::source(t)
            .map(|e| e.to_string())
            .unwrap_or_default()
    );
    [
        "certificate",
        "Certificate",
        "TLS",
        "tls",
        "handshake",
        "CertNotValid",
    ]
    .iter()
    .any(|k| text.contains(k))
}

impl AdminClient {
    pub fn new(apis: Vec<String>, token: String) -> Self {
        Self::with_timeouts(
            apis,
            token,
            std::time::Duration::from_secs(2),
            std::time::Duration::from_secs(30),
        )
    }

    /// A client with its own connect and whole-call timeouts (the status page's fan-out
    /// uses short ones so one unreachable node does not stall the page).
    pub fn with_timeouts(
        apis: Vec<String>,
        token: String,
        connect: std::time::Duration,
        total: std::time::Duration,
    ) -> Self {
        Self {
            apis,
            token,
            agent: agent_builder((connect, total)).build(),
            scheme: "http",
            ca: None,
            timeouts: (connect, total),
        }
    }

    /// Speak HTTPS and trust only the CA certificates in `ca_file` (PEM).
    pub fn with_ca(mut self, ca_file: &std::path::Path) -> Result<Self, CtlError> {
        use raftboot_raft::peer::tls::{https_client_config, load_roots};
        let roots = load_roots(ca_file).map_err(|e| CtlError::Invalid(format!("--ca: {e}")))?;
        let config = https_client_config(roots).map_err(|e| CtlError::Tls(e.to_string()))?;
        self.agent = agent_builder(self.timeouts)
            .tls_config(std::sync::Arc::new(config))
            .build();
        self.scheme = "https";
        self.ca = Some(ca_file.display().to_string());
        Ok(self)
    }

    fn tls_refused(&self, api: &str, t: &ureq::Transport) -> CtlError {
        let hint = match &self.ca {
            Some(ca) => format!("its certificate is not signed by the CA in {ca} (wrong --ca?)"),
            None => "give the cluster CA with --ca FILE (or RAFTBOOT_CA)".to_string(),
        };
        CtlError::Tls(format!("cannot verify {api}: {t}; {hint}"))
    }

    fn transport(
        &self,
        api: &str,
        t: ureq::Transport,
        tried: &mut Vec<String>,
    ) -> Option<CtlError> {
        if is_tls_failure(&t) {
            return Some(self.tls_refused(api, &t));
        }
        tried.push(format!("{api}: {}", t.kind()));
        None
    }

    fn map_status(code: u16, resp: ureq::Response) -> CtlError {
        let text = resp.into_string().unwrap_or_default();
        let body: Option<ApiErrorBody> = serde_json::from_str(&text).ok();
        let msg = body
            .as_ref()
            .map(|b| b.message.clone())
            .unwrap_or_else(|| text.trim().to_string());
        let msg = if msg.is_empty() {
            format!("HTTP {code} with an empty body")
        } else {
            msg
        };
        match (code, body.as_ref().map(|b| b.error.as_str())) {
            (401, _) => CtlError::Unauthorized,
            (403, _) => CtlError::Forbidden(msg.trim_start_matches("forbidden: ").to_string()),
            (_, Some("tls_required")) => CtlError::Tls(msg),
            (_, Some("no_leader")) => CtlError::NoLeader(msg),
            (409, _) => CtlError::Rejected(msg.trim_start_matches("refused: ").to_string()),
            (400 | 404 | 422 | 415, _) => CtlError::Invalid(msg),
            _ => CtlError::Other(format!("HTTP {code}: {msg}")),
        }
    }

    /// Send one request to each node in turn until one answers: the answer and the node
    /// it came from. A transport failure moves on to the next node (a TLS failure ends the
    /// search: the next node has the same certificate problem); an HTTP error status is
    /// the answer, mapped to its [`CtlError`].
    fn first_answer(
        &self,
        method: &str,
        path: &str,
        body: Body<'_>,
    ) -> Result<(&str, ureq::Response), CtlError> {
        let mut tried = Vec::new();
        for api in &self.apis {
            let url = format!("{}{path}", base(self.scheme, api));
            let req = self
                .agent
                .request(method, &url)
                .set("Authorization", &format!("Bearer {}", self.token));
            let res = match body {
                Body::Empty => req.call(),
                Body::Json(b) => req.set("Content-Type", "application/json").send_bytes(b),
                Body::Bytes(b) => req
                    .set("Content-Type", "application/octet-stream")
                    .send_bytes(b),
            };
            match res {
                Ok(resp) => return Ok((api, resp)),
                Err(ureq::Error::Status(code, resp)) => return Err(Self::map_status(code, resp)),
                Err(ureq::Error::Transport(t)) => {
                    if let Some(e) = self.transport(api, t, &mut tried) {
                        return Err(e);
                    }
                }
            }
        }
        Err(CtlError::Unreachable(tried.join(", ")))
    }

    fn json_answer<T: DeserializeOwned>(api: &str, resp: ureq::Response) -> Result<T, CtlError> {
        resp.into_json::<T>()
            .map_err(|e| CtlError::Other(format!("bad answer from {api}: {e}")))
    }

    fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, CtlError> {
        let json;
        let body = match body {
            Some(b) => {
                json = serde_json::to_vec(b)
                    .map_err(|e| CtlError::Other(format!("encoding the request: {e}")))?;
                Body::Json(&json)
            }
            None => Body::Empty,
        };
        let (api, resp) = self.first_answer(method, path, body)?;
        Self::json_answer(api, resp)
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CtlError> {
        self.call::<(), T>("GET", path, None)
    }
    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CtlError> {
        self.call("POST", path, Some(body))
    }
    /// Upload raw bytes (a blob) to the first reachable node.
    pub fn put_bytes(&self, path: &str, bytes: &[u8]) -> Result<(), CtlError> {
        self.first_answer("PUT", path, Body::Bytes(bytes))?;
        Ok(())
    }

    /// GET raw bytes (a backup snapshot) from the first reachable node.
    pub fn get_bytes(&self, path: &str, limit: u64) -> Result<Vec<u8>, CtlError> {
        let mut r = self.get_reader(path)?;
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut (&mut r).take(limit.saturating_add(1)), &mut out)
            .map_err(|e| CtlError::Other(format!("reading {path}: {e}")))?;
        if out.len() as u64 > limit {
            return Err(CtlError::Other(format!(
                "{path}: answer larger than {limit} bytes"
            )));
        }
        Ok(out)
    }

    /// GET a body as a stream (a blob) from the first reachable node.
    pub fn get_reader(
        &self,
        path: &str,
    ) -> Result<Box<dyn std::io::Read + Send + Sync + 'static>, CtlError> {
        let (_, resp) = self.first_answer("GET", path, Body::Empty)?;
        Ok(resp.into_reader())
    }

    /// POST raw bytes and read a JSON answer, from the first reachable node.
    pub fn post_bytes<T: DeserializeOwned>(&self, path: &str, bytes: &[u8]) -> Result<T, CtlError> {
        let (api, resp) = self.first_answer("POST", path, Body::Bytes(bytes))?;
        Self::json_answer(api, resp)
    }

    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, CtlError> {
        self.call::<(), T>("DELETE", path, None)
    }

    /// A client for one specific node (same token).
    pub fn for_node(&self, api: &str) -> AdminClient {
        AdminClient {
            apis: vec![api.to_string()],
            token: self.token.clone(),
            agent: self.agent.clone(),
            scheme: self.scheme,
            ca: self.ca.clone(),
            timeouts: self.timeouts,
        }
    }
}
