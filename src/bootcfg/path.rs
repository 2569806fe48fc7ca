//! [`BootPath`]: a request path normalized into components that cannot leave the
//! namespace.

use std::fmt;

use super::error::PathError;

/// Longest request path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 1024;
/// Longest path component accepted, in bytes.
pub const MAX_COMPONENT_LEN: usize = 255;

/// A normalized, non-empty path: no empty, `.` or `..` components, no NUL, backslash or
/// control characters. A leading `/` (or pxelinux's `::` prefix) means the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootPath {
    components: Vec<String>,
}

impl BootPath {
    /// Normalize `raw`, refusing anything that could escape the namespace.
    pub fn parse(raw: &str) -> Result<BootPath, PathError> {
        if raw.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        if raw.contains('\0') {
            return Err(PathError::Nul);
        }
        if raw.contains('\\') {
            return Err(PathError::Backslash);
        }
        if raw.chars().any(char::is_control) {
            return Err(PathError::Control);
        }
        let body = raw.strip_prefix("::").unwrap_or(raw);
        let mut components = Vec::new();
        for c in body.split('/') {
            match c {
                "" | "." => {}
                ".." => return Err(PathError::Traversal),
                c if c.len() > MAX_COMPONENT_LEN => return Err(PathError::ComponentTooLong),
                c => components.push(c.to_string()),
            }
        }
        if components.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(BootPath { components })
    }

    /// The components, first to last (never empty).
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// The components joined with `/` (no leading `/`).
    pub fn as_relative(&self) -> String {
        self.components.join("/")
    }
}

impl fmt::Display for BootPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.as_relative())
    }
}
