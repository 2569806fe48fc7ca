//! A blocking admin-API client that tries each given node until one answers.

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
            CtlError::Other(_) => 1,
        }
    }
}

/// Talks to the first reachable node of `apis`.
pub struct AdminClient {
    pub apis: Vec<String>,
    token: String,
    agent: ureq::Agent,
}

fn base(api: &str) -> String {
    if api.starts_with("http://") || api.starts_with("https://") {
        api.trim_end_matches('/').to_string()
    } else {
        format!("http://{}", api.trim_end_matches('/'))
    }
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
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(connect)
            .timeout(total)
            .build();
        Self { apis, token, agent }
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
            (_, Some("no_leader")) => CtlError::NoLeader(msg),
            (409, _) => CtlError::Rejected(msg.trim_start_matches("refused: ").to_string()),
            (400 | 404 | 422 | 415, _) => CtlError::Invalid(msg),
            _ => CtlError::Other(format!("HTTP {code}: {msg}")),
        }
    }

    fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, CtlError> {
        let mut tried = Vec::new();
        for api in &self.apis {
            let url = format!("{}{path}", base(api));
            let req = self
                .agent
                .request(method, &url)
                .set("Authorization", &format!("Bearer {}", self.token));
            let res = match body {
                Some(b) => req.send_json(b),
                None => req.call(),
            };
            match res {
                Ok(resp) => {
                    return resp
                        .into_json::<T>()
                        .map_err(|e| CtlError::Other(format!("bad answer from {api}: {e}")));
                }
                Err(ureq::Error::Status(code, resp)) => return Err(Self::map_status(code, resp)),
                Err(ureq::Error::Transport(t)) => tried.push(format!("{api}: {}", t.kind())),
            }
        }
        Err(CtlError::Unreachable(tried.join(", ")))
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
        let mut tried = Vec::new();
        for api in &self.apis {
            let url = format!("{}{path}", base(api));
            let req = self
                .agent
                .put(&url)
                .set("Authorization", &format!("Bearer {}", self.token));
            match req.send_bytes(bytes) {
                Ok(_) => return Ok(()),
                Err(ureq::Error::Status(code, resp)) => return Err(Self::map_status(code, resp)),
                Err(ureq::Error::Transport(t)) => tried.push(format!("{api}: {}", t.kind())),
            }
        }
        Err(CtlError::Unreachable(tried.join(", ")))
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
        let mut tried = Vec::new();
        for api in &self.apis {
            let url = format!("{}{path}", base(api));
            let req = self
                .agent
                .get(&url)
                .set("Authorization", &format!("Bearer {}", self.token));
            match req.call() {
                Ok(resp) => return Ok(resp.into_reader()),
                Err(ureq::Error::Status(code, resp)) => return Err(Self::map_status(code, resp)),
                Err(ureq::Error::Transport(t)) => tried.push(format!("{api}: {}", t.kind())),
            }
        }
        Err(CtlError::Unreachable(tried.join(", ")))
    }

    /// POST raw bytes and read a JSON answer, from the first reachable node.
    pub fn post_bytes<T: DeserializeOwned>(&self, path: &str, bytes: &[u8]) -> Result<T, CtlError> {
        let mut tried = Vec::new();
        for api in &self.apis {
            let url = format!("{}{path}", base(api));
            let req = self
                .agent
                .post(&url)
                .set("Authorization", &format!("Bearer {}", self.token))
                .set("Content-Type", "application/octet-stream");
            match req.send_bytes(bytes) {
                Ok(resp) => {
                    return resp
                        .into_json::<T>()
                        .map_err(|e| CtlError::Other(format!("bad answer from {api}: {e}")));
                }
                Err(ureq::Error::Status(code, resp)) => return Err(Self::map_status(code, resp)),
                Err(ureq::Error::Transport(t)) => tried.push(format!("{api}: {}", t.kind())),
            }
        }
        Err(CtlError::Unreachable(tried.join(", ")))
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
        }
    }
}
