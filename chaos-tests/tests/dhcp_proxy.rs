//! proxyDHCP against a real address server: Kea (`kea-dhcp4`) owns the addresses of the
//! lab network, a three-node raftboot cluster runs with `[dhcp] mode = "proxy"`, all in
//! network namespaces. A PXE client (a raw DHCP client speaking the PXE spec's
//! messages: option 60 `PXEClient`, option 93) broadcasts one DISCOVER and must get
//! both offers — Kea's with an address and no boot file, raftboot's with the boot file
//! and next-server and no address — combine them, take the address from Kea, and then
//! ask raftboot's PXE boot-server port (4011) from that address for its boot file.
//! raftboot commits nothing to Raft in proxy mode.
//!
//! Needs root and the Debian packages kea-dhcp4-server; without root the test prints a
//! skip note (under CI it fails instead).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use chaos_tests::netns_cluster::{NetCluster, NetSpec};
use chaos_tests::qemu::strip_escapes;
use raftboot::dhcp::client::ClientMessage;
use raftboot::dhcp::request::Kind;
use raftboot::dhcp::{Reply, ReplyKind};
use raftboot_raft::Mac;

const T: Duration = Duration::from_secs(30);

fn pxe_message(kind: Kind, mac: Mac, xid: u32, arch: u16) -> ClientMessage {
    let mut m = ClientMessage::new(kind, mac, xid);
    m.vendor_class = Some(format!("PXEClient:Arch:{arch:05}:UNDI:002001"));
    m.archs = vec![arch];
    m.broadcast = true;
    m
}

/// Send `msg` to `to` every second and collect the replies to `xid` until `done` says
/// so or `T` passes.
fn exchange(
    sock: &UdpSocket,
    msg: &ClientMessage,
    to: SocketAddr,
    mut done: impl FnMut(&[(SocketAddr, Reply)]) -> bool,
) -> Vec<(SocketAddr, Reply)> {
    let deadline = Instant::now() + T;
    let mut got = Vec::new();
    let mut buf = [0u8; 1500];
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut next_send = Instant::now();
    while Instant::now() < deadline && !done(&got) {
        if Instant::now() >= next_send {
            sock.send_to(&msg.encode(), to).unwrap();
            next_send = Instant::now() + Duration::from_secs(1);
        }
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            if let Ok(r) = Reply::decode(&buf[..n]) {
                if r.xid == msg.xid && !got.iter().any(|(f, g)| *f == from && *g == r) {
                    got.push((from, r));
                }
            }
        }
    }
    got
}

