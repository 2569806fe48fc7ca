//! Small IPv4 helpers: `a.b.c.d/prefix` parsing and subnet membership.

use std::net::Ipv4Addr;

/// Parses `a.b.c.d/prefix` with a prefix of 1..=32.
pub(crate) fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (addr, prefix) = s.trim().split_once('/').ok_or_else(|| {
        format!("{s:?} is not of the form a.b.c.d/prefix (e.g. \"10.0.0.11/24\")")
    })?;
    let addr: Ipv4Addr = addr
        .trim()
        .parse()
        .map_err(|_| format!("{addr:?} in {s:?} is not an IPv4 address"))?;
    let prefix: u8 = prefix
        .trim()
        .parse()
        .ok()
        .filter(|p| (1..=32).contains(p))
        .ok_or_else(|| format!("prefix in {s:?} must be a number from 1 to 32"))?;
    Ok((addr, prefix))
}

/// The network mask of a prefix length (0..=32).
fn mask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

/// True when `addr` lies in the subnet `net/prefix`.
pub(crate) fn in_subnet(addr: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let m = mask(prefix);
    u32::from(addr) & m == u32::from(net) & m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cidr() {
        assert_eq!(
            parse_cidr("10.0.0.11/24"),
            Ok((Ipv4Addr::new(10, 0, 0, 11), 24))
        );
        assert!(parse_cidr("10.0.0.11").is_err());
        assert!(parse_cidr("10.0.0.11/0").is_err());
        assert!(parse_cidr("10.0.0.11/33").is_err());
        assert!(parse_cidr("10.0.0/24").is_err());
    }

    #[test]
    fn subnet_membership() {
        let net = Ipv4Addr::new(10, 0, 0, 11);
        assert!(in_subnet(Ipv4Addr::new(10, 0, 0, 10), net, 24));
        assert!(!in_subnet(Ipv4Addr::new(10, 0, 1, 10), net, 24));
        assert!(in_subnet(Ipv4Addr::new(10, 0, 1, 10), net, 16));
        assert!(in_subnet(net, net, 32));
        assert!(!in_subnet(Ipv4Addr::new(10, 0, 0, 12), net, 32));
    }
}
