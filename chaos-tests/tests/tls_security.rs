//! Security against real bootd processes with `[tls]` (certificates made here with the
//! openssl CLI) and named tokens: the cluster elects a leader and replicates over mutual
//! TLS; bootctl without the CA, with a wrong CA, a peer whose certificate another CA signed,
//! a peer without TLS, and a read-only token trying a write are each refused with a clear
//! error; admin writes (also through a follower) land in the audit trail with the token name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use chaos_tests::cluster::{Cluster, Spec};
use chaos_tests::pki::TestPki;
use raftboot_raft::peer::tls::{https_client_config, load_roots, PeerTls, TlsMaterial};
use raftboot_raft::peer::{PeerAuth, PeerClient, PeerRequest, PeerResponse};
use raftboot_raft::state::AuditEntry;

const T: Duration = Duration::from_secs(30);

/// Run the real bootctl against `api` with a token file and, optionally, a CA.
fn bootctl(api: &str, token_file: &Path, ca: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(chaos_tests::bin("bootctl").unwrap());
    cmd.env_remove("RAFTBOOT_CA")
        .arg("--api")
        .arg(api)
        .arg("--token-file")
        .arg(token_file);
    if let Some(ca) = ca {
        cmd.arg("--ca").arg(ca);
    }
    cmd.args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// One line of a node's /metrics, fetched over HTTPS trusting the cluster CA.
/// The entries of a successful `bootctl audit --json`, checked to be `want` (actor,
/// action) in order.
fn audit_trail(o: &Output, want: &[(&str, &str)]) -> Vec<AuditEntry> {
    assert!(o.status.success(), "{}", text(o));
    let trail: Vec<AuditEntry> = serde_json::from_slice(&o.stdout).unwrap();
    let seen: Vec<(&str, &str)> = trail
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(seen, want, "{trail:#?}");
    trail
}

fn metric(c: &Cluster, id: u64, line_prefix: &str) -> u64 {
    let roots = load_roots(c.ca.as_ref().unwrap()).unwrap();
    let agent = ureq::AgentBuilder::new()
        .tls_config(Arc::new(https_client_config(roots).unwrap()))
        .build();
    let body = agent
        .get(&format!("https://{}/metrics", c.nodes[&id].admin))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    chaos_tests::metric_value(&body, line_prefix)
        .unwrap_or_else(|| panic!("metric {line_prefix} missing in:\n{body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_cluster_refuses_strangers_and_audits_every_write() {
    let c = Cluster::start(&Spec {
        tls: true,
        named_tokens: true,
        ..Spec::default()
    })
    .unwrap();
    let cc = &c;
    // Status calls go over HTTPS (the harness's client trusts the cluster CA), and the
    // election needs the mutual-TLS peer network.
    let leader = tokio::task::block_in_place(|| cc.wait_leader(T)).unwrap();
    let follower = *c.nodes.keys().find(|id| **id != leader).unwrap();
    let ca = c.ca.clone().unwrap();
    let dir = c.dir.path().to_path_buf();
    let admin_tok = dir.join("admin.token");
    let read_tok = dir.join("read.token");
    let deploy_tok = dir.join("deploy.token");
    let leader_api = c.nodes[&leader].admin.clone();
    let follower_api = c.nodes[&follower].admin.clone();
    println!("leader {leader}, follower {follower}");

    // An admin write on the leader (admin token), and one through a follower with the
    // admin-scope token `deploy` (forwarded over the peer network).
    let o = bootctl(
        &leader_api,
        &admin_tok,
        Some(&ca),
        &["hosts", "add", "52:54:00:aa:00:01", "web1"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = bootctl(
        &follower_api,
        &deploy_tok,
        Some(&ca),
        &["pools", "set", "lab", "10.9.0.100-10.9.0.150/24"],
    );
    assert!(o.status.success(), "{}", text(&o));

    // Replicated to every node over mutual TLS.
    let ids: Vec<u64> = c.nodes.keys().copied().collect();
    tokio::task::block_in_place(|| cc.wait_converged(&ids, T)).unwrap();

    // A read-only token reads, but a write is refused: 403, exit status 8, a clear line.
    let o = bootctl(&follower_api, &read_tok, Some(&ca), &["hosts", "list"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("web1"),
        "{}",
        text(&o)
    );
    let o = bootctl(
        &leader_api,
        &read_tok,
        Some(&ca),
        &["hosts", "add", "52:54:00:aa:00:02", "web2"],
    );
    println!("read-only write: {}", text(&o));
    assert_eq!(o.status.code(), Some(8), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("forbidden") && err.contains("\"ops\"") && err.contains("read scope"),
        "{}",
        text(&o)
    );
    let o = bootctl(&leader_api, &admin_tok, Some(&ca), &["hosts", "list"]);
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("web2"),
        "{}",
        text(&o)
    );
    assert_eq!(metric(&c, leader, "raftboot_admin_forbidden_total"), 1);

    // The audit trail (read from another node: it is replicated) names each write's token.
    let o = bootctl(&follower_api, &read_tok, Some(&ca), &["audit", "--json"]);
    let trail = audit_trail(&o, &[("admin", "put_host"), ("deploy", "put_pool")]);
    assert!(trail[0].detail.contains("web1"), "{trail:#?}");
    assert!(trail[1].detail.contains("lab"), "{trail:#?}");
    assert!(trail[0].at_ms > 0 && trail[1].at_ms >= trail[0].at_ms);
    let o = bootctl(&leader_api, &admin_tok, Some(&ca), &["audit"]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("deploy") && table.contains("put_pool"),
        "{}",
        text(&o)
    );

    // An image import: blobs go up over HTTPS, replicas pull them from peers over mutual
    // TLS, and the registration is audited.
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/hostname"), "tls-test\n").unwrap();
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(tree.join("etc/payload"), payload).unwrap();
    let o = bootctl(
        &leader_api,
        &admin_tok,
        Some(&ca),
        &[
            "image",
            "import",
            tree.to_str().unwrap(),
            "--name",
            "tiny",
            "--quiet",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let images_client = c.any_client();
    let ready = tokio::task::block_in_place(|| {
        chaos_tests::wait::until("image tiny ready on 3 boot servers", T, || {
            let v: Vec<raftboot::api::images::ImageView> =
                images_client.get("/v1/images").map_err(|e| e.to_string())?;
            match v.iter().find(|v| v.image.name == "tiny") {
                Some(v) if v.ready == 3 => Ok(v.ready),
                other => Err(format!("{other:?}")),
            }
        })
    })
    .unwrap();
    assert_eq!(ready, 3);
    let o = bootctl(
        &leader_api,
        &read_tok,
        Some(&ca),
        &["audit", "--json", "--limit", "1"],
    );
    let last: Vec<AuditEntry> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(last.len(), 1, "{last:?}");
    assert_eq!(
        (last[0].actor.as_str(), last[0].action.as_str()),
        ("admin", "register_image")
    );

    // bootctl without the CA: plain HTTP to the HTTPS port is answered with a clear error.
    let o = bootctl(&leader_api, &admin_tok, None, &["status"]);
    println!("no CA, plain http: {}", text(&o));
    assert_eq!(o.status.code(), Some(9), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--ca"),
        "{}",
        text(&o)
    );
    // https:// without the CA: the server's certificate is not trusted.
    let https = format!("https://{leader_api}");
    let o = bootctl(&https, &admin_tok, None, &["status"]);
    println!("no CA, https: {}", text(&o));
    assert_eq!(o.status.code(), Some(9), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--ca"),
        "{}",
        text(&o)
    );

    // A wrong CA: the client refuses the server.
    let stranger = TestPki::new(&dir.join("stranger"), "stranger").unwrap();
    let o = bootctl(
        &leader_api,
        &admin_tok,
        Some(&stranger.ca_cert),
        &["status"],
    );
    println!("wrong CA: {}", text(&o));
    assert_eq!(o.status.code(), Some(9), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not signed by the CA in"),
        "{}",
        text(&o)
    );

    // Peers: the right secret is not enough without a certificate from the cluster CA.
    let addr = c.nodes[&leader].peer.clone();
    let secret = c.secret.clone();
    let name = c.cluster_name.clone();
    let ping = |auth: PeerAuth| {
        let addr = addr.clone();
        async move {
            PeerClient::new(auth, leader, addr)
                .call(&PeerRequest::Ping, Duration::from_secs(5))
                .await
        }
    };
    let localhost = ["127.0.0.1".parse().unwrap()];
    let cluster_ca = c.ca.clone().unwrap();
    let refused_before = metric(&c, leader, "raftboot_peer_refused_total{reason=\"tls\"}");
    // Positive control: a certificate from the cluster CA and the secret.
    // (Issued by the cluster's own CA, whose key the harness left next to its certificate.)
    let member_leaf = TestPki::open(cluster_ca.parent().unwrap(), "cluster")
        .issue("extra-member", &localhost, &[])
        .unwrap();
    let member = TlsMaterial::load(&member_leaf.cert, &member_leaf.key, &cluster_ca).unwrap();
    let auth = PeerAuth::new(&name, follower, secret.as_bytes())
        .with_tls(Arc::new(PeerTls::new(&member).unwrap()));
    match ping(auth).await {
        Ok(PeerResponse::Pong { node, .. }) => assert_eq!(node, leader),
        other => panic!("a peer with a cluster-CA certificate was not served: {other:?}"),
    }
    // A certificate signed by another CA (trusting the cluster CA itself).
    let rogue_leaf = stranger.issue("rogue", &localhost, &[]).unwrap();
    let rogue = TlsMaterial::load(&rogue_leaf.cert, &rogue_leaf.key, &cluster_ca).unwrap();
    let auth = PeerAuth::new(&name, follower, secret.as_bytes())
        .with_tls(Arc::new(PeerTls::new(&rogue).unwrap()));
    let r = ping(auth).await;
    println!("peer with a foreign certificate: {r:?}");
    assert!(
        r.is_err(),
        "a peer with a foreign certificate was served: {r:?}"
    );
    // No TLS at all.
    let r = ping(PeerAuth::new(&name, follower, secret.as_bytes())).await;
    println!("peer without TLS: {r:?}");
    assert!(r.is_err(), "a plain peer was served: {r:?}");
    let refused_after = metric(&c, leader, "raftboot_peer_refused_total{reason=\"tls\"}");
    assert!(
        refused_after >= refused_before + 2,
        "TLS refusals counted: {refused_before} -> {refused_after}"
    );
    let log = std::fs::read_to_string(c.log_path(leader)).unwrap();
    assert!(
        log.contains("peer refused: TLS handshake failed"),
        "leader log lacks the refusal"
    );

    // Still one healthy cluster: a further write replicates everywhere.
    let o = bootctl(
        &follower_api,
        &admin_tok,
        Some(&ca),
        &["groups", "set", "web"],
    );
    assert!(o.status.success(), "{}", text(&o));
    tokio::task::block_in_place(|| cc.wait_converged(&ids, T)).unwrap();
}

/// Boot servers in network namespaces on one LAN, with TLS everywhere: a leader is elected
/// and writes replicate over mutual TLS; after the leader is killed a new one is elected
/// over TLS and takes writes; a client namespace without the CA is refused; the audit trail
/// has both writes under their tokens.
#[test]
fn tls_cluster_on_a_lan_elects_replicates_and_fails_over() {
    use chaos_tests::lan::Lan;
    if !Lan::available() {
        eprintln!("SKIP: network namespaces need root (CI runs as root)");
        return;
    }
    let mut c = Cluster::start(&Spec {
        on_lan: true,
        tls: true,
        named_tokens: true,
        ..Spec::default()
    })
    .unwrap();
    let (lan, client_ns) = c.lan.as_ref().map(|(l, n)| (l.clone(), n.clone())).unwrap();
    let leader = c.wait_leader(T).unwrap();
    println!("leader {leader}");
    let ids: Vec<u64> = c.nodes.keys().copied().collect();

    // Cluster::bootctl runs the real bootctl in the client namespace with --ca.
    let o = c
        .bootctl(&["hosts", "add", "52:54:00:bb:00:01", "db1"])
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    c.wait_converged(&ids, T).unwrap();

    // Without the CA, from the same client namespace: refused with the TLS exit status.
    let bootctl = chaos_tests::bin("bootctl").unwrap();
    let apis: Vec<String> = c.nodes.values().map(|n| n.admin.clone()).collect();
    let o = lan
        .cmd(&client_ns, "env")
        .arg("-u")
        .arg("RAFTBOOT_CA")
        .arg(&bootctl)
        .arg("--api")
        .arg(apis.join(","))
        .arg("--token-file")
        .arg(c.dir.path().join("admin.token"))
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(9), "{}", text(&o));

    // Kill the leader: the other two elect a new one over TLS and take a write from `deploy`.
    c.kill(leader).unwrap();
    let next = c.wait_leader(T).unwrap();
    assert_ne!(next, leader);
    let o = lan
        .cmd(&client_ns, "env")
        .arg(&bootctl)
        .arg("--ca")
        .arg(c.ca.as_ref().unwrap())
        .arg("--api")
        .arg(c.nodes[&next].admin.clone())
        .arg("--token-file")
        .arg(c.dir.path().join("deploy.token"))
        .args(["hosts", "add", "52:54:00:bb:00:02", "db2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    c.start_node(leader).unwrap();
    c.wait_converged(&ids, T).unwrap();

    let o = c.bootctl(&["audit", "--json"]).unwrap();
    let trail = audit_trail(&o, &[("admin", "put_host"), ("deploy", "put_host")]);
    assert!(trail[1].detail.contains("db2"), "{trail:#?}");

    // A planned failover (its Hold and Campaign requests travel over mutual TLS) moves
    // leadership, and is audited.
    let before = c.wait_leader(T).unwrap();
    let o = c.bootctl(&["failover"]).unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let after = c.wait_leader(T).unwrap();
    assert_ne!(after, before, "{}", text(&o));
    chaos_tests::wait::until("the failover in the audit trail", T, || {
        let o = c.bootctl(&["audit", "--json"]).map_err(|e| e.to_string())?;
        let trail: Vec<AuditEntry> =
            serde_json::from_slice(&o.stdout).map_err(|e| format!("{e}: {}", text(&o)))?;
        match trail.last() {
            Some(e) if e.action == "failover" && e.actor == "admin" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .unwrap();
}
