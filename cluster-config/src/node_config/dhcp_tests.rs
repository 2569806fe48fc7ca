//! Unit tests for the `[dhcp]` table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;

use super::*;

const HEAD: &str = "node_id = 1\ncluster_name = \"t\"\ndata_dir = \"d\"\n\
                    secret_file = \"s.secret\"\nadmin_token_file = \"a.token\"\n";
const NODE: &str = "[[nodes]]\nid = 1\nname = \"n1\"\npeer_addr = \"10.0.0.11:7100\"\n\
                    admin_addr = \"10.0.0.11:7200\"\n";

fn parse(dhcp: &str) -> Result<NodeConfig, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.secret"), "0123456789abcdef0123\n").unwrap();
    std::fs::write(dir.path().join("a.token"), "tok\n").unwrap();
    let text = format!("{HEAD}{dhcp}\n{NODE}");
    NodeConfig::parse(&text, &dir.path().join("c.toml"), None)
}

#[test]
fn absent_table_gives_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.dhcp, Dhcp::default());
    assert_eq!(c.dhcp.unknown_clients, UnknownClients::Pool);
    assert_eq!(c.dhcp.boot_files.bios, "pxelinux.0");
    assert_eq!(c.dhcp.lease_secs, 3600);
}

#[test]
fn full_table() {
    let c = parse(
        "[dhcp]\nunknown_clients = \"register\"\npool = \"lab\"\nlease_secs = 600\n\
         domain = \"boot.example.net\"\ndns = [\"10.0.0.1\", \"10.0.0.2\"]\n\
         router = \"10.0.0.1\"\nnext_server = \"10.0.0.10\"\ninterface = \"eth0\"\n\
         registration_group = \"registration\"\n\
         [dhcp.boot_files]\nbios = \"lpxelinux.0\"\nipxe = \"menu.ipxe\"\n\
         http_x86_64 = \"http://{next_server}:8080/ipxe.efi\"\n",
    )
    .unwrap();
    let d = c.dhcp;
    assert_eq!(d.unknown_clients, UnknownClients::Register);
    assert_eq!(d.pool, "lab");
    assert_eq!(d.lease_secs, 600);
    assert_eq!(d.domain.as_deref(), Some("boot.example.net"));
    assert_eq!(
        d.dns,
        vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)]
    );
    assert_eq!(d.router, Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(d.next_server, Some(Ipv4Addr::new(10, 0, 0, 10)));
    assert_eq!(d.interface.as_deref(), Some("eth0"));
    assert_eq!(d.registration_group.as_deref(), Some("registration"));
    assert_eq!(d.boot_files.bios, "lpxelinux.0");
    assert_eq!(d.boot_files.ipxe, "menu.ipxe");
    assert_eq!(d.boot_files.uefi_x86_64, "bootx64.efi");
    assert_eq!(
        d.boot_files.http_x86_64,
        "http://{next_server}:8080/ipxe.efi"
    );
}

#[test]
fn errors_name_line_and_key() {
    let cases = [
        (
            "[dhcp]\nunknown_clients = \"maybe\"\n",
            7,
            "dhcp.unknown_clients",
        ),
        (
            "[dhcp]\nunknown_clients = \"register\"\n",
            7,
            "dhcp.registration_group",
        ),
        ("[dhcp]\nlease_secs = 5\n", 7, "dhcp.lease_secs"),
        ("[dhcp]\npool = \" \"\n", 7, "dhcp.pool"),
        ("[dhcp]\ndomain = \"a..b\"\n", 7, "dhcp.domain"),
        ("[dhcp]\ndns = [\"10.0.0.300\"]\n", 7, "dhcp.dns"),
        ("[dhcp]\nrouter = \"x\"\n", 7, "dhcp.router"),
        ("[dhcp]\nnext_server = \"10.0.0\"\n", 7, "dhcp.next_server"),
        (
            "[dhcp]\ninterface = \"a-very-long-interface\"\n",
            7,
            "dhcp.interface",
        ),
        (
            "[dhcp.boot_files]\nhttp_x86_64 = \"bootx64.efi\"\n",
            7,
            "dhcp.boot_files.http_x86_64",
        ),
        (
            "[dhcp.boot_files]\nbios = \"\"\n",
            7,
            "dhcp.boot_files.bios",
        ),
    ];
    for (table, line, key) in cases {
        let e = parse(table).unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (line, key), "{table}: {e}");
    }
    let e = parse("[dhcp]\nleases = 5\n").unwrap_err();
    assert!(e.message.contains("unknown field"), "{e}");
    let e = parse("[dhcp.boot_files]\nefi = \"x\"\n").unwrap_err();
    assert!(e.message.contains("unknown field"), "{e}");
}
