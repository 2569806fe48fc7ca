//! The shipped example files parse and validate, and typical mistakes in them
//! are reported with the file, line and key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use cluster_config::{ConfigError, Inventory, NodeConfig, Role, UnknownClients, LOCAL_EXAMPLE};

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect(needle) + 1
}

/// A tempdir with the example's secret and token files, paths made relative.
struct Cluster {
    dir: tempfile::TempDir,
    file: &'static str,
    text: String,
}

impl Cluster {
    fn new(file: &'static str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let text = example(file).replace("\"/etc/raftboot/", "\"etc/");
        let c = Cluster { dir, file, text };
        c.write("etc/cluster.secret", "a secret of at least 16 bytes\n");
        c.write("etc/admin.token", "token\n");
        c.write("cluster.secret", "0123456789abcdef\n");
        c.write("admin.token", "local-token\n");
        c
    }

    fn write(&self, rel: &str, contents: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join(self.file)
    }

    fn parse(&self, id: Option<u64>) -> Result<NodeConfig, ConfigError> {
        NodeConfig::parse(&self.text, &self.path(), id)
    }

    fn parse_with(&self, text: &str) -> ConfigError {
        NodeConfig::parse(text, &self.path(), None).unwrap_err()
    }
}

#[test]
fn local_example_is_embedded() {
    assert_eq!(LOCAL_EXAMPLE, example("local.toml"));
}

#[test]
fn local_resolves_per_node() {
    let c = Cluster::new("local.toml");
    for id in 1..=3 {
        let cfg = c.parse(Some(id)).unwrap();
        assert_eq!(cfg.node_id, id);
        let expected = c.dir.path().join(format!("node{id}"));
        assert_eq!(cfg.data_dir, expected);
        assert_eq!(cfg.this_node().name, format!("node{id}"));
        assert_eq!(cfg.secret, b"0123456789abcdef");
        assert_eq!(cfg.admin_token, "local-token");
        assert_eq!(cfg.raft.heartbeat_ms, 50);
        assert_eq!(cfg.raft.vip_hold_ms, 180);
        assert!(cfg.vip.is_none());
        assert_eq!(cfg.tftp.loader_image, "bootloaders");
    }
    assert_eq!(c.parse(None).unwrap().node_id, 1);
}

#[test]
fn local_via_load_from_disk() {
    let c = Cluster::new("local.toml");
    std::fs::write(c.path(), LOCAL_EXAMPLE).unwrap();
    let cfg = NodeConfig::load(&c.path(), Some(2)).unwrap();
    assert_eq!(cfg.this_node().peer_addr.to_string(), "127.0.0.1:7102");
    assert_eq!(cfg.secret_file, c.dir.path().join("cluster.secret"));
}

#[test]
fn trio_parses() {
    let c = Cluster::new("trio.toml");
    let cfg = c.parse(None).unwrap();
    assert_eq!(cfg.cluster_name, "prod");
    assert_eq!(cfg.data_dir, PathBuf::from("/var/lib/raftboot"));
    assert_eq!(cfg.nodes.len(), 3);
    assert!(cfg.nodes.iter().all(|n| n.role == Role::Voter));
    let vip = cfg.vip.clone().unwrap();
    assert_eq!(
        (vip.address.to_string(), vip.prefix),
        ("10.0.0.10".to_string(), 24)
    );
    assert_eq!(cfg.node(2).unwrap().services.http_port, 80);
    assert_eq!(cfg.tftp.loader_image, "pxe-loaders");
    let d = &cfg.dhcp;
    assert_eq!(d.unknown_clients, UnknownClients::Pool);
    assert_eq!((d.pool.as_str(), d.lease_secs), ("default", 3600));
    assert_eq!(d.domain.as_deref(), Some("boot.example.net"));
    assert_eq!(d.router.map(|r| r.to_string()).as_deref(), Some("10.0.0.1"));
    assert_eq!(d.next_server, None);
    assert_eq!(d.boot_files, cluster_config::BootFiles::default());
}

