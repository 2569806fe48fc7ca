//! DHCP against a three-node raftboot cluster in network namespaces, with real clients:
//! ISC dhclient and busybox udhcpc get a host's reserved address and pool addresses with
//! the configured next-server and boot file; a lease survives a leader SIGKILL; perfdhcp
//! with 500 clients never sees an address given to two MACs; malformed datagrams never
//! crash a node and are counted in /metrics.
//!
//! Needs root (namespaces) and the Debian packages isc-dhcp-client, udhcpc and kea-admin;
//! without root the tests print a skip note (under CI they fail instead).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use chaos_tests::dhcp_clients::{client_dir, dhclient, perfdhcp, udhcpc};
use chaos_tests::netns_cluster::{NetCluster, NetSpec};
use chaos_tests::wait;
use raftboot_raft::state::{Group, Host, Pool};
use raftboot_raft::Mac;
use rand::{Rng, SeedableRng};

const T: Duration = Duration::from_secs(30);

fn spec() -> NetSpec {
    NetSpec {
        dhcp_toml: "unknown_clients = \"pool\"\npool = \"lab\"\nlease_secs = 120\n\
                    domain = \"lab.test\"\n"
            .into(),
        ..NetSpec::default()
    }
}

/// Pool `lab` = .100-.199, group `web` booting `web.0`.
fn seed(c: &NetCluster) {
    let a = |o| c.lab.addr(o);
    c.post(
        "/v1/pools",
        &Pool {
            name: "lab".into(),
            start: a(100),
            end: a(199),
            prefix: 24,
            router: Some(a(1)),
            dns: vec![a(1)],
        },
    )
    .unwrap();
    c.post(
        "/v1/groups",
        &Group {
            name: "web".into(),
            boot_file: Some("web.0".into()),
            ..Group::default()
        },
    )
    .unwrap();
}

fn host(c: &NetCluster, mac: &str, name: &str, ip: Ipv4Addr) {
    c.post(
        "/v1/hosts",
        &Host {
            mac: mac.parse().unwrap(),
            name: name.into(),
            group: "web".into(),
            ip: Some(ip),
            boot_file: None,
            kernel_args: None,
        },
    )
    .unwrap();
}

