//! Property and example tests of the state machine: determinism, no panics, lease safety.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;

fn mac(n: u8) -> Mac {
    Mac([0x52, 0x54, 0, 0, 0, n])
}

fn arb_ip() -> impl Strategy<Value = Ipv4Addr> {
    (0u8..4, 0u8..12).prop_map(|(c, d)| Ipv4Addr::new(10, 1, c, d))
}

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-c]{1,2}"]
}

fn arb_cmd() -> impl Strategy<Value = Command> {
    let m = (0u8..8).prop_map(mac);
    prop_oneof![
        (
            m.clone(),
            arb_name(),
            arb_name(),
            proptest::option::of(arb_ip())
        )
            .prop_map(|(mac, name, group, ip)| Command::PutHost(Host {
                mac,
                name,
                group,
                ip,
                boot_file: None,
                kernel_args: None
            })),
        m.clone().prop_map(|mac| Command::RemoveHost { mac }),
        arb_name().prop_map(|name| Command::PutGroup(Group {
            name,
            ..Group::default()
        })),
        arb_name().prop_map(|name| Command::RemoveGroup { name }),
        (arb_name(), arb_ip(), arb_ip(), 0u8..40).prop_map(|(name, start, end, prefix)| {
            Command::PutPool(Pool {
                name,
                start,
                end,
                prefix,
                router: None,
                dns: vec![],
            })
        }),
        arb_name().prop_map(|name| Command::RemovePool { name }),
        (
            m.clone(),
            arb_name(),
            proptest::option::of(arb_ip()),
            0u32..100
        )
            .prop_map(
                |(mac, pool, requested, lease_secs)| Command::AllocateLease {
                    mac,
                    pool,
                    requested,
                    lease_secs
                }
            ),
        (m.clone(), arb_ip()).prop_map(|(mac, ip)| Command::ReleaseLease { mac, ip }),
        (0u64..100_000).prop_map(|grace_ms| Command::ExpireLeases { grace_ms }),
        (arb_name(), "[0-9a-f]{64}|x", any::<u64>()).prop_map(|(name, manifest, size)| {
            Command::RegisterImage {
                name,
                manifest,
                size,
            }
        }),
        arb_name().prop_map(|name| Command::RemoveImage { name }),
        (arb_name(), arb_name()).prop_map(|(group, image)| Command::ActivateImage { group, image }),
        arb_name().prop_map(|group| Command::RollbackGroup { group }),
        (0u64..4, arb_name(), any::<bool>()).prop_map(|(node, image, ready)| {
            Command::SetReadiness {
                node,
                image,
                ready,
                reason: None,
            }
        }),
    ]
}

/// Plain commands, and batches of them (sometimes with a nested batch, which is refused).
fn arb_cmd_or_batch() -> impl Strategy<Value = Command> {
    prop_oneof![
        4 => arb_cmd(),
        1 => proptest::collection::vec(arb_cmd(), 0..6).prop_map(Command::Batch),
        1 => (proptest::collection::vec(arb_cmd(), 0..3), arb_cmd()).prop_map(|(mut v, c)| {
            v.push(Command::Batch(vec![c]));
            Command::Batch(v)
        }),
    ]
}

fn arb_requests() -> impl Strategy<Value = Vec<Request>> {
    proptest::collection::vec((arb_cmd_or_batch(), 0u64..200_000), 0..80).prop_map(|v| {
        let mut now = 1_700_000_000_000u64;
        v.into_iter()
            .map(|(cmd, dt)| {
                now += dt;
                Request { now_ms: now, cmd }
            })
            .collect()
    })
}

