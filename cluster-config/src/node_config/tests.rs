//! Unit tests for [`NodeConfig`] parsing and validation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::*;

const SECRET: &str = "0123456789abcdef0123\n";

/// A tempdir holding `s.secret` and `a.token`, and the config path inside it.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.secret"), SECRET).unwrap();
        std::fs::write(dir.path().join("a.token"), "  tok\n").unwrap();
        Dir { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("c.toml")
    }

    fn parse(&self, text: &str, id: Option<u64>) -> Result<NodeConfig, ConfigError> {
        NodeConfig::parse(text, &self.path(), id)
    }
}

const HEAD: &str = "node_id = 1\ncluster_name = \"t\"\ndata_dir = \"d{id}\"\n\
                    secret_file = \"s.secret\"\nadmin_token_file = \"a.token\"\n";

fn node(id: u64, role: &str, octet: u8) -> String {
    format!(
        "[[nodes]]\nid = {id}\nname = \"n{id}\"\nrole = \"{role}\"\n\
         peer_addr = \"10.0.0.{octet}:7100\"\nadmin_addr = \"10.0.0.{octet}:7200\"\n\
         lan = \"10.0.0.{octet}/24\"\n"
    )
}

fn three() -> String {
    format!(
        "{HEAD}{}{}{}",
        node(1, "voter", 11),
        node(2, "voter", 12),
        node(3, "voter", 13)
    )
}

#[test]
fn minimal_cluster_with_defaults() {
    let d = Dir::new();
    let c = d.parse(&three(), None).unwrap();
    assert_eq!(c.node_id, 1);
    assert_eq!(c.data_dir, d.dir.path().join("d1"));
    assert_eq!(c.secret, SECRET.trim_end().as_bytes());
    assert_eq!(c.admin_token, "tok");
    assert_eq!(c.raft, RaftTimings::default());
    assert_eq!(c.vip, None);
    assert_eq!(c.this_node().name, "n1");
    assert_eq!(c.this_node().services, Services::default());
    assert_eq!(c.this_node().lan, Some((Ipv4Addr::new(10, 0, 0, 11), 24)));
    assert_eq!(c.peers().count(), 2);
    assert_eq!(c.source, d.path());
}

#[test]
fn override_and_sorting() {
    let d = Dir::new();
    let text = format!("{HEAD}{}{}", node(9, "voter", 19), node(2, "voter", 12));
    let c = d.parse(&text, Some(2)).unwrap();
    assert_eq!(c.node_id, 2);
    assert_eq!(c.data_dir, d.dir.path().join("d2"));
    assert_eq!(c.nodes.iter().map(|n| n.id).collect::<Vec<_>>(), vec![2, 9]);
    assert!(c.node(9).is_some() && c.node(1).is_none());
}

#[test]
fn node_id_missing_or_unlisted() {
    let d = Dir::new();
    let e = d.parse(&three(), Some(4)).unwrap_err();
    assert_eq!(e.key, "node_id");
    assert!(e.message.contains("node_id 4"), "{e}");
    let text = three().replace("node_id = 1", "node_id = 7");
    let e = d.parse(&text, None).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (1, "node_id"));
    assert!(
        e.to_string()
            .ends_with("node_id: node_id 7 is not listed in [[nodes]]"),
        "{e}"
    );
    let text = three().replace("node_id = 1\n", "");
    assert!(d
        .parse(&text, None)
        .unwrap_err()
        .message
        .contains("--node-id"));
    assert_eq!(d.parse(&text, Some(3)).unwrap().node_id, 3);
}

#[test]
fn duplicates_point_at_second() {
    let d = Dir::new();
    let dup_id = format!("{HEAD}{}{}", node(1, "voter", 11), node(1, "voter", 12));
    let e = d.parse(&dup_id, None).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (14, "nodes.id"));
    let dup_name = dup_id.replacen("id = 1\nname = \"n1\"", "id = 2\nname = \"n1\"", 2);
    let dup_name = dup_name.replacen("id = 2\nname = \"n1\"", "id = 1\nname = \"n1\"", 1);
    let e = d.parse(&dup_name, None).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (15, "nodes.name"), "{e}");
    let dup_peer = three().replace("10.0.0.12:7100", "10.0.0.11:7100");
    let e = d.parse(&dup_peer, None).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (17, "nodes.peer_addr"), "{e}");
    let dup_admin = three().replace("10.0.0.13:7200", "10.0.0.12:7200");
    let e = d.parse(&dup_admin, None).unwrap_err();
    assert_eq!(e.key, "nodes.admin_addr");
    let dup_lan = three().replace("10.0.0.13/24", "10.0.0.12/24");
    assert_eq!(d.parse(&dup_lan, None).unwrap_err().key, "nodes.lan");
}

