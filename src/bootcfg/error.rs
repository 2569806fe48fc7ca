//! Typed errors of the boot namespace: [`PathError`] (a request path that is refused
//! before any lookup) and [`ResolveError`] (why a well-formed path has no answer).

use super::path::{MAX_COMPONENT_LEN, MAX_PATH_LEN};

/// A request path that is refused outright (never looked up).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path names no file (empty, or only `/` and `.`).
    #[error("empty path")]
    Empty,
    /// A `..` component: the namespace has no parent to escape to.
    #[error("path traversal ('..') refused")]
    Traversal,
    /// A NUL byte.
    #[error("NUL byte in path")]
    Nul,
    /// A backslash (DOS-style separators are refused, not guessed at).
    #[error("backslash in path")]
    Backslash,
    /// A control character other than NUL.
    #[error("control character in path")]
    Control,
    /// Longer than [`MAX_PATH_LEN`] bytes.
    #[error("path longer than {MAX_PATH_LEN} bytes")]
    TooLong,
    /// A component longer than [`MAX_COMPONENT_LEN`] bytes.
    #[error("path component longer than {MAX_COMPONENT_LEN} bytes")]
    ComponentTooLong,
}

/// Why a request has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The path was refused (traversal, NUL, ...): a client error, counted apart.
    #[error(transparent)]
    BadPath(#[from] PathError),
    /// Nothing by that name (unknown host, image, file; a directory; a dangling link).
    #[error("not found: {0}")]
    NotFound(String),
    /// The image exists but its manifest cannot be read on this node (not replicated
    /// yet, or quarantined as corrupt).
    #[error("image {image} is unavailable on this node: {reason}")]
    Unavailable {
        /// The image.
        image: String,
        /// Why.
        reason: String,
    },
}

impl ResolveError {
    /// Shorthand for [`ResolveError::NotFound`].
    pub fn not_found(what: impl Into<String>) -> ResolveError {
        ResolveError::NotFound(what.into())
    }
}
