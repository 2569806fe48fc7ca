//! Source positions: the text of one configuration file together with its path,
//! turning byte offsets (TOML spans) into `line:column` and recovering the dotted
//! key a `toml` error is about.

use std::ops::Range;
use std::path::Path;

use crate::ConfigError;

/// One configuration file's path and text, used to locate errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl<'a> Source<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        Source { path, text }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let mut line = 1;
        let mut column = 1;
        for (i, ch) in self.text.char_indices() {
            if i >= offset {
                break;
            }
            if ch == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        (line, column)
    }

    /// An error at the start of `span`, or at line 1 column 1 without a span.
    pub fn error(
        &self,
        span: Option<Range<usize>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = span.map_or((1, 1), |s| self.position(s.start));
        ConfigError::new(self.path, line, column, key, message)
    }

    /// Converts a `toml` deserialization error, recovering the key from the text.
    pub fn toml_error(&self, err: &toml::de::Error) -> ConfigError {
        let message = err
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let key = self.toml_error_key(err);
        self.error(err.span(), key, message)
    }

    fn toml_error_key(&self, err: &toml::de::Error) -> String {
        let message = err.message();
        let named = named_key(message);
        let Some(span) = err.span() else {
            return named.unwrap_or_default();
        };
        let start = floor_char_boundary(self.text, span.start);
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[line_start..]
            .find('\n')
            .map_or(self.text.len(), |i| line_start + i);
        let line = &self.text[line_start..line_end];
        if line.trim_start().starts_with('[') {
            // The error is about a table header itself (or the table it opens).
            return match header_path(line) {
                None => String::new(),
                Some(header) if message.contains("duplicate key") => header,
                Some(header) => join(header, named),
            };
        }
        let table = self.text[..line_start]
            .lines()
            .rev()
            .find_map(header_path)
            .unwrap_or_default();
        join(
            table,
            named.or_else(|| key_before_value(&self.text[line_start..start])),
        )
    }
}

/// `table.leaf`, `leaf` at the root, or `table` when there is no leaf.
fn join(table: String, leaf: Option<String>) -> String {
    match leaf {
        None => table,
        Some(leaf) if table.is_empty() => leaf,
        Some(leaf) => format!("{table}.{leaf}"),
    }
}

/// The dotted path of a table header line, if the line is one.
fn header_path(line: &str) -> Option<String> {
    let line = line.trim_start();
    let inner = if let Some(rest) = line.strip_prefix("[[") {
        &rest[..rest.find("]]")?]
    } else if let Some(rest) = line.strip_prefix('[') {
        &rest[..rest.find(']')?]
    } else {
        return None;
    };
    Some(clean_dotted(inner))
}

/// The key named in messages such as ``unknown field `x` `` or ``missing field `x` ``.
fn named_key(message: &str) -> Option<String> {
    ["unknown field `", "missing field `", "duplicate key `"]
        .iter()
        .find_map(|prefix| {
            let rest = &message[message.find(prefix)? + prefix.len()..];
            Some(rest[..rest.find('`')?].to_string())
        })
}

/// The key of `key = ` when `prefix` (line start up to a value) ends in `=`.
fn key_before_value(prefix: &str) -> Option<String> {
    let before_eq = prefix.trim_end().strip_suffix('=')?;
    let key = before_eq
        .rsplit(['{', ','])
        .next()
        .unwrap_or(before_eq)
        .trim();
    (!key.is_empty()).then(|| clean_dotted(key))
}

/// `a . "b"` → `a.b`.
fn clean_dotted(key: &str) -> String {
    key.split('.')
        .map(|part| part.trim().trim_matches(['"', '\'']))
        .collect::<Vec<_>>()
        .join(".")
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut i = offset.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        top: Option<u64>,
        t: Option<Inner>,
        arr: Option<Vec<Inner>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        x: u64,
        y: Option<u64>,
    }

    fn err(text: &str) -> ConfigError {
        let src = Source::new(Path::new("f.toml"), text);
        src.toml_error(&toml::from_str::<Doc>(text).unwrap_err())
    }

    #[test]
    fn positions_are_one_based_in_chars() {
        let src = Source::new(Path::new("f"), "ab\né = 1\n");
        assert_eq!(src.position(0), (1, 1));
        assert_eq!(src.position(3), (2, 1));
        assert_eq!(src.position(6), (2, 3));
    }

    #[test]
    fn unknown_key_in_table() {
        let e = err("top = 1\n[t]\nx = 1\nzz = 2\n");
        assert_eq!((e.line, e.column, e.key.as_str()), (4, 1, "t.zz"));
    }

    #[test]
    fn wrong_type_names_key() {
        let e = err("top = 1\n[[arr]]\nx = 1\n[[arr]]\n x = \"no\"\n");
        assert_eq!((e.line, e.column, e.key.as_str()), (5, 6, "arr.x"));
        let e = err("top = \"s\"\n");
        assert_eq!((e.line, e.key.as_str()), (1, "top"));
    }

    #[test]
    fn missing_key_points_at_table() {
        let e = err("[t] # c\ny = 1\n");
        assert_eq!((e.line, e.key.as_str()), (1, "t.x"));
    }

    #[test]
    fn syntax_error_has_position() {
        let e = err("top = 1\n[t]\nx = 1\n[arr\n");
        assert_eq!((e.line, e.key.as_str()), (4, ""));
        assert!(!e.message.contains('\n'));
        let e = err("top = \n");
        assert_eq!((e.line, e.key.as_str()), (1, "top"));
    }

    #[test]
    fn duplicate_keys_and_tables() {
        let e = err("top = 1\n[t]\nx = 1\nx = 2\n");
        assert_eq!((e.line, e.key.as_str()), (4, "t.x"));
        let e = err("[t]\nx = 1\n[t]\nx = 2\n");
        assert_eq!((e.line, e.key.as_str()), (3, "t"));
        let e = err("[[arr]]\nx = 1\n[arr]\nx = 2\n");
        assert_eq!((e.line, e.key.as_str()), (3, "arr"));
    }
}
