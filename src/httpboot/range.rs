//! `Range: bytes=...` parsing (RFC 9110 section 14): one range, resolved against the
//! representation's length.

/// An inclusive byte range `first..=last` within the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub first: u64,
    /// Last byte (inclusive).
    pub last: u64,
}

impl ByteRange {
    /// Number of bytes.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Never true: a range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Why a Range header is not served as a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Not a single `bytes` range we understand (multiple ranges, other units, garbage):
    /// the header is ignored and the whole file sent.
    #[error("range header ignored")]
    Ignored,
    /// Syntactically valid but outside the file: 416.
    #[error("range not satisfiable")]
    Unsatisfiable,
}

/// Parse `header` for a file of `size` bytes.
pub fn parse_range(header: &str, size: u64) -> Result<ByteRange, RangeError> {
    let spec = header
        .trim()
        .strip_prefix("bytes=")
        .ok_or(RangeError::Ignored)?
        .trim();
    if spec.contains(',') {
        return Err(RangeError::Ignored);
    }
    let (a, b) = spec.split_once('-').ok_or(RangeError::Ignored)?;
    let num = |s: &str| -> Result<u64, RangeError> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(RangeError::Ignored);
        }
        s.parse().map_err(|_| RangeError::Ignored)
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // Suffix range: the last n bytes.
        let n = num(b)?;
        if n == 0 || size == 0 {
            return Err(RangeError::Unsatisfiable);
        }
        return Ok(ByteRange {
            first: size.saturating_sub(n),
            last: size - 1,
        });
    }
    let first = num(a)?;
    let last = if b.is_empty() { u64::MAX } else { num(b)? };
    if last < first {
        return Err(RangeError::Ignored);
    }
    if first >= size {
        return Err(RangeError::Unsatisfiable);
    }
    Ok(ByteRange {
        first,
        last: last.min(size - 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let r = |f, l| Ok(ByteRange { first: f, last: l });
        assert_eq!(parse_range("bytes=0-99", 1000), r(0, 99));
        assert_eq!(parse_range("bytes=900-", 1000), r(900, 999));
        assert_eq!(parse_range("bytes=900-5000", 1000), r(900, 999));
        assert_eq!(parse_range("bytes=-100", 1000), r(900, 999));
        assert_eq!(parse_range("bytes=-5000", 1000), r(0, 999));
        assert_eq!(parse_range(" bytes= 5 - 5 ", 1000), r(5, 5));
        assert_eq!(
            parse_range("bytes=1000-", 1000),
            Err(RangeError::Unsatisfiable)
        );
        assert_eq!(
            parse_range("bytes=-0", 1000),
            Err(RangeError::Unsatisfiable)
        );
        assert_eq!(parse_range("bytes=0-", 0), Err(RangeError::Unsatisfiable));
        for ignored in [
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=",
            "bytes=+1-2",
        ] {
            assert_eq!(
                parse_range(ignored, 1000),
                Err(RangeError::Ignored),
                "{ignored}"
            );
        }
        assert_eq!(ByteRange { first: 3, last: 3 }.len(), 1);
    }
}
