//! [`negotiate`]: RFC 2347 option negotiation for a read request — `blksize` (RFC 2348),
//! `timeout` and `tsize` (RFC 2349), `windowsize` (RFC 7440) — into the transfer
//! parameters and the OACK to send. Pure. Unknown options and unusable values are
//! ignored (left out of the OACK), as RFC 2347 allows.

use std::time::Duration;

/// Largest `blksize` (RFC 2348).
pub const MAX_BLKSIZE: u16 = 65464;
/// Smallest `blksize` (RFC 2348).
pub const MIN_BLKSIZE: u16 = 8;

/// Server-side limits applied to what clients ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Retransmit timeout when the client asks for none.
    pub timeout: Duration,
    /// Upper bound on `blksize`.
    pub block_size_limit: Option<u16>,
    /// Upper bound on `windowsize`.
    pub window_size_limit: Option<u16>,
}

/// The outcome of negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Bytes per DATA block.
    pub blksize: u16,
    /// Blocks per window (1 = lock-step).
    pub windowsize: u16,
    /// Retransmit timeout.
    pub timeout: Duration,
    /// The accepted options, in request order (empty: no OACK, start with block 1).
    pub oack: Vec<(&'static str, String)>,
}

/// Negotiate `options` (names lower-cased) for a file of `size` bytes.
pub fn negotiate(options: &[(String, String)], size: u64, limits: &Limits) -> Negotiated {
    let mut n = Negotiated {
        blksize: 512,
        windowsize: 1,
        timeout: limits.timeout,
        oack: Vec::new(),
    };
    for (name, value) in options {
        let num = value.trim().parse::<u64>().ok();
        match (name.as_str(), num) {
            ("blksize", Some(v)) if v >= u64::from(MIN_BLKSIZE) && !has(&n, "blksize") => {
                let cap = limits
                    .block_size_limit
                    .unwrap_or(MAX_BLKSIZE)
                    .min(MAX_BLKSIZE);
                let b = u16::try_from(v)
                    .unwrap_or(u16::MAX)
                    .min(cap)
                    .max(MIN_BLKSIZE);
                n.blksize = b;
                n.oack.push(("blksize", b.to_string()));
            }
            ("windowsize", Some(v)) if v >= 1 && !has(&n, "windowsize") => {
                let cap = limits.window_size_limit.unwrap_or(u16::MAX).max(1);
                let w = u16::try_from(v).unwrap_or(u16::MAX).min(cap);
                n.windowsize = w;
                n.oack.push(("windowsize", w.to_string()));
            }
            ("timeout", Some(v)) if (1..=255).contains(&v) && !has(&n, "timeout") => {
                n.timeout = Duration::from_secs(v);
                n.oack.push(("timeout", v.to_string()));
            }
            ("tsize", Some(_)) if !has(&n, "tsize") => {
                n.oack.push(("tsize", size.to_string()));
            }
            _ => {}
        }
    }
    n
}

fn has(n: &Negotiated, name: &str) -> bool {
    n.oack.iter().any(|(k, _)| *k == name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn o(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const L: Limits = Limits {
        timeout: Duration::from_secs(1),
        block_size_limit: None,
        window_size_limit: Some(64),
    };

    #[test]
    fn pxelinux_options() {
        let n = negotiate(&o(&[("tsize", "0"), ("blksize", "1408")]), 1234, &L);
        assert_eq!(n.blksize, 1408);
        assert_eq!(n.windowsize, 1);
        assert_eq!(
            n.oack,
            vec![("tsize", "1234".to_owned()), ("blksize", "1408".to_owned())]
        );
    }

    #[test]
    fn limits_and_bad_values() {
        let n = negotiate(
            &o(&[
                ("blksize", "99999"),
                ("windowsize", "500"),
                ("timeout", "0"),
                ("frob", "1"),
                ("blksize", "4"),
            ]),
            0,
            &L,
        );
        assert_eq!(n.blksize, MAX_BLKSIZE);
        assert_eq!(n.windowsize, 64);
        assert_eq!(n.timeout, Duration::from_secs(1));
        assert_eq!(n.oack.len(), 2);
        let n = negotiate(&o(&[("blksize", "x"), ("timeout", "3")]), 0, &L);
        assert_eq!(n.blksize, 512);
        assert_eq!(n.timeout, Duration::from_secs(3));
        assert!(negotiate(&[], 5, &L).oack.is_empty());
    }
}