#[test]
fn roles() {
    let d = Dir::new();
    let pair = format!(
        "{HEAD}{}{}{}",
        node(1, "voter", 11),
        node(2, "voter", 12),
        node(3, "witness", 13)
    );
    let c = d.parse(&pair, None).unwrap();
    assert_eq!(c.node(3).unwrap().role, Role::Witness);
    let two_witnesses = pair.replace(
        "role = \"voter\"\npeer_addr = \"10.0.0.12",
        "role = \"witness\"\npeer_addr = \"10.0.0.12",
    );
    let e = d.parse(&two_witnesses, None).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (23, "nodes.role"), "{e}");
    let only = format!("{HEAD}{}", node(1, "witness", 11));
    let e = d.parse(&only, None).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (9, "nodes.role"), "{e}");
    assert!(e.message.contains("witness cannot be the only voter"));
    let e = d
        .parse(&three().replace("\"voter\"", "\"boss\""), None)
        .unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (9, "nodes.role"), "{e}");
    let e = d.parse(HEAD, None).unwrap_err();
    assert_eq!(e.key, "nodes");
}

#[test]
fn addresses() {
    let d = Dir::new();
    let e = d
        .parse(&three().replace("10.0.0.11:7100", "10.0.0.11"), None)
        .unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (10, "nodes.peer_addr"), "{e}");
    let e = d
        .parse(&three().replace("10.0.0.11:7200", "10.0.0.11:0"), None)
        .unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (11, "nodes.admin_addr"), "{e}");
    let e = d
        .parse(&three().replace("10.0.0.11:7100", "0.0.0.0:7100"), None)
        .unwrap_err();
    assert_eq!(e.key, "nodes.peer_addr");
    let e = d
        .parse(&three().replace("10.0.0.11/24", "10.0.0.11/40"), None)
        .unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (12, "nodes.lan"), "{e}");
    let e = d
        .parse(&three().replace("name = \"n2\"", "name = \"\""), None)
        .unwrap_err();
    assert_eq!(e.key, "nodes.name");
}

#[test]
fn services_and_shared_hosts() {
    let d = Dir::new();
    let svc = "[nodes.services]\nbind = \"127.0.0.1\"\nhttp_port = 8080\n";
    let text = format!("{}{svc}", three());
    let c = d.parse(&text, None).unwrap();
    assert_eq!(c.node(3).unwrap().services.http_port, 8080);
    assert_eq!(c.node(3).unwrap().services.dhcp_port, 67);
    let e = d
        .parse(
            &format!("{}[nodes.services]\nbind = \"x\"\n", three()),
            None,
        )
        .unwrap_err();
    assert_eq!(e.key, "nodes.services.bind");
    let e = d
        .parse(
            &format!("{}[nodes.services]\nhttp_port = 69\n", three()),
            None,
        )
        .unwrap_err();
    assert_eq!(e.key, "nodes.services.http_port", "{e}");
    // Two voters on one machine with default ports collide.
    let same_host = three()
        .replace("10.0.0.12:7100", "10.0.0.11:7101")
        .replace("10.0.0.12:7200", "10.0.0.11:7201");
    let e = d.parse(&same_host, None).unwrap_err();
    assert_eq!(
        (e.line, e.key.as_str()),
        (13, "nodes.services.dhcp_port"),
        "{e}"
    );
    assert!(e.message.contains("port 67 of host 10.0.0.11"), "{e}");
    // Disjoint bind addresses on one machine are fine.
    let two_binds = format!(
        "{}[nodes.services]\nbind = \"10.0.0.14\"\n",
        same_host.replace(
            "[[nodes]]\nid = 3",
            "[nodes.services]\nbind = \"10.0.0.11\"\n[[nodes]]\nid = 3"
        )
    );
    let two_binds = two_binds.replacen(
        "lan = \"10.0.0.11/24\"\n",
        "lan = \"10.0.0.11/24\"\n[nodes.services]\nbind = \"10.0.0.15\"\n",
        1,
    );
    d.parse(&two_binds, None).unwrap();
    // A witness on the same machine as a voter is fine.
    let witness = format!("{HEAD}{}{}", node(1, "voter", 11), node(2, "witness", 12))
        .replace("10.0.0.12:7100", "10.0.0.11:7101")
        .replace("10.0.0.12:7200", "10.0.0.11:7201");
    d.parse(&witness, None).unwrap();
    // The admin API may not reuse a boot service port on the same host.
    let e = d
        .parse(&three().replace("10.0.0.11:7200", "10.0.0.11:80"), None)
        .unwrap_err();
    assert!(e.message.contains("port 80"), "{e}");
}