/// No two live leases for one address, no MAC with two leases, no lease on another host's
/// fixed address, and the MAC index agrees with the table.
fn check_invariants(s: &State, _now: u64) {
    let mut by_mac: BTreeMap<Mac, Ipv4Addr> = BTreeMap::new();
    for (ip, l) in &s.leases {
        assert_eq!(*ip, l.ip);
        assert!(
            by_mac.insert(l.mac, l.ip).is_none(),
            "{} holds two leases",
            l.mac
        );
        let fixed_other = s
            .hosts
            .values()
            .any(|h| h.ip == Some(*ip) && h.mac != l.mac);
        assert!(!fixed_other, "lease on another host's fixed address");
    }
    assert_eq!(by_mac, s.lease_by_mac);
    let mut rebuilt = s.clone();
    rebuilt.reindex();
    assert_eq!(
        rebuilt.fixed_ips, s.fixed_ips,
        "fixed-address index drifted"
    );
    assert_eq!(rebuilt.occupied, s.occupied, "occupancy index drifted");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The same command sequence gives the same state digest, also after a snapshot round
    /// trip in the middle; nothing panics.
    #[test]
    fn apply_is_deterministic(reqs in arb_requests(), cut in 0usize..80) {
        let mut a = State::default();
        let mut b = State::default();
        let mut ra = vec![];
        let mut rb = vec![];
        for (i, r) in reqs.iter().enumerate() {
            ra.push(a.apply(r));
            if i == cut {
                let bytes = crate::codec::encode(&b).unwrap();
                b = crate::codec::decode(&bytes).unwrap();
                b.reindex();
            }
            rb.push(b.apply(r));
            check_invariants(&a, r.now_ms);
        }
        prop_assert_eq!(ra, rb);
        prop_assert_eq!(a.digest(), b.digest());
    }

    /// Rejected commands leave the state unchanged.
    #[test]
    fn rejected_commands_change_nothing(reqs in arb_requests()) {
        let mut s = State::default();
        for r in &reqs {
            let before = s.digest();
            if let Response::Rejected(_) = s.apply(r) {
                prop_assert_eq!(before, s.digest(), "{:?}", r);
            }
        }
    }
}

#[test]
fn allocation_prefers_same_then_requested_then_lowest() {
    let mut s = State::default();
    let now = 1000;
    let req = |cmd| Request { now_ms: now, cmd };
    let pool = Pool {
        name: "p".into(),
        start: Ipv4Addr::new(10, 0, 0, 10),
        end: Ipv4Addr::new(10, 0, 0, 12),
        prefix: 24,
        router: None,
        dns: vec![],
    };
    assert_eq!(s.apply(&req(Command::PutPool(pool))), Response::Ok);
    let alloc = |mac, requested| Command::AllocateLease {
        mac,
        pool: "p".into(),
        requested,
        lease_secs: 60,
    };
    let ip_of = |r: Response| match r {
        Response::Lease(l) => l.ip,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        ip_of(s.apply(&req(alloc(mac(1), None)))),
        Ipv4Addr::new(10, 0, 0, 10)
    );
    let want = Ipv4Addr::new(10, 0, 0, 12);
    assert_eq!(ip_of(s.apply(&req(alloc(mac(2), Some(want))))), want);
    // Requested address taken -> lowest free.
    assert_eq!(
        ip_of(s.apply(&req(alloc(mac(3), Some(want))))),
        Ipv4Addr::new(10, 0, 0, 11)
    );
    // Renewal keeps the address.
    assert_eq!(
        ip_of(s.apply(&req(alloc(mac(1), Some(want))))),
        Ipv4Addr::new(10, 0, 0, 10)
    );
    // Exhausted.
    assert!(matches!(
        s.apply(&req(alloc(mac(4), None))),
        Response::Rejected(_)
    ));
    // After expiry the address can go to another MAC.
    let later = Request {
        now_ms: now + 61_000,
        cmd: alloc(mac(4), None),
    };
    assert!(matches!(s.apply(&later), Response::Lease(_)));
    check_invariants(&s, later.now_ms);
}

/// A batch answers each command in order, exactly as if they had been applied one by one
/// with the same time stamp; a nested batch is refused on its own.
#[test]
fn batch_applies_each_command_in_order() {
    let pool = Pool {
        name: "p".into(),
        start: Ipv4Addr::new(10, 0, 0, 10),
        end: Ipv4Addr::new(10, 0, 0, 11),
        prefix: 24,
        router: None,
        dns: vec![],
    };
    let alloc = |n| Command::AllocateLease {
        mac: mac(n),
        pool: "p".into(),
        requested: None,
        lease_secs: 60,
    };
    let cmds = vec![
        Command::PutPool(pool),
        alloc(1),
        alloc(2),
        alloc(3),
        Command::Batch(vec![alloc(4)]),
        Command::ReleaseLease {
            mac: mac(1),
            ip: Ipv4Addr::new(10, 0, 0, 10),
        },
        alloc(5),
    ];
    let mut one_by_one = State::default();
    let mut want: Vec<Response> = cmds
        .iter()
        .map(|c| {
            one_by_one.apply(&Request {
                now_ms: 5,
                cmd: c.clone(),
            })
        })
        .collect();
    // The nested batch is refused inside a batch (and does nothing on its own either).
    want[4] = Response::Rejected("nested batch".into());
    let mut batched = State::default();
    let got = batched.apply(&Request {
        now_ms: 5,
        cmd: Command::Batch(cmds),
    });
    assert_eq!(got, Response::Batch(want));
    assert_eq!(batched.digest(), one_by_one.digest());
    assert!(matches!(&got, Response::Batch(r) if matches!(&r[3], Response::Rejected(_))));
    assert!(
        matches!(&got, Response::Batch(r) if matches!(&r[6], Response::Lease(l) if l.ip == Ipv4Addr::new(10, 0, 0, 10)))
    );
    check_invariants(&batched, 5);
}

