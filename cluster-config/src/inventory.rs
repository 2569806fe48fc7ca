//! [`Inventory`]: the host inventory file applied with `bootctl hosts apply FILE`
//! — its wire schema, per-host checks, and uniqueness of MACs, names and IPs.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::mac::{format_mac, parse_mac};
use crate::source::Source;
use crate::ConfigError;

/// Group used when a host names none.
pub const DEFAULT_GROUP: &str = "default";

/// A validated host inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Hosts in file order.
    pub hosts: Vec<HostSpec>,
}

/// One machine the cluster boots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSpec {
    /// Hardware address of the booting NIC.
    pub mac: [u8; 6],
    /// Unique host name.
    pub name: String,
    /// Group whose boot profile applies (default `"default"`).
    pub group: String,
    /// Fixed IPv4 address to hand out, if any.
    pub ip: Option<Ipv4Addr>,
    /// Per-host boot file overriding the group's.
    pub boot_file: Option<String>,
    /// Extra kernel command line for this host.
    pub kernel_args: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireInventory {
    #[serde(default)]
    hosts: Vec<Spanned<WireHost>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireHost {
    mac: Spanned<String>,
    name: Spanned<String>,
    #[serde(default)]
    group: Option<Spanned<String>>,
    #[serde(default)]
    ip: Option<Spanned<String>>,
    #[serde(default)]
    boot_file: Option<Spanned<String>>,
    #[serde(default)]
    kernel_args: Option<String>,
}

impl Inventory {
    /// Reads and validates an inventory file.
    pub fn load(path: &Path) -> Result<Inventory, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, &e))?;
        Self::parse(&text, path)
    }

    /// Validates inventory text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Inventory, ConfigError> {
        let src = Source::new(path, text);
        let wire: WireInventory = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
        let mut hosts: Vec<HostSpec> = Vec::with_capacity(wire.hosts.len());
        let mut macs: HashMap<[u8; 6], usize> = HashMap::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut ips: HashMap<Ipv4Addr, usize> = HashMap::new();
        for (i, w) in wire.hosts.iter().enumerate() {
            let w = w.get_ref();
            let host = build_host(&src, w)?;
            let first_name = |j: usize| hosts.get(j).map_or("?", |h| h.name.as_str());
            if let Some(&j) = macs.get(&host.mac) {
                return Err(src.error(
                    Some(w.mac.span()),
                    "hosts.mac",
                    format!(
                        "duplicate mac {} (already used by host {})",
                        format_mac(&host.mac),
                        first_name(j)
                    ),
                ));
            }
            if let Some(&j) = names.get(&host.name) {
                return Err(src.error(
                    Some(w.name.span()),
                    "hosts.name",
                    format!(
                        "duplicate host name {:?} (already used by the host with mac {})",
                        host.name,
                        hosts
                            .get(j)
                            .map_or_else(String::new, |h| format_mac(&h.mac))
                    ),
                ));
            }
            if let (Some(ip), Some(span)) = (host.ip, w.ip.as_ref().map(Spanned::span)) {
                if let Some(&j) = ips.get(&ip) {
                    return Err(src.error(
                        Some(span),
                        "hosts.ip",
                        format!("duplicate ip {ip} (already used by host {})", first_name(j)),
                    ));
                }
                ips.insert(ip, i);
            }
            macs.insert(host.mac, i);
            names.insert(host.name.clone(), i);
            hosts.push(host);
        }
        Ok(Inventory { hosts })
    }

    /// The host with this MAC, if listed.
    pub fn by_mac(&self, mac: &[u8; 6]) -> Option<&HostSpec> {
        self.hosts.iter().find(|h| &h.mac == mac)
    }
}