#[test]
fn vip_rules() {
    let d = Dir::new();
    let vip = |addr: &str, iface: &str| {
        three().replace(
            "[[nodes]]\nid = 1",
            &format!("[vip]\naddress = \"{addr}\"\ninterface = \"{iface}\"\n\n[[nodes]]\nid = 1"),
        )
    };
    let c = d.parse(&vip("10.0.0.10/24", "eth0"), None).unwrap();
    let v = c.vip.unwrap();
    assert_eq!(
        (v.address, v.prefix, v.interface.as_str()),
        (Ipv4Addr::new(10, 0, 0, 10), 24, "eth0")
    );
    let e = d.parse(&vip("10.0.1.10/24", "eth0"), None).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (7, "vip.address"));
    assert!(
        e.message
            .contains("VIP 10.0.1.10/24 is not in the subnet of node n1's lan 10.0.0.11/24"),
        "{e}"
    );
    let e = d.parse(&vip("10.0.0.12/24", "eth0"), None).unwrap_err();
    assert!(e.message.contains("n2"), "{e}");
    let e = d.parse(&vip("10.0.0.10", "eth0"), None).unwrap_err();
    assert_eq!(e.key, "vip.address");
    let e = d.parse(&vip("10.0.0.10/0", "eth0"), None).unwrap_err();
    assert_eq!(e.key, "vip.address");
    let e = d.parse(&vip("10.0.0.10/24", " "), None).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (8, "vip.interface"));
}

#[test]
fn raft_rules_reach_errors() {
    let d = Dir::new();
    let text = three().replace(
        "[[nodes]]\nid = 1",
        "[raft]\nvip_hold_ms = 500\n[[nodes]]\nid = 1",
    );
    let e = d.parse(&text, None).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (7, "raft.vip_hold_ms"));
}

#[test]
fn secret_and_token_files() {
    let d = Dir::new();
    let missing = three().replace("s.secret", "nope.secret");
    let e = d.parse(&missing, None).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (4, "secret_file"));
    assert!(
        e.message
            .contains(&d.dir.path().join("nope.secret").display().to_string()),
        "{e}"
    );
    std::fs::write(d.dir.path().join("short"), "0123456789abcde\n\n").unwrap();
    let e = d
        .parse(&three().replace("s.secret", "short"), None)
        .unwrap_err();
    assert_eq!(e.key, "secret_file");
    assert!(e.message.contains("15 bytes"), "{e}");
    std::fs::write(d.dir.path().join("empty"), " \n").unwrap();
    let e = d
        .parse(&three().replace("a.token", "empty"), None)
        .unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (5, "admin_token_file"));
    let e = d
        .parse(&three().replace("a.token", "gone"), None)
        .unwrap_err();
    assert_eq!(e.key, "admin_token_file");
}

#[test]
fn absolute_paths_and_load() {
    let d = Dir::new();
    let abs = d.dir.path().join("s.secret");
    let text = three().replace("\"s.secret\"", &format!("{:?}", abs.display().to_string()));
    let c = d.parse(&text, None).unwrap();
    assert_eq!(c.secret_file, abs);
    std::fs::write(d.path(), three()).unwrap();
    let c = NodeConfig::load(&d.path(), Some(2)).unwrap();
    assert_eq!(c.this_node().name, "n2");
    let e = NodeConfig::load(Path::new("/nonexistent/raftboot.toml"), None).unwrap_err();
    assert_eq!((e.line, e.column), (0, 0));
    assert!(e
        .to_string()
        .starts_with("/nonexistent/raftboot.toml:0:0: cannot read file:"));
}

#[test]
fn toml_errors_locate_key() {
    let d = Dir::new();
    let text = three().replace("name = \"n2\"", "name = \"n2\"\nport = 3");
    let e = d.parse(&text, None).unwrap_err();
    assert_eq!((e.line, e.column, e.key.as_str()), (16, 1, "nodes.port"));
    assert!(
        e.to_string().starts_with(&format!(
            "{}:16:1: nodes.port: unknown field `port`",
            d.path().display()
        )),
        "{e}"
    );
    let e = d
        .parse(&three().replace("id = 3", "id = \"three\""), None)
        .unwrap_err();
    assert_eq!((e.line, e.column, e.key.as_str()), (21, 6, "nodes.id"));
    let e = d
        .parse(&three().replace("cluster_name = \"t\"\n", ""), None)
        .unwrap_err();
    assert_eq!(e.key, "cluster_name");
}

#[test]
fn tftp_table_defaults_and_overrides() {
    let d = Dir::new();
    let c = d.parse(&three(), None).unwrap();
    assert_eq!(c.tftp.loader_image, DEFAULT_LOADER_IMAGE);
    let text = format!("{HEAD}[tftp]\n{}", node(1, "voter", 11));
    assert_eq!(d.parse(&text, None).unwrap().tftp, TftpSettings::default());
    let text = format!(
        "{HEAD}[tftp]\nloader_image = \" loaders-2 \"\n{}",
        node(1, "voter", 11)
    );
    assert_eq!(d.parse(&text, None).unwrap().tftp.loader_image, "loaders-2");
}