/// Restore replaces the whole state on an empty one, is refused on a non-empty one unless
/// forced, and rebuilds the derived indexes (the allocator skips restored leases).
#[test]
fn restore_is_refused_on_state_unless_forced() {
    let mut src = State::default();
    let put_pool = Command::PutPool(Pool {
        name: "p".into(),
        start: Ipv4Addr::new(10, 1, 0, 1),
        end: Ipv4Addr::new(10, 1, 0, 3),
        prefix: 24,
        router: None,
        dns: vec![],
    });
    let req = |cmd| Request { now_ms: 5, cmd };
    src.apply(&req(put_pool));
    let alloc = |n| Command::AllocateLease {
        mac: mac(n),
        pool: "p".into(),
        requested: None,
        lease_secs: 60,
    };
    src.apply(&req(alloc(1)));
    let restore = |force| Command::Restore {
        state: Box::new(src.clone()),
        force,
    };
    let mut empty = State::default();
    assert!(empty.is_empty());
    assert_eq!(empty.apply(&req(restore(false))), Response::Ok);
    assert_eq!(empty.digest(), src.digest());
    // The derived indexes came along: the next lease is not the restored one's address.
    let Response::Lease(l) = empty.apply(&req(alloc(2))) else {
        panic!("no lease")
    };
    assert_ne!(l.ip, Ipv4Addr::new(10, 1, 0, 1));
    let before = empty.digest();
    assert!(matches!(
        empty.apply(&req(restore(false))),
        Response::Rejected(_)
    ));
    assert_eq!(empty.digest(), before);
    assert_eq!(empty.apply(&req(restore(true))), Response::Ok);
    assert_eq!(empty.digest(), src.digest());
}

#[test]
fn attributed_commands_are_audited_only_when_accepted() {
    use crate::state::AuditLog;
    let mut s = State::default();
    let host = Host {
        mac: "52:54:00:00:00:01".parse().unwrap(),
        name: "web1".into(),
        group: "default".into(),
        ip: None,
        boot_file: None,
        kernel_args: None,
    };
    let attributed = |cmd: Command| Command::Attributed {
        actor: "deploy".into(),
        cmd: Box::new(cmd),
    };
    let req = |cmd: Command, now_ms: u64| Request { now_ms, cmd };
    assert_eq!(
        s.apply(&req(attributed(Command::PutHost(host.clone())), 7)),
        Response::Ok
    );
    assert_eq!(s.hosts.len(), 1);
    assert_eq!(s.audit.entries.len(), 1);
    let e = &s.audit.entries[0];
    assert_eq!(
        (e.seq, e.at_ms, e.actor.as_str(), e.action.as_str()),
        (0, 7, "deploy", "put_host")
    );
    assert!(e.detail.contains("web1"), "{}", e.detail);
    // Refused by the state machine: nothing recorded.
    let r = s.apply(&req(
        attributed(Command::RemoveHost {
            mac: "52:54:00:00:00:02".parse().unwrap(),
        }),
        8,
    ));
    assert!(matches!(r, Response::Rejected(_)));
    assert_eq!(s.audit.entries.len(), 1);
    // Nested forms are refused, and change nothing.
    let nested = attributed(Command::Batch(vec![Command::PutHost(host.clone())]));
    assert!(matches!(s.apply(&req(nested, 9)), Response::Rejected(_)));
    let twice = attributed(attributed(Command::PutHost(host.clone())));
    assert!(matches!(s.apply(&req(twice, 9)), Response::Rejected(_)));
    assert_eq!(s.audit.entries.len(), 1);
    // Inside a batch (group commit) each attributed command is audited on its own.
    let batch = Command::Batch(vec![
        attributed(Command::PutGroup(Group {
            name: "g".into(),
            ..Group::default()
        })),
        Command::AuditNote {
            actor: "ops2".into(),
            action: "failover".into(),
            detail: "to 2".into(),
        },
    ]);
    s.apply(&req(batch, 10));
    let actors: Vec<_> = s.audit.entries.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(actors, ["deploy", "deploy", "ops2"]);
    assert_ne!(s.audit, AuditLog::default());
}
