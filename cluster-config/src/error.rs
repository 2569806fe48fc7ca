//! The crate's one error type, [`ConfigError`]: a message anchored at a file,
//! line, column and configuration key.

use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration problem, located as precisely as the source allows.
///
/// Displays as `{file}:{line}:{column}: {key}: {message}`, or
/// `{file}:{line}:{column}: {message}` when `key` is empty. Lines and columns
/// are 1-based; line 0 means the file itself could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{}:{}: {}{}", .file.display(), .line, .column, KeyPrefix(.key), .message)]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line, or 0 when the file could not be read at all.
    pub line: usize,
    /// 1-based column (in characters), or 0 together with `line` 0.
    pub column: usize,
    /// Dotted TOML key path such as `raft.vip_hold_ms` or `nodes.peer_addr`; may be empty.
    pub key: String,
    /// What is wrong, in words for an operator.
    pub message: String,
}

impl ConfigError {
    /// An error at an explicit position.
    pub fn new(
        file: impl Into<PathBuf>,
        line: usize,
        column: usize,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            file: file.into(),
            line,
            column,
            key: key.into(),
            message: message.into(),
        }
    }

    /// The file itself could not be read (reported at line 0, column 0, no key).
    pub fn io(file: &Path, err: &std::io::Error) -> Self {
        ConfigError::new(file, 0, 0, "", format!("cannot read file: {err}"))
    }

    /// True when this is an [`io`](Self::io) error about the file as a whole.
    pub fn is_io(&self) -> bool {
        self.line == 0
    }
}

/// Renders `key: ` for a non-empty key and nothing otherwise.
struct KeyPrefix<'a>(&'a str);

impl fmt::Display for KeyPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, "{}: ", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_and_without_key() {
        let e = ConfigError::new("a.toml", 3, 7, "raft.heartbeat_ms", "must be > 0");
        assert_eq!(e.to_string(), "a.toml:3:7: raft.heartbeat_ms: must be > 0");
        let e = ConfigError::new("a.toml", 1, 1, "", "bad");
        assert_eq!(e.to_string(), "a.toml:1:1: bad");
    }

    #[test]
    fn io_is_line_zero() {
        let err = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = ConfigError::io(Path::new("x.toml"), &err);
        assert!(e.is_io());
        assert_eq!(e.to_string(), "x.toml:0:0: cannot read file: gone");
    }
}