#[test]
fn dhcp_unknown_key_names_line_and_key() {
    let c = Cluster::new("trio.toml");
    let text = c
        .text
        .replace("lease_secs = 3600", "lease_secs = 3600\nleases = 1");
    let e = c.parse_with(&text);
    assert_eq!(
        (e.line, e.key.as_str()),
        (line_of(&text, "leases = 1"), "dhcp.leases")
    );
    let text = c.text.replace("ipxe = \"boot.ipxe\"", "ipxe = \"\"");
    let e = c.parse_with(&text);
    assert_eq!(e.key, "dhcp.boot_files.ipxe");
}

#[test]
fn dhcp_proxy_mode_is_validated() {
    let c = Cluster::new("trio.toml");
    assert_eq!(
        c.parse(Some(1)).unwrap().dhcp.mode,
        cluster_config::DhcpMode::Server
    );
    let text = c
        .text
        .replace("# mode = \"proxy\"", "mode = \"proxy\"")
        .replace("# proxy_port = 4011", "proxy_port = 4012");
    let cfg = NodeConfig::parse(&text, &c.path(), Some(1)).unwrap();
    assert_eq!(
        (cfg.dhcp.mode, cfg.dhcp.proxy_port),
        (cluster_config::DhcpMode::Proxy, 4012)
    );
    let text = c.text.replace("# mode = \"proxy\"", "mode = \"relay\"");
    let e = c.parse_with(&text);
    assert_eq!(
        (e.line, e.key.as_str()),
        (line_of(&text, "mode = \"relay\""), "dhcp.mode")
    );
    // proxy_port without proxy mode is a mistake, not silently ignored.
    let text = c.text.replace("# proxy_port = 4011", "proxy_port = 4011");
    assert_eq!(c.parse_with(&text).key, "dhcp.proxy_port");
}

#[test]
fn pair_witness_parses() {
    let c = Cluster::new("pair-witness.toml");
    let cfg = c.parse(Some(3)).unwrap();
    assert_eq!(cfg.this_node().role, Role::Witness);
    assert_eq!(
        cfg.nodes.iter().filter(|n| n.role == Role::Voter).count(),
        2
    );
    assert_eq!(cfg.raft.vip_hold_ms, 150);
    assert_eq!(cfg.tftp, cluster_config::TftpSettings::default());
    assert_eq!(cfg.dhcp.unknown_clients, UnknownClients::Ignore);
    assert_eq!(cfg.dhcp.lease_secs, 7200);
}

#[test]
fn hosts_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hosts.toml");
    let inv = Inventory::load(&path).unwrap();
    assert_eq!(inv.hosts.len(), 3);
    assert_eq!(inv.hosts[2].mac, [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]);
    assert_eq!(inv.hosts[2].group, "default");
    assert_eq!(
        cluster_config::format_mac(&inv.hosts[0].mac),
        "52:54:00:12:34:56"
    );
}

#[test]
fn unknown_key_names_line_and_key() {
    let c = Cluster::new("trio.toml");
    let text = c
        .text
        .replace("interface = \"eth0\"", "interface = \"eth0\"\nmask = 24");
    let line = line_of(&text, "mask = 24");
    let e = c.parse_with(&text).to_string();
    assert!(
        e.contains(&format!(
            "trio.toml:{line}:1: vip.mask: unknown field `mask`"
        )),
        "{e}"
    );
}

#[test]
fn wrong_type_names_line_and_key() {
    let c = Cluster::new("trio.toml");
    let text = c
        .text
        .replace("heartbeat_ms = 100", "heartbeat_ms = \"fast\"");
    let line = line_of(&text, "heartbeat_ms = \"fast\"");
    let e = c.parse_with(&text);
    assert_eq!((e.line, e.key.as_str()), (line, "raft.heartbeat_ms"));
    assert!(e.to_string().contains(&format!("trio.toml:{line}:")), "{e}");
}

