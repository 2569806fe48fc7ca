//! Paths named by the node configuration: resolving them against the config
//! file's directory and reading the cluster secret and admin token they point at.

use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::source::Source;
use crate::ConfigError;

/// Minimum length of the cluster secret, in bytes.
pub(crate) const MIN_SECRET_LEN: usize = 16;

/// Resolves `value` (after `{id}` substitution) against the config file's directory.
pub(crate) fn resolve(
    src: &Source<'_>,
    value: &Spanned<String>,
    key: &str,
    node_id: u64,
) -> Result<PathBuf, ConfigError> {
    let text = value.get_ref().replace("{id}", &node_id.to_string());
    if text.trim().is_empty() {
        return Err(src.error(Some(value.span()), key, format!("{key} must not be empty")));
    }
    let path = Path::new(&text);
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        src.path
            .parent()
            .map_or_else(|| path.to_path_buf(), |dir| dir.join(path))
    })
}

/// Reads the cluster secret: trailing whitespace trimmed, at least 16 bytes.
pub(crate) fn read_secret(
    src: &Source<'_>,
    value: &Spanned<String>,
    path: &Path,
) -> Result<Vec<u8>, ConfigError> {
    let at = |message: String| src.error(Some(value.span()), "secret_file", message);
    let mut bytes = std::fs::read(path)
        .map_err(|e| at(format!("cannot read secret_file {}: {e}", path.display())))?;
    let len = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    bytes.truncate(len);
    if bytes.len() < MIN_SECRET_LEN {
        return Err(at(format!(
            "secret_file {} holds {} bytes; the cluster secret must be at least {MIN_SECRET_LEN} bytes",
            path.display(),
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Reads the admin token: UTF-8, trimmed, non-empty.
pub(crate) fn read_token(
    src: &Source<'_>,
    value: &Spanned<String>,
    path: &Path,
) -> Result<String, ConfigError> {
    read_named_token(src, value, path, "admin_token_file")
}

/// Reads a token file named by config key `key`: UTF-8, trimmed, non-empty.
pub(crate) fn read_named_token(
    src: &Source<'_>,
    value: &Spanned<String>,
    path: &Path,
    key: &str,
) -> Result<String, ConfigError> {
    let at = |message: String| src.error(Some(value.span()), key, message);
    let text = std::fs::read_to_string(path)
        .map_err(|e| at(format!("cannot read {key} {}: {e}", path.display())))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(at(format!("{key} {} is empty", path.display())));
    }
    Ok(token.to_string())
}