fn build_host(src: &Source<'_>, w: &WireHost) -> Result<HostSpec, ConfigError> {
    let mac = parse_mac(w.mac.get_ref()).ok_or_else(|| {
        src.error(
            Some(w.mac.span()),
            "hosts.mac",
            format!(
                "{:?} is not a MAC address (expected six hex pairs like \"52:54:00:12:34:56\")",
                w.mac.get_ref()
            ),
        )
    })?;
    let name = non_empty(src, &w.name, "hosts.name")?;
    let group = match &w.group {
        Some(g) => non_empty(src, g, "hosts.group")?,
        None => DEFAULT_GROUP.to_string(),
    };
    let ip = match &w.ip {
        None => None,
        Some(ip) => Some(ip.get_ref().trim().parse::<Ipv4Addr>().map_err(|_| {
            src.error(
                Some(ip.span()),
                "hosts.ip",
                format!("{:?} is not an IPv4 address", ip.get_ref()),
            )
        })?),
    };
    let boot_file = match &w.boot_file {
        Some(b) => Some(non_empty(src, b, "hosts.boot_file")?),
        None => None,
    };
    Ok(HostSpec {
        mac,
        name,
        group,
        ip,
        boot_file,
        kernel_args: w.kernel_args.clone(),
    })
}

fn non_empty(src: &Source<'_>, v: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
    let s = v.get_ref().trim();
    if s.is_empty() {
        let leaf = key.rsplit('.').next().unwrap_or(key);
        return Err(src.error(Some(v.span()), key, format!("{leaf} must not be empty")));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn parse(text: &str) -> Result<Inventory, ConfigError> {
        Inventory::parse(text, Path::new("hosts.toml"))
    }

    #[test]
    fn defaults_and_parsing() {
        let inv = parse(
            "[[hosts]]\nmac = \"52-54-00-12-34-AB\"\nname = \"a\"\n\n\
             [[hosts]]\nmac = \"52:54:00:12:34:56\"\nname = \"b\"\ngroup = \"web\"\n\
             ip = \"10.0.0.5\"\nboot_file = \"x.efi\"\nkernel_args = \"quiet\"\n",
        )
        .unwrap();
        assert_eq!(inv.hosts.len(), 2);
        let a = &inv.hosts[0];
        assert_eq!(a.mac, [0x52, 0x54, 0, 0x12, 0x34, 0xab]);
        assert_eq!(
            (a.group.as_str(), a.ip, &a.boot_file),
            ("default", None, &None)
        );
        let b = &inv.hosts[1];
        assert_eq!(b.ip, Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(b.kernel_args.as_deref(), Some("quiet"));
        assert_eq!(inv.by_mac(&b.mac), Some(b));
        assert_eq!(parse("").unwrap(), Inventory::default());
    }

    #[test]
    fn rejects_bad_values() {
        let e = parse("[[hosts]]\nmac = \"nope\"\nname = \"a\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (2, "hosts.mac"));
        let e = parse("[[hosts]]\nmac = \"52:54:00:12:34:56\"\nname = \"a\"\nip = \"10.0.0\"\n")
            .unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (4, "hosts.ip"));
        let e = parse("[[hosts]]\nmac = \"52:54:00:12:34:56\"\nname = \" \"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (3, "hosts.name"));
        let e =
            parse("[[hosts]]\nmac = \"52:54:00:12:34:56\"\nname = \"a\"\nmacc = 1\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (4, "hosts.macc"));
        let e = parse("[[hosts]]\nname = \"a\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (1, "hosts.mac"));
    }

    #[test]
    fn rejects_duplicates() {
        let two = |a: &str, b: &str| {
            parse(&format!(
                "[[hosts]]\nmac = \"52:54:00:00:00:01\"\nname = \"a\"\nip = \"10.0.0.1\"\n{a}\n\
                 [[hosts]]\nmac = \"52:54:00:00:00:02\"\nname = \"b\"\n{b}\n"
            ))
        };
        assert!(two("", "").is_ok());
        let e = parse(
            "[[hosts]]\nmac = \"52:54:00:00:00:01\"\nname = \"a\"\n\
             [[hosts]]\nmac = \"52-54-00-00-00-01\"\nname = \"b\"\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (5, "hosts.mac"));
        let e = parse(
            "[[hosts]]\nmac = \"52:54:00:00:00:01\"\nname = \"a\"\n\
             [[hosts]]\nmac = \"52:54:00:00:00:02\"\nname = \"a\"\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (6, "hosts.name"));
        let e = two("", "ip = \"10.0.0.1\"").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (9, "hosts.ip"));
    }
}
