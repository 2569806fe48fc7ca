//! The security tables: `[tls]` (certificate, key and cluster CA paths for the admin API and
//! the peer network) and `[[api.tokens]]` (named admin-API tokens with a scope, besides the
//! `admin_token_file` token, which is named `admin` and has the admin scope).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::files;
use super::wire::{WireApi, WireTls};
use crate::source::Source;
use crate::ConfigError;

/// The name of the token read from `admin_token_file`.
pub const ADMIN_TOKEN_NAME: &str = "admin";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every GET (status, tables, boots, images, audit, metrics).
    Read,
    /// Everything, including every state-changing call.
    Admin,
}

impl Scope {
    /// `read` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

/// One named admin-API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Recorded in the audit trail as the actor.
    pub name: String,
    pub scope: Scope,
    /// The bearer secret (trimmed, non-empty).
    pub secret: String,
    /// Where it was read from.
    pub secret_file: PathBuf,
}

/// `[tls]`: PEM files, `{id}` substituted and resolved against the config file's directory.
/// When present, the admin API serves HTTPS only and every peer connection is mutual TLS
/// verified against `ca_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// This node's certificate chain (leaf first). Its subject alternative names must cover
    /// the addresses clients and peers dial (the IPs of `peer_addr` and `admin_addr`).
    pub cert_file: PathBuf,
    /// This node's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// The cluster CA that signs every node's certificate.
    pub ca_file: PathBuf,
}

impl TlsFiles {
    pub(crate) fn from_wire(
        src: &Source<'_>,
        wire: Option<&Spanned<WireTls>>,
        node_id: u64,
    ) -> Result<Option<TlsFiles>, ConfigError> {
        let Some(w) = wire.map(Spanned::get_ref) else {
            return Ok(None);
        };
        let file = |v: &Spanned<String>, key: &str| -> Result<PathBuf, ConfigError> {
            let p = files::resolve(src, v, key, node_id)?;
            std::fs::metadata(&p).map_err(|e| {
                src.error(
                    Some(v.span()),
                    key,
                    format!("cannot read {key} {}: {e}", p.display()),
                )
            })?;
            Ok(p)
        };
        Ok(Some(TlsFiles {
            cert_file: file(&w.cert_file, "tls.cert_file")?,
            key_file: file(&w.key_file, "tls.key_file")?,
            ca_file: file(&w.ca_file, "tls.ca_file")?,
        }))
    }
}

/// Reads `[[api.tokens]]`: unique names (not `admin`), a known scope, readable non-empty
/// secrets that differ from each other and from the admin token.
pub(crate) fn tokens_from_wire(
    src: &Source<'_>,
    wire: Option<&WireApi>,
    admin_token: &str,
    node_id: u64,
) -> Result<Vec<ApiToken>, ConfigError> {
    let Some(w) = wire else {
        return Ok(Vec::new());
    };
    let mut out: Vec<ApiToken> = Vec::new();
    for t in &w.tokens {
        let t = t.get_ref();
        let name = t.name.get_ref().trim();
        let bad_name = name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
        if bad_name {
            return Err(src.error(
                Some(t.name.span()),
                "api.tokens.name",
                format!(
                    "token name {:?} must be 1-64 characters of letters, digits, '-', '_', '.', '@'",
                    t.name.get_ref()
                ),
            ));
        }
        if name == ADMIN_TOKEN_NAME || out.iter().any(|o| o.name == name) {
            return Err(src.error(
                Some(t.name.span()),
                "api.tokens.name",
                format!("token name {name:?} is used twice (\"admin\" is admin_token_file's)"),
            ));
        }
        let scope = match t.scope.get_ref().as_str() {
            "read" => Scope::Read,
            "admin" => Scope::Admin,
            other => {
                return Err(src.error(
                    Some(t.scope.span()),
                    "api.tokens.scope",
                    format!("scope {other:?} must be \"read\" or \"admin\""),
                ))
            }
        };
        let path = files::resolve(src, &t.secret_file, "api.tokens.secret_file", node_id)?;
        let secret = files::read_named_token(src, &t.secret_file, &path, "api.tokens.secret_file")?;
        if secret == admin_token || out.iter().any(|o| o.secret == secret) {
            return Err(src.error(
                Some(t.secret_file.span()),
                "api.tokens.secret_file",
                format!("token {name:?} has the same secret as another token"),
            ));
        }
        out.push(ApiToken {
            name: name.to_string(),
            scope,
            secret,
            secret_file: path,
        });
    }
    Ok(out)
}