/// Every node that runs has the lease `ip -> mac` in its applied state.
fn lease_everywhere(c: &NetCluster, ip: Ipv4Addr, mac: &str) {
    let mac: Mac = mac.parse().unwrap();
    for id in c.running() {
        wait::until(&format!("lease {ip} on node {id}"), T, || {
            let st = c.state(id).map_err(|e| e.to_string())?;
            match st.leases.get(&ip) {
                Some(l) if l.mac == mac => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .unwrap();
    }
}

#[test]
fn dhclient_and_udhcpc_get_reserved_and_pool_addresses() {
    let Some(mut c) = NetCluster::start_or_skip("dhcp real clients", &spec()) else {
        return;
    };
    let leader = c.wait_leader(T).unwrap();
    let leader_ip = c.nodes[&leader].1;
    seed(&c);
    let known_d = c.lab.add_member("kd", None).unwrap();
    let unknown_d = c.lab.add_member("ud", None).unwrap();
    let known_u = c.lab.add_member("ku", None).unwrap();
    let unknown_u = c.lab.add_member("uu", None).unwrap();
    host(&c, &known_d.mac, "web-01", c.lab.addr(50));
    host(&c, &known_u.mac, "web-02", c.lab.addr(51));
    let base = c.dir.path().to_path_buf();

    // ISC dhclient, a host in the host table: its reserved address and its group's file.
    let l = dhclient(
        &mut c.lab,
        &known_d,
        &client_dir(&base, &known_d).unwrap(),
        T,
    )
    .unwrap();
    eprintln!("dhclient (known): {}", l.summary());
    assert_eq!(l.ip, Some(c.lab.addr(50)));
    assert_eq!(l.server_id, Some(leader_ip));
    assert_eq!(l.next_server, Some(leader_ip));
    assert_eq!(l.boot_file.as_deref(), Some("web.0"));
    assert_eq!(l.hostname.as_deref(), Some("web-01"));
    assert_eq!(l.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(l.lease_secs, Some(120));
    assert_eq!(l.raw.get("tftp-server-name"), Some(&leader_ip.to_string()));

    // dhclient, an unknown MAC: a pool address and the BIOS default.
    let l = dhclient(
        &mut c.lab,
        &unknown_d,
        &client_dir(&base, &unknown_d).unwrap(),
        T,
    )
    .unwrap();
    eprintln!("dhclient (unknown): {}", l.summary());
    let ip_d = l.ip.unwrap();
    assert!(
        (c.lab.addr(100)..=c.lab.addr(199)).contains(&ip_d),
        "{ip_d}"
    );
    assert_eq!(l.next_server, Some(leader_ip));
    assert_eq!(l.boot_file.as_deref(), Some("pxelinux.0"));
    assert_eq!(l.router, Some(c.lab.addr(1)));

    // busybox udhcpc, known and unknown.
    let l = udhcpc(&c.lab, &known_u, &client_dir(&base, &known_u).unwrap(), &[]).unwrap();
    eprintln!("udhcpc (known): {}", l.summary());
    assert_eq!(l.ip, Some(c.lab.addr(51)));
    assert_eq!(l.next_server, Some(leader_ip));
    assert_eq!(l.server_id, Some(leader_ip));
    assert_eq!(l.boot_file.as_deref(), Some("web.0"));
    let l = udhcpc(
        &c.lab,
        &unknown_u,
        &client_dir(&base, &unknown_u).unwrap(),
        &[],
    )
    .unwrap();
    eprintln!("udhcpc (unknown): {}", l.summary());
    let ip_u = l.ip.unwrap();
    assert!(
        (c.lab.addr(100)..=c.lab.addr(199)).contains(&ip_u),
        "{ip_u}"
    );
    assert_ne!(ip_u, ip_d);
    assert_eq!(l.boot_file.as_deref(), Some("pxelinux.0"));
    assert_eq!(l.next_server, Some(leader_ip));

    // Both dynamic leases are replicated; the fixed hosts hold no lease.
    lease_everywhere(&c, ip_d, &unknown_d.mac);
    lease_everywhere(&c, ip_u, &unknown_u.mac);
    let st = c.state(leader).unwrap();
    assert_eq!(st.leases.len(), 2, "{:?}", st.leases);
    // Followers saw the broadcasts and stayed silent.
    let followers: BTreeMap<u64, String> = c
        .running()
        .into_iter()
        .filter(|id| *id != leader)
        .map(|id| (id, c.metrics(id).unwrap()))
        .collect();
    for (id, m) in followers {
        assert!(
            !m.contains("raftboot_dhcp_dropped_not_leader_total 0\n"),
            "node {id} never saw a request:\n{m}"
        );
        assert!(
            m.contains("raftboot_dhcp_replies_total{type=\"ack\"} 0\n"),
            "node {id}:\n{m}"
        );
    }
    let _ = &mut c;
}

#[test]
fn acked_lease_survives_a_leader_sigkill_and_is_renewed_by_the_new_leader() {
    let Some(mut c) = NetCluster::start_or_skip("dhcp failover", &spec()) else {
        return;
    };
    let leader = c.wait_leader(T).unwrap();
    seed(&c);
    let client = c.lab.add_member("fo", None).unwrap();
    let dir = client_dir(c.dir.path(), &client).unwrap();
    let first = dhclient(&mut c.lab, &client, &dir, T).unwrap();
    eprintln!("before: {}", first.summary());
    let ip = first.ip.unwrap();
    assert_eq!(first.server_id, Some(c.nodes[&leader].1));
    lease_everywhere(&c, ip, &client.mac);

    c.kill(leader).unwrap();
    let new = c.wait_leader(T).unwrap();
    assert_ne!(new, leader);
    // dhclient restarts from its lease file: INIT-REBOOT, asking for its address again,
    // answered by the new leader from the replicated lease table.
    let second = dhclient(&mut c.lab, &client, &dir, T).unwrap();
    eprintln!("after: {}", second.summary());
    assert_eq!(second.ip, Some(ip), "the acknowledged address moved");
    assert_eq!(second.server_id, Some(c.nodes[&new].1));
    assert_eq!(second.next_server, Some(c.nodes[&new].1));
    assert_eq!(
        second.raw.get("env:reason").map(String::as_str),
        Some("REBOOT")
    );
    lease_everywhere(&c, ip, &client.mac);
}

/// `(mac, yiaddr)` of every ACK a node logged (the handler logs each reply at debug).
fn acks_in_log(path: &std::path::Path) -> Vec<(String, Ipv4Addr)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let plain = strip_ansi(line);
        if !plain.contains("reply=\"ack\"") {
            continue;
        }
        let field = |k: &str| {
            plain
                .split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .map(|v| {
                    v.trim_matches(|c| c == '}' || c == ':' || c == '"')
                        .to_string()
                })
        };
        if let (Some(mac), Some(ip)) = (field("mac="), field("yiaddr=")) {
            out.push((mac, ip.parse().unwrap()));
        }
    }
    out
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        if ch == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(ch);
        }
    }
    out
}

