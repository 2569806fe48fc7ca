//! Peer RPC authentication against a real bootd: a wrong secret, an unknown node id, the
//! wrong target id, and an RPC that names another sender are all refused and counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chaos_tests::cluster::{Cluster, Spec};
use raftboot_raft::peer::{PeerAuth, PeerClient, PeerError, PeerRequest, PeerResponse};

const T: Duration = Duration::from_secs(30);

fn metric(c: &Cluster, id: u64, line_prefix: &str) -> u64 {
    let body = ureq::get(&format!("http://{}/metrics", c.nodes[&id].admin))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    chaos_tests::metric_value(&body, line_prefix)
        .unwrap_or_else(|| panic!("metric {line_prefix} missing in:\n{body}"))
}

/// Wait (bounded) until the counter reaches `want`, then check it is exactly `want`: the
/// server counts a refusal when it has processed the closed handshake, which may be just
/// after the client saw it.
fn await_metric(c: &Cluster, id: u64, line_prefix: &str, want: u64) {
    let _ = chaos_tests::wait::until(line_prefix, Duration::from_secs(10), || {
        let v = metric(c, id, line_prefix);
        if v >= want {
            Ok(())
        } else {
            Err(v.to_string())
        }
    });
    assert_eq!(metric(c, id, line_prefix), want, "{line_prefix}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_rpc_refuses_wrong_secret_and_wrong_ids() {
    let c = Cluster::start(&Spec::default()).unwrap();
    let cc = &c;
    tokio::task::block_in_place(|| cc.wait_leader(T)).unwrap();
    let addr1 = c.nodes[&1].peer.clone();
    let call = |auth: PeerAuth, target: u64, req: PeerRequest| {
        let addr = addr1.clone();
        async move {
            PeerClient::new(auth, target, addr)
                .call(&req, Duration::from_secs(5))
                .await
        }
    };
    let good = c.secret.as_bytes();

    // Positive control: right secret, a member's id, the right target.
    match call(
        PeerAuth::new(&c.cluster_name, 2, good),
        1,
        PeerRequest::Ping,
    )
    .await
    {
        Ok(PeerResponse::Pong {
            node: 1,
            initialized: true,
        }) => {}
        other => panic!("good peer not served: {other:?}"),
    }

    let secret_before = metric(&c, 1, "raftboot_peer_refused_total{reason=\"secret\"}");
    let r = call(
        PeerAuth::new(&c.cluster_name, 2, b"not-the-cluster-secret-at-all"),
        1,
        PeerRequest::Ping,
    )
    .await;
    assert!(
        matches!(r, Err(PeerError::Refused(_))),
        "wrong secret: {r:?}"
    );
    tokio::task::block_in_place(|| {
        await_metric(
            &c,
            1,
            "raftboot_peer_refused_total{reason=\"secret\"}",
            secret_before + 1,
        )
    });

    let id_before = metric(&c, 1, "raftboot_peer_refused_total{reason=\"identity\"}");
    // A node id that is not a member.
    let r = call(
        PeerAuth::new(&c.cluster_name, 9, good),
        1,
        PeerRequest::Ping,
    )
    .await;
    assert!(
        matches!(&r, Err(PeerError::Refused(m)) if m.contains("not a member")),
        "unknown id: {r:?}"
    );
    // Dialing node 1's port believing it is node 2.
    let r = call(
        PeerAuth::new(&c.cluster_name, 3, good),
        2,
        PeerRequest::Ping,
    )
    .await;
    assert!(
        matches!(&r, Err(PeerError::Refused(m)) if m.contains("wrong node id")),
        "wrong target: {r:?}"
    );
    tokio::task::block_in_place(|| {
        await_metric(
            &c,
            1,
            "raftboot_peer_refused_total{reason=\"identity\"}",
            id_before + 2,
        )
    });

    // Authenticated as node 2, but the vote request claims to come from node 3.
    let sender_before = metric(&c, 1, "raftboot_peer_refused_total{reason=\"rpc_sender\"}");
    let vote = openraft::raft::VoteRequest::new(openraft::Vote::new(99, 3), None);
    let r = call(
        PeerAuth::new(&c.cluster_name, 2, good),
        1,
        PeerRequest::Vote(vote),
    )
    .await;
    assert!(
        matches!(&r, Ok(PeerResponse::Refused(m)) if m.contains("claims to come from node 3")),
        "spoofed sender: {r:?}"
    );
    tokio::task::block_in_place(|| {
        await_metric(
            &c,
            1,
            "raftboot_peer_refused_total{reason=\"rpc_sender\"}",
            sender_before + 1,
        )
    });

    // The cluster is unharmed: still the same term-stable leader serving writes.
    let s = c.status(1).unwrap();
    assert!(s.term < 99, "a refused vote changed the term: {}", s.term);
}