#[test]
fn tftp_table_rejects_bad_values_and_unknown_keys() {
    let d = Dir::new();
    for bad in ["\"\"", "\"a/b\""] {
        let text = format!(
            "{HEAD}[tftp]\nloader_image = {bad}\n{}",
            node(1, "voter", 11)
        );
        let e = d.parse(&text, None).unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (7, "tftp.loader_image"), "{e}");
    }
    let text = format!("{HEAD}[tftp]\nroot = \"/srv\"\n{}", node(1, "voter", 11));
    let e = d.parse(&text, None).unwrap_err();
    assert_eq!(e.key, "tftp.root", "{e}");
}

#[test]
fn chunk_cache_size_defaults_overrides_and_limit() {
    let d = Dir::new();
    let c = d.parse(&three(), None).unwrap();
    assert_eq!(
        c.chunk_cache_bytes,
        (DEFAULT_CHUNK_CACHE_MIB as usize) << 20
    );
    for (mib, bytes) in [
        (0u64, 0usize),
        (64, 64 << 20),
        (MAX_CHUNK_CACHE_MIB, 64 << 30),
    ] {
        let text = format!("{HEAD}chunk_cache_mib = {mib}\n{}", node(1, "voter", 11));
        assert_eq!(
            d.parse(&text, None).unwrap().chunk_cache_bytes,
            bytes,
            "{mib}"
        );
    }
    let text = format!(
        "{HEAD}chunk_cache_mib = {}\n{}",
        MAX_CHUNK_CACHE_MIB + 1,
        node(1, "voter", 11)
    );
    let e = d.parse(&text, None).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (6, "chunk_cache_mib"), "{e}");
    let text = format!("{HEAD}chunk_cache_mib = -1\n{}", node(1, "voter", 11));
    assert!(d.parse(&text, None).is_err());
}

#[test]
fn named_tokens_and_tls() {
    let d = Dir::new();
    std::fs::write(d.dir.path().join("ops.token"), "opsecret\n").unwrap();
    for f in ["n1.crt", "n1.key", "ca.crt"] {
        std::fs::write(d.dir.path().join(f), "pem").unwrap();
    }
    let sec = "[tls]\ncert_file = \"n{id}.crt\"\nkey_file = \"n{id}.key\"\nca_file = \"ca.crt\"\n\
               [[api.tokens]]\nname = \"ops\"\nscope = \"read\"\nsecret_file = \"ops.token\"\n";
    let c = d.parse(&format!("{HEAD}{sec}{}", three().replace(HEAD, "")), None);
    let c = c.unwrap();
    let tls = c.tls.unwrap();
    assert_eq!(tls.cert_file, d.dir.path().join("n1.crt"));
    assert_eq!(tls.ca_file, d.dir.path().join("ca.crt"));
    assert_eq!(c.api_tokens.len(), 1);
    assert_eq!(c.api_tokens[0].name, "ops");
    assert_eq!(c.api_tokens[0].scope, Scope::Read);
    assert_eq!(c.api_tokens[0].secret, "opsecret");

    // Wrong scope, reserved name, same secret as the admin token, missing CA: each named.
    let bad_scope = sec.replace("\"read\"", "\"root\"");
    let e = d
        .parse(
            &format!("{HEAD}{bad_scope}{}", three().replace(HEAD, "")),
            None,
        )
        .unwrap_err();
    assert_eq!(e.key, "api.tokens.scope");
    let reserved = sec.replace("name = \"ops\"", "name = \"admin\"");
    let e = d
        .parse(
            &format!("{HEAD}{reserved}{}", three().replace(HEAD, "")),
            None,
        )
        .unwrap_err();
    assert_eq!(e.key, "api.tokens.name");
    let same = sec.replace("ops.token", "a.token");
    let e = d
        .parse(&format!("{HEAD}{same}{}", three().replace(HEAD, "")), None)
        .unwrap_err();
    assert_eq!(e.key, "api.tokens.secret_file");
    let no_ca = sec.replace("ca.crt", "missing-ca.crt");
    let e = d
        .parse(&format!("{HEAD}{no_ca}{}", three().replace(HEAD, "")), None)
        .unwrap_err();
    assert_eq!(e.key, "tls.ca_file");
    assert!(e.to_string().contains("missing-ca.crt"), "{e}");
    let unknown = sec.replace("ca_file", "ca_path");
    assert!(d
        .parse(
            &format!("{HEAD}{unknown}{}", three().replace(HEAD, "")),
            None
        )
        .is_err());
}
