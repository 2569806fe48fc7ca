//! Hardware (MAC) address text: parsing operator input and formatting the
//! canonical lowercase, colon-separated form.

/// Parses `52:54:00:12:34:56` or `52-54-00-12-34-56` (any case) into six bytes.
///
/// Exactly six two-digit hex groups with one consistent separator are accepted.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let s = s.trim();
    let sep = if s.contains(':') { ':' } else { '-' };
    let mut out = [0u8; 6];
    let mut groups = s.split(sep);
    for byte in &mut out {
        let group = groups.next()?;
        if group.len() != 2 || !group.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(group, 16).ok()?;
    }
    groups.next().is_none().then_some(out)
}

/// Formats six bytes as lowercase `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: [u8; 6] = [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef];

    #[test]
    fn accepts_both_separators_and_cases() {
        assert_eq!(parse_mac("52:54:00:ab:cd:ef"), Some(M));
        assert_eq!(parse_mac("52-54-00-AB-CD-EF"), Some(M));
        assert_eq!(parse_mac(" 52:54:00:Ab:cD:eF "), Some(M));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:ef:01",
            "52:54:00:ab:cd:eg",
            "52:54:00-ab:cd:ef",
            "5254.00ab.cdef",
            "525400abcdef",
            "52:54:00:ab:cd:+f",
            "2:54:00:ab:cd:eff",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_lowercase_colon() {
        assert_eq!(format_mac(&M), "52:54:00:ab:cd:ef");
        assert_eq!(parse_mac(&format_mac(&M)), Some(M));
    }
}