#[test]
fn duplicate_node_id_points_at_second() {
    let c = Cluster::new("trio.toml");
    let text = c.text.replace("id = 3", "id = 2");
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("id = 2"))
        .last()
        .unwrap()
        .0
        + 1;
    let e = c.parse_with(&text);
    assert_eq!((e.line, e.key.as_str()), (line, "nodes.id"));
    assert!(e.message.contains("duplicate node id 2"), "{e}");
}

#[test]
fn vip_outside_subnet() {
    let c = Cluster::new("pair-witness.toml");
    let text = c
        .text
        .replace("address = \"10.0.0.10/24\"", "address = \"10.0.1.10/24\"");
    let e = c.parse_with(&text);
    assert_eq!(e.line, line_of(&text, "10.0.1.10/24"));
    assert!(
        e.to_string().contains(
            "vip.address: VIP 10.0.1.10/24 is not in the subnet of node boot-a's lan 10.0.0.11/24"
        ),
        "{e}"
    );
}

#[test]
fn witness_only_cluster() {
    let c = Cluster::new("pair-witness.toml");
    let text = c.text.replace("role = \"voter\"", "role = \"witness\"");
    let e = c.parse_with(&text);
    assert_eq!(e.key, "nodes.role");
    let head = &c.text[..c.text.find("[[nodes]]\nid = 1").unwrap()];
    let witness = &c.text[c.text.find("[[nodes]]\nid = 3").unwrap()..];
    let one = format!("{head}{witness}");
    let e = c.parse_with(&one.replace("node_id = 1", "node_id = 3"));
    assert_eq!(e.key, "nodes.role");
    assert!(
        e.message.contains("witness cannot be the only voter"),
        "{e}"
    );
}

#[test]
fn vip_hold_must_be_below_election_min() {
    let c = Cluster::new("trio.toml");
    let text = c.text.replace("vip_hold_ms = 300", "vip_hold_ms = 500");
    let e = c.parse_with(&text);
    assert_eq!(
        (e.line, e.key.as_str()),
        (line_of(&text, "vip_hold_ms = 500"), "raft.vip_hold_ms")
    );
}

#[test]
fn unreadable_secret_names_key_and_path() {
    let c = Cluster::new("trio.toml");
    let text = c.text.replace("etc/cluster.secret", "etc/missing.secret");
    let e = c.parse_with(&text);
    assert_eq!(
        (e.line, e.key.as_str()),
        (line_of(&text, "secret_file ="), "secret_file")
    );
    let shown = e.to_string();
    assert!(shown.contains(": secret_file: "), "{shown}");
    assert!(
        shown.contains(
            &c.dir
                .path()
                .join("etc/missing.secret")
                .display()
                .to_string()
        ),
        "{shown}"
    );
}

#[test]
fn short_secret() {
    let c = Cluster::new("trio.toml");
    c.write("etc/cluster.secret", "too short\n");
    let e = c.parse(None).unwrap_err();
    assert_eq!(e.key, "secret_file");
    assert!(e.message.contains("at least 16 bytes"), "{e}");
}

#[test]
fn inventory_bad_and_duplicate_mac() {
    let text = example("hosts.toml");
    let path = Path::new("hosts.toml");
    let bad = text.replace("52:54:00:12:34:57", "52:54:00:12:34");
    let e = Inventory::parse(&bad, path).unwrap_err();
    let line = line_of(&bad, "\"52:54:00:12:34\"");
    assert!(
        e.to_string()
            .starts_with(&format!("hosts.toml:{line}:7: hosts.mac: ")),
        "{e}"
    );
    let dup = text.replace("52-54-00-AB-CD-EF", "52-54-00-12-34-56");
    let e = Inventory::parse(&dup, path).unwrap_err();
    assert_eq!(
        (e.line, e.key.as_str()),
        (line_of(&dup, "52-54-00-12-34-56"), "hosts.mac")
    );
    assert!(e.message.contains("already used by host web-01"), "{e}");
}