#[test]
fn perfdhcp_500_clients_never_get_one_address_twice() {
    let spec = NetSpec {
        dhcp_toml: "pool = \"perf\"\nlease_secs = 600\n".into(),
        ..NetSpec::default()
    };
    let Some(mut c) = NetCluster::start_or_skip("dhcp perfdhcp", &spec) else {
        return;
    };
    let leader = c.wait_leader(T).unwrap();
    // 1000 addresses in four /24s away from the lab's own /24.
    let base = u32::from(Ipv4Addr::new(
        10,
        c.lab.net[0],
        (c.lab.net[1] ^ 0x80) & 0xfc,
        1,
    ));
    c.post(
        "/v1/pools",
        &Pool {
            name: "perf".into(),
            start: Ipv4Addr::from(base),
            end: Ipv4Addr::from(base + 999),
            prefix: 16,
            router: None,
            dns: vec![],
        },
    )
    .unwrap();
    let p = c.lab.add_member("perf", Some(3)).unwrap();
    let r = perfdhcp(
        &c.lab,
        &p,
        &[
            "-l", "eth0", "-r", "100", "-R", "500", "-n", "500", "-d", "2", "-W", "2000000", "-x",
            "lt",
        ],
        Duration::from_secs(60),
    )
    .unwrap();
    eprintln!(
        "perfdhcp: rate {:.1}/s, DO {}/{} RA {}/{}, median DO {:.2} ms RA {:.2} ms",
        r.rate,
        r.discover_offer.received,
        r.discover_offer.sent,
        r.request_ack.received,
        r.request_ack.sent,
        r.discover_offer.median_ms(),
        r.request_ack.median_ms()
    );
    assert!(r.request_ack.received >= 450, "too few ACKs:\n{}", r.output);

    // Every ACK the leader sent, by address: one MAC each.
    let acks = acks_in_log(&c.log_path(leader));
    assert!(
        acks.len() as u64 >= r.request_ack.received,
        "{} ACKs logged",
        acks.len()
    );
    let mut by_ip: BTreeMap<Ipv4Addr, std::collections::BTreeSet<String>> = BTreeMap::new();
    for (mac, ip) in &acks {
        by_ip.entry(*ip).or_default().insert(mac.clone());
    }
    for (ip, macs) in &by_ip {
        assert_eq!(macs.len(), 1, "{ip} was acknowledged to {macs:?}");
    }
    // Every address perfdhcp was acknowledged is one the leader logged.
    for ip in &r.request_ack.addresses {
        assert!(by_ip.contains_key(ip), "perfdhcp got {ip}, never logged");
    }
    // The replicated table on every node holds each acknowledged lease, one per MAC.
    let digest = wait::until("replicas to converge", T, || {
        let ds: Vec<String> = c
            .running()
            .iter()
            .map(|id| {
                c.status(*id)
                    .map(|s| s.state_digest)
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        if ds.windows(2).all(|w| w[0] == w[1]) {
            Ok(ds[0].clone())
        } else {
            Err(format!("{ds:?}"))
        }
    })
    .unwrap();
    eprintln!("converged at {digest}");
    for id in c.running() {
        let st = c.state(id).unwrap();
        let macs: std::collections::BTreeSet<Mac> = st.leases.values().map(|l| l.mac).collect();
        assert_eq!(
            macs.len(),
            st.leases.len(),
            "node {id}: a MAC holds two leases"
        );
        for (ip, macs) in &by_ip {
            let l = st
                .leases
                .get(ip)
                .unwrap_or_else(|| panic!("node {id} lost {ip}"));
            let mac = macs.iter().next().unwrap();
            assert_eq!(&l.mac.to_string(), mac, "node {id}: {ip}");
        }
    }
    let _ = &mut c;
}

#[test]
fn malformed_datagrams_never_crash_a_node_and_are_counted() {
    let Some(mut c) = NetCluster::start_or_skip("dhcp malformed", &spec()) else {
        return;
    };
    let leader = c.wait_leader(T).unwrap();
    seed(&c);
    let sender = c.lab.add_member("bad", Some(4)).unwrap();
    let mut good = raftboot::dhcp::client::ClientMessage::new(
        raftboot::dhcp::request::Kind::Discover,
        Mac([2, 0, 0, 0, 0, 7]),
        7,
    )
    .encode();
    good[2] = 6;
    let mut packets: Vec<Vec<u8>> =
        vec![vec![], vec![1; 10], good[..239].to_vec(), vec![1u8; 4000]];
    let mut wrong_op = good.clone();
    wrong_op[0] = 2;
    packets.push(wrong_op);
    let mut bad_hlen = good.clone();
    bad_hlen[2] = 255;
    packets.push(bad_hlen);
    let mut bad_len = good[..240].to_vec();
    bad_len.extend_from_slice(&[53, 1, 1, 12, 200, b'x']);
    packets.push(bad_len);
    let mut bad_magic = good.clone();
    bad_magic[237] = 0;
    packets.push(bad_magic);
    let mut oversized = good.clone();
    oversized.resize(3000, 0);
    packets.push(oversized);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..50 {
        let n = rng.gen_range(0..1600);
        packets.push((0..n).map(|_| rng.gen()).collect());
    }
    let targets: Vec<std::net::SocketAddr> = c
        .nodes
        .values()
        .map(|(_, ip)| std::net::SocketAddr::from((*ip, 67)))
        .chain([std::net::SocketAddr::from((Ipv4Addr::BROADCAST, 67))])
        .collect();
    let sent = c
        .lab
        .in_ns(&sender.ns, || -> std::io::Result<usize> {
            let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
            s.set_broadcast(true)?;
            // Limited broadcast needs an interface (the namespace has no default route).
            nix::sys::socket::setsockopt(
                &s,
                nix::sys::socket::sockopt::BindToDevice,
                &std::ffi::OsString::from("eth0"),
            )?;
            let mut n = 0;
            for p in &packets {
                for t in &targets {
                    s.send_to(p, t)?;
                    n += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Ok(n)
        })
        .unwrap()
        .unwrap();
    eprintln!("sent {sent} malformed datagrams");
    // The empty datagram and the random ones that happen to be short still count.
    let per_node = packets.len() as u64 * 2;
    for id in c.running() {
        wait::until(&format!("node {id} to count the datagrams"), T, || {
            let m = c.metrics(id).map_err(|e| e.to_string())?;
            let malformed: u64 = m
                .lines()
                .filter(|l| l.starts_with("raftboot_dhcp_malformed_total{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum();
            if malformed >= per_node {
                Ok(())
            } else {
                Err(format!("{malformed} of {per_node} counted"))
            }
        })
        .unwrap();
    }
    for id in c.running() {
        assert!(c.status(id).is_ok(), "node {id} stopped answering");
    }
    // A well-formed client still gets its lease.
    let client = c.lab.add_member("ok", None).unwrap();
    let l = udhcpc(
        &c.lab,
        &client,
        &client_dir(c.dir.path(), &client).unwrap(),
        &[],
    )
    .unwrap();
    assert!(l.ip.is_some());
    assert_eq!(l.server_id, Some(c.nodes[&leader].1));
    let _ = &mut c;
}