fn start_kea(c: &mut NetCluster) -> Ipv4Addr {
    let kea = c.lab.add_member("kea", Some(20)).unwrap();
    let a = |o| c.lab.addr(o);
    let dir = c.dir.path().join("kea");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = format!(
        "{{\"Dhcp4\": {{\"interfaces-config\": {{\"interfaces\": [\"eth0\"]}},\n\
         \"lease-database\": {{\"type\": \"memfile\", \"persist\": false}},\n\
         \"valid-lifetime\": 600,\n\
         \"subnet4\": [{{\"id\": 1, \"subnet\": \"{}/24\", \
         \"pools\": [{{\"pool\": \"{} - {}\"}}]}}],\n\
         \"loggers\": [{{\"name\": \"kea-dhcp4\", \"output_options\": [{{\"output\": \"stdout\"}}], \
         \"severity\": \"INFO\"}}]}}}}\n",
        a(0),
        a(150),
        a(199)
    );
    let conf_path = dir.join("kea-dhcp4.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let lockdir = format!("KEA_LOCKFILE_DIR={}", dir.display());
    let piddir = format!("KEA_PIDFILE_DIR={}", dir.display());
    let log = dir.join("kea.log");
    c.lab
        .spawn(
            &kea.ns,
            &[
                "env",
                &lockdir,
                &piddir,
                "kea-dhcp4",
                "-c",
                &conf_path.display().to_string(),
            ],
            &log,
        )
        .unwrap();
    c.lab.addr(20)
}

#[test]
fn pxe_client_combines_kea_address_with_raftboot_proxy_boot_options() {
    if std::process::Command::new("kea-dhcp4")
        .arg("-v")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "kea-dhcp4 missing (kea-dhcp4-server)"
        );
        eprintln!("skipping: kea-dhcp4 not installed");
        return;
    }
    let spec = NetSpec {
        dhcp_toml: "mode = \"proxy\"\nunknown_clients = \"pool\"\n".into(),
        ..NetSpec::default()
    };
    let Some(mut c) = NetCluster::start_or_skip("dhcp proxy", &spec) else {
        return;
    };
    let leader = c.wait_leader(T).unwrap();
    let leader_ip = c.nodes[&leader].1;
    let kea_ip = start_kea(&mut c);
    let client = c.lab.add_member("pxe", None).unwrap();
    let mac: Mac = client.mac.parse().unwrap();
    let xid = rand::random::<u32>();
    eprintln!("leader node {leader} at {leader_ip}, kea at {kea_ip}, client {mac}, xid {xid:08x}");

    // DISCOVER: both offers arrive; Kea's has the address, raftboot's the boot options.
    let (offers, acked) = c
        .lab
        .in_ns(&client.ns, || {
            let sock = UdpSocket::bind("0.0.0.0:68").unwrap();
            sock.set_broadcast(true).unwrap();
            nix::sys::socket::setsockopt(
                &sock,
                nix::sys::socket::sockopt::BindToDevice,
                &std::ffi::OsString::from("eth0"),
            )
            .unwrap();
            let bcast = SocketAddr::from((Ipv4Addr::BROADCAST, 67));
            let discover = pxe_message(Kind::Discover, mac, xid, 0);
            let offers = exchange(&sock, &discover, bcast, |got| {
                let kea = got.iter().any(|(_, r)| r.server_id == kea_ip);
                let proxy = got.iter().any(|(_, r)| r.server_id == leader_ip);
                kea && proxy
            });
            let Some((_, kea_offer)) = offers.iter().find(|(_, r)| r.server_id == kea_ip) else {
                return (offers, None);
            };
            // REQUEST the address from Kea (the proxy stays out of it).
            let mut request = pxe_message(Kind::Request, mac, xid, 0);
            request.requested = Some(kea_offer.yiaddr);
            request.server_id = Some(kea_ip);
            let acks = exchange(&sock, &request, bcast, |got| {
                got.iter().any(|(_, r)| r.kind == ReplyKind::Ack)
            });
            (offers, Some(acks))
        })
        .unwrap();
    for (from, r) in &offers {
        eprintln!(
            "offer from {from}: yiaddr {} siaddr {} server id {} file {:?} class {:?}",
            r.yiaddr, r.siaddr, r.server_id, r.boot_file, r.vendor_class
        );
    }
    let kea_offer = &offers
        .iter()
        .find(|(_, r)| r.server_id == kea_ip)
        .expect("an offer from Kea")
        .1;
    let proxies: Vec<&Reply> = offers
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r.server_id != kea_ip)
        .collect();
    assert_eq!(proxies.len(), 1, "exactly one raftboot node answers");
    let proxy = proxies[0];
    assert_eq!(proxy.kind, ReplyKind::Offer);
    assert_eq!(
        proxy.yiaddr,
        Ipv4Addr::UNSPECIFIED,
        "a proxy offer has no address"
    );
    assert_eq!((proxy.server_id, proxy.siaddr), (leader_ip, leader_ip));
    assert_eq!(proxy.vendor_class.as_deref(), Some("PXEClient"));
    assert!(proxy.pxe_discovery_control);
    assert_eq!(proxy.boot_file.as_deref(), Some("pxelinux.0"));
    assert_eq!(proxy.lease_secs, None);
    // The combined view a PXE ROM boots with: Kea's address, raftboot's boot options.
    let address = kea_offer.yiaddr;
    assert!(
        (u32::from(c.lab.addr(150))..=u32::from(c.lab.addr(199))).contains(&u32::from(address)),
        "{address} from Kea's pool"
    );
    assert_eq!(kea_offer.boot_file, None, "Kea was given no boot file");
    let acks = acked.expect("REQUEST sent to Kea");
    let ack = acks
        .iter()
        .find(|(_, r)| r.kind == ReplyKind::Ack)
        .map(|(_, r)| r)
        .expect("Kea acknowledges the address");
    assert_eq!((ack.yiaddr, ack.server_id), (address, kea_ip));
    // Only ACK/NAK answer a REQUEST (a late proxy OFFER to a re-sent DISCOVER, same xid,
    // can still arrive while the client waits for its ACK).
    assert!(
        acks.iter()
            .filter(|(_, r)| r.kind != ReplyKind::Offer)
            .all(|(_, r)| r.server_id == kea_ip),
        "the proxy does not answer the REQUEST meant for Kea: {acks:?}"
    );

    // With its address configured, the client asks the PXE boot-server port for its
    // boot file (here as an x86-64 UEFI client).
    c.lab
        .exec_ok(
            &client.ns,
            &["ip", "addr", "add", &format!("{address}/24"), "dev", "eth0"],
        )
        .unwrap();
    let replies = c
        .lab
        .in_ns(&client.ns, || {
            let sock = UdpSocket::bind(SocketAddr::from((address, 68))).unwrap();
            let mut request = pxe_message(Kind::Request, mac, xid ^ 1, 7);
            request.broadcast = false;
            request.ciaddr = address;
            exchange(
                &sock,
                &request,
                SocketAddr::from((leader_ip, 4011)),
                |got| !got.is_empty(),
            )
        })
        .unwrap();
    let (from, pxe_ack) = replies.first().expect("an answer from port 4011");
    assert_eq!(*from, SocketAddr::from((leader_ip, 4011)));
    assert_eq!(pxe_ack.kind, ReplyKind::Ack);
    assert_eq!(pxe_ack.ciaddr, address);
    assert_eq!(pxe_ack.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(pxe_ack.boot_file.as_deref(), Some("bootx64.efi"));
    assert_eq!(pxe_ack.siaddr, leader_ip);

    // Proxy mode never touches the lease table.
    let m = c.metrics(leader).unwrap();
    let commits = m
        .lines()
        .find(|l| l.starts_with("raftboot_dhcp_raft_commits_total"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or("missing");
    assert_eq!(commits, "0", "{m}");
    assert!(c.state(leader).unwrap().leases.is_empty());
}

/// The real check: QEMU's stock iPXE ROM (BIOS, TCG) on a tap in the lab gets its address
/// from Kea and its next-server and boot file (the iPXE script) from raftboot's proxy, and
/// goes to fetch that file from the proxy. The boot itself stops there (no loader image in
/// this cluster); the full boot chain is tested elsewhere.
#[test]
fn qemu_ipxe_takes_the_address_from_kea_and_the_boot_file_from_the_proxy() {
    let have = |bin: &str, arg: &str| std::process::Command::new(bin).arg(arg).output().is_ok();
    if !have("kea-dhcp4", "-v") || !have("qemu-system-x86_64", "--version") {
        assert!(
            std::env::var_os("CI").is_none(),
            "kea-dhcp4 or qemu-system-x86_64 missing (kea-dhcp4-server, qemu-system-x86 ipxe-qemu)"
        );
        eprintln!("skipping: kea-dhcp4 or qemu-system-x86_64 not installed");
        return;
    }
    let spec = NetSpec {
        dhcp_toml: "mode = \"proxy\"\nunknown_clients = \"pool\"\n".into(),
        ..NetSpec::default()
    };
    let Some(mut c) = NetCluster::start_or_skip("dhcp proxy qemu", &spec) else {
        return;
    };
    let leader = c.wait_leader(T).unwrap();
    let leader_ip = c.nodes[&leader].1;
    let kea_ip = start_kea(&mut c);
    let vm = c.lab.add_member("vm", None).unwrap();
    for cmd in [
        "ip tuntap add tap0 mode tap",
        "ip link add br1 type bridge",
        "ip link set eth0 master br1",
        "ip link set tap0 master br1",
        "ip link set tap0 up",
        "ip link set br1 up",
    ] {
        let argv: Vec<&str> = cmd.split(' ').collect();
        c.lab.exec_ok(&vm.ns, &argv).unwrap();
    }
    let log = c.dir.path().join("qemu-console.log");
    let pid = c
        .lab
        .spawn(
            &vm.ns,
            &[
                "qemu-system-x86_64",
                "-accel",
                "tcg",
                "-m",
                "256",
                "-nographic",
                "-serial",
                "stdio",
                "-monitor",
                "none",
                "-no-reboot",
                "-boot",
                "n",
                "-netdev",
                "tap,id=n0,ifname=tap0,script=no,downscript=no",
                "-device",
                "virtio-net-pci,netdev=n0,mac=52:54:00:5e:00:42",
            ],
            &log,
        )
        .unwrap();
    eprintln!("leader node {leader} at {leader_ip}, kea at {kea_ip}, QEMU pid {pid}");
    let console = || {
        strip_escapes(&String::from_utf8_lossy(
            &std::fs::read(&log).unwrap_or_default(),
        ))
    };
    let seen = chaos_tests::wait::until(
        "iPXE to name its boot file",
        Duration::from_secs(120),
        || {
            let text = console();
            // The URL line is complete once iPXE has printed past it (its "..." or a newline).
            let url_done = text
                .split("tftp://")
                .nth(1)
                .is_some_and(|rest| rest.contains('\n') || rest.contains("..."));
            if text.contains("Filename:") && url_done {
                Ok(text)
            } else {
                let n = text.chars().count().saturating_sub(400);
                Err(text.chars().skip(n).collect())
            }
        },
    );
    let _ = c.lab.kill(pid);
    let text = seen.unwrap();
    eprintln!("iPXE console:\n{text}");
    assert!(
        text.contains(&format!("Next server: {leader_ip}")),
        "next-server from the proxy"
    );
    // The ROM is iPXE (user class "iPXE"), so the proxy names the iPXE script.
    assert!(
        text.contains("Filename: boot.ipxe"),
        "boot file from the proxy"
    );
    assert!(text.contains(&format!("tftp://{leader_ip}/boot.ipxe")));
    // The address iPXE configured is Kea's.
    let addr: Ipv4Addr = text
        .lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("net0: ")?;
            rest.split('/').next()?.parse().ok()
        })
        .expect("iPXE prints its address");
    assert!(
        (u32::from(c.lab.addr(150))..=u32::from(c.lab.addr(199))).contains(&u32::from(addr)),
        "{addr} is from Kea's pool"
    );
    let m = c.metrics(leader).unwrap();
    assert!(
        m.lines().any(
            |l| l.starts_with("raftboot_dhcp_replies_total{type=\"offer\"}") && !l.ends_with(" 0")
        ),
        "the proxy sent an offer"
    );
}
