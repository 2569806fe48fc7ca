//! failover-bench: how long after a leader SIGKILL the VIP answers again, raftboot against
//! keepalived, in one run on the same kind of LAN (network namespaces on a bridge, a client
//! namespace sampling ARP for the VIP every 20 ms).
//!
//! raftboot: three `bootd` with the default (LAN) Raft timings; the client namespace also
//! broadcasts a DHCPDISCOVER, sends an NFS NULL call and a TFTP read request (answered by an
//! option acknowledgement, then aborted) to the VIP every 20 ms. Per kill of the leader: time
//! until the VIP answers ARP from another MAC, and until a DISCOVER, an NFS NULL call and a
//! TFTP request sent after the kill get an answer; the new holder's log gives the timeline (kill -> the controller sees itself
//! leader -> first quorum acknowledgement -> claim done). The killed node is restarted and
//! the cluster converges before the next kill.
//!
//! keepalived: two namespaces with one VRRPv3 instance (both BACKUP, nopreempt, equal
//! priority) at `advert_int` 1 s and at 0.1 s. Per kill: SIGKILL of the master's VRRP
//! process, its address removed at once (a crashed server stops answering; a bare SIGKILL
//! of keepalived leaves the address on the interface and two holders), time until the
//! VIP answers ARP from the backup's MAC. keepalived is installed with apt-get if missing.
//!
//! Needs root. Build with `cargo build --release -p raftboot --bin bootd -p chaos-tests
//! --bin failover-bench`, run `target/release/failover-bench [kills] [HB,MIN,MAX,HOLD]`
//! (default 12 kills at the default timings; e.g. `50,300,600,200` for other Raft timings).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use chaos_tests::arp::ArpSampler;
use chaos_tests::cluster::{Cluster, Spec};
use chaos_tests::keepalived::{self, Keepalived};
use chaos_tests::lan::Lan;
use chaos_tests::udp_probe::{self, ProbeKind, UdpProber};
use chaos_tests::wait;
use raftboot_raft::state::Pool;

const T: Duration = Duration::from_secs(30);
const PROBE_PERIOD: Duration = Duration::from_millis(20);

/// Median and max of a sample, in milliseconds.
fn stats(v: &[Duration]) -> (f64, f64, f64) {
    let mut s: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    s.sort_by(f64::total_cmp);
    let med = match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    };
    (
        s.first().copied().unwrap_or(f64::NAN),
        med,
        s.last().copied().unwrap_or(f64::NAN),
    )
}

fn line(name: &str, v: &[Duration]) -> String {
    let (min, med, max) = stats(v);
    format!(
        "{name:<44} n={:>2}  min {min:>6.0} ms  median {med:>6.0} ms  max {max:>6.0} ms",
        v.len()
    )
}

/// Seconds since midnight UTC of a wall-clock time.
fn day_secs(t: SystemTime) -> f64 {
    let s = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    s % 86_400.0
}

/// From a bootd log line "2026-11-24T20:01:54.123456Z  INFO VIP claimed term=3 claim_ms=..."
/// (ANSI colours allowed): seconds since midnight and the value of `key=`.
fn log_time(line: &str) -> Option<f64> {
    let t = line.find('T')?;
    let hms = line.get(t + 1..)?.split('Z').next()?;
    let mut it = hms.split(':');
    let h: f64 = it.next()?.parse().ok()?;
    let m: f64 = it.next()?.parse().ok()?;
    let s: f64 = it.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut esc = false;
    for c in s.chars() {
        match (esc, c) {
            (false, '\u{1b}') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

fn field(line: &str, key: &str) -> Option<f64> {
    let i = line.find(&format!("{key}="))?;
    line.get(i + key.len() + 1..)?
        .split(|c: char| c.is_whitespace())
        .next()?
        .parse()
        .ok()
}

/// The new holder's claim after a kill: (kill -> leader seen, leader -> claim start,
/// claim duration), from its log.
fn claim_timeline(log: &str, killed_at: f64) -> Option<(f64, f64, f64)> {
    let text = strip_ansi(log);
    let l = text
        .lines()
        .rev()
        .find(|l| l.contains("VIP claimed") && log_time(l).is_some_and(|t| t > killed_at))?;
    let done = log_time(l)?;
    let claim = field(l, "claim_ms")? / 1000.0;
    let waited = field(l, "leader_to_claim_ms")? / 1000.0;
    let leader = done - claim - waited;
    Some((
        (leader - killed_at) * 1000.0,
        waited * 1000.0,
        claim * 1000.0,
    ))
}

#[derive(Default)]
struct RaftbootResult {
    arp: Vec<Duration>,
    dhcp: Vec<Duration>,
    nfs: Vec<Duration>,
    tftp: Vec<Duration>,
    elect: Vec<Duration>,
    ack: Vec<Duration>,
    claim: Vec<Duration>,
    doubles: usize,
    timings: String,
}

fn ms(x: f64) -> Duration {
    Duration::from_secs_f64(x.max(0.0) / 1000.0)
}

/// Raft timings from "HB,MIN,MAX,HOLD" (milliseconds), else the defaults.
fn timings(arg: Option<String>) -> anyhow::Result<cluster_config::RaftTimings> {
    let mut t = cluster_config::RaftTimings::default();
    if let Some(a) = arg {
        let v: Vec<u64> = a
            .split(',')
            .map(|x| x.trim().parse())
            .collect::<Result<_, _>>()
            .context("timings: HB,MIN,MAX,HOLD in ms")?;
        let [hb, min, max, hold] = v[..] else {
            anyhow::bail!("timings: four numbers HB,MIN,MAX,HOLD");
        };
        t.heartbeat_ms = hb;
        t.election_timeout_min_ms = min;
        t.election_timeout_max_ms = max;
        t.vip_hold_ms = hold;
    }
    Ok(t)
}

fn raftboot(kills: usize, d: cluster_config::RaftTimings) -> anyhow::Result<RaftbootResult> {
    let spec = Spec {
        on_lan: true,
        heartbeat_ms: d.heartbeat_ms,
        election_min_ms: d.election_timeout_min_ms,
        election_max_ms: d.election_timeout_max_ms,
        vip_hold_ms: Some(d.vip_hold_ms),
        ..Spec::default()
    };
    let mut r = RaftbootResult {
        timings: format!(
            "heartbeat {} ms, election {}-{} ms, VIP hold {} ms",
            d.heartbeat_ms, d.election_timeout_min_ms, d.election_timeout_max_ms, d.vip_hold_ms
        ),
        ..Default::default()
    };
    let mut c = Cluster::start(&spec)?;
    let (lan, client_ns) = c.lan.clone().context("no LAN")?;
    let vip = lan.ip(10);
    let leader = c.wait_leader(T)?;
    // A pool for the probing client (one MAC: after its first lease, OFFERs need no commit).
    let client = c.client_unchecked(leader);
    let pool = Pool {
        name: "default".into(),
        start: lan.ip(150),
        end: lan.ip(199),
        prefix: 24,
        router: None,
        dns: vec![],
    };
    c.api(move || client.post::<Pool, serde_json::Value>("/v1/pools", &pool))?
        .map_err(|e| anyhow::anyhow!("POST /v1/pools: {e}"))?;

    let mut arp = ArpSampler::start(&lan, &client_ns, lan.ip(100), vip)?;
    let dhcp = UdpProber::start(
        &client_ns,
        ProbeKind {
            bind: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68)),
            dest: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::BROADCAST, 67)),
            device: Some("eth0".into()),
            request: udp_probe::dhcp_discover,
            reply_id: udp_probe::dhcp_reply_xid,
            ids: u32::MAX,
            answer: None,
        },
        PROBE_PERIOD,
    )?;
    let nfs = UdpProber::start(
        &client_ns,
        ProbeKind {
            bind: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
            dest: SocketAddr::V4(SocketAddrV4::new(vip, 2049)),
            device: None,
            request: udp_probe::rpc_null_call,
            reply_id: udp_probe::rpc_reply_xid,
            ids: u32::MAX,
            answer: None,
        },
        PROBE_PERIOD,
    )?;
    let tftp = UdpProber::start(
        &client_ns,
        ProbeKind {
            bind: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
            dest: SocketAddr::V4(SocketAddrV4::new(vip, 69)),
            device: None,
            request: udp_probe::tftp_rrq,
            reply_id: udp_probe::tftp_oack_id,
            ids: udp_probe::TFTP_IDS,
            answer: Some(udp_probe::tftp_abort),
        },
        PROBE_PERIOD,
    )?;

    for k in 0..kills {
        let leader = c.wait_leader(T)?;
        // Everything answers before the kill.
        let before = Instant::now();
        let old_mac = wait::until("the VIP, DHCP, NFS and TFTP to answer", T, || {
            let a = arp
                .replies()
                .into_iter()
                .rfind(|r| r.at > before)
                .ok_or_else(|| "no ARP reply".to_string())?;
            dhcp.first_answer_after(before)
                .ok_or_else(|| "no DHCP answer".to_string())?;
            nfs.first_answer_after(before)
                .ok_or_else(|| "no NFS answer".to_string())?;
            tftp.first_answer_after(before)
                .ok_or_else(|| "no TFTP answer".to_string())?;
            Ok::<_, String>(a.mac)
        })
        .map_err(|e| anyhow::anyhow!("before kill {k}: {e}"))?;
        let wall = day_secs(SystemTime::now());
        let killed = Instant::now();
        c.kill(leader)?;
        let (a, dh, nf, tf) = wait::until(&format!("services back after kill {k}"), T, || {
            let a = arp
                .replies()
                .into_iter()
                .find(|r| r.at > killed && r.mac != old_mac)
                .ok_or_else(|| "ARP".to_string())?;
            let (_, dh) = dhcp
                .first_answer_after(killed)
                .ok_or_else(|| "DHCP".to_string())?;
            let (_, nf) = nfs
                .first_answer_after(killed)
                .ok_or_else(|| "NFS".to_string())?;
            let (_, tf) = tftp
                .first_answer_after(killed)
                .ok_or_else(|| "TFTP".to_string())?;
            Ok::<_, String>((a.at, dh, nf, tf))
        })?;
        r.arp.push(a - killed);
        r.dhcp.push(dh - killed);
        r.nfs.push(nf - killed);
        r.tftp.push(tf - killed);
        let new_leader = c.wait_leader(T)?;
        let log = std::fs::read_to_string(c.log_path(new_leader)).unwrap_or_default();
        if let Some((e, w, cl)) = claim_timeline(&log, wall) {
            r.elect.push(ms(e));
            r.ack.push(ms(w));
            r.claim.push(ms(cl));
        }
        eprintln!(
            "kill {k}: node {leader} -> {new_leader}: ARP {:?}, DHCP {:?}, NFS {:?}, TFTP {:?}",
            a - killed,
            dh - killed,
            nf - killed,
            tf - killed
        );
        c.start_node(leader)?;
        let all: Vec<u64> = c.nodes.keys().copied().collect();
        c.wait_converged(&all, T)?;
    }
    arp.stop()?;
    r.doubles = arp.double_holders().len();
    eprintln!(
        "raftboot probes: ARP {} (replies {}), DHCP {:?}, NFS {:?}, TFTP {:?} (sent, answered)",
        arp.probes(),
        arp.replies().len(),
        dhcp.counts(),
        nfs.counts(),
        tftp.counts()
    );
    Ok(r)
}

struct KeepalivedResult {
    advert_int: f64,
    arp: Vec<Duration>,
    doubles: usize,
}

/// The MAC of `eth0` in namespace `ns`.
fn mac_of(lan: &Lan, ns: &str) -> anyhow::Result<[u8; 6]> {
    lan.in_ns(ns, || {
        pnet_datalink::interfaces()
            .into_iter()
            .find(|i| i.name == "eth0")
            .and_then(|i| i.mac)
            .map(|m| m.octets())
    })?
    .context("no eth0 MAC")
}

fn keepalived_run(kills: usize, advert_int: f64) -> anyhow::Result<KeepalivedResult> {
    let mut lan = Lan::new()?;
    let ns = [lan.add_host("k1", 11)?, lan.add_host("k2", 12)?];
    let client_ns = lan.add_host("c", 100)?;
    let vip = lan.ip(10);
    let dir = tempfile::Builder::new()
        .prefix("raftboot-vrrp-")
        .tempdir()?;
    let macs = [mac_of(&lan, &ns[0])?, mac_of(&lan, &ns[1])?];
    let conf = |i: usize| keepalived::config(&format!("k{}", i + 1), vip, 24, advert_int, 51);
    // One after the other: started together, two equal BACKUPs both time out and are both
    // MASTER until their adverts meet (two holders before any kill).
    let mut nodes = vec![Keepalived::start(&lan, &ns[0], dir.path(), &conf(0))?];
    nodes[0].wait_for("MASTER STATE", 1, T)?;
    nodes.push(Keepalived::start(&lan, &ns[1], dir.path(), &conf(1))?);
    nodes[1].wait_for("BACKUP STATE", 1, T)?;
    std::thread::sleep(Duration::from_secs_f64(advert_int * 3.0));
    let mut arp = ArpSampler::start(&lan, &client_ns, lan.ip(100), vip)?;
    let mut out = KeepalivedResult {
        advert_int,
        arp: vec![],
        doubles: 0,
    };
    for k in 0..kills {
        let before = Instant::now();
        let master_mac = wait::until("a VRRP master answering ARP", T, || {
            arp.replies()
                .into_iter()
                .rfind(|r| r.at > before)
                .map(|r| r.mac)
                .ok_or_else(|| "no reply".to_string())
        })?;
        let m = macs
            .iter()
            .position(|x| *x == master_mac)
            .context("ARP reply from an unknown MAC")?;
        let backup = 1 - m;
        let killed = nodes[m].crash()?;
        // The crashed server's address goes with it (keepalived leaves it on eth0).
        let cidr = format!("{vip}/24");
        let del = lan
            .cmd(&ns[m], "ip")
            .args(["addr", "del", &cidr, "dev", "eth0"])
            .output()?;
        anyhow::ensure!(
            del.status.success(),
            "ip addr del: {}",
            String::from_utf8_lossy(&del.stderr)
        );
        let back = wait::until(&format!("keepalived failover {k}"), T, || {
            arp.replies()
                .into_iter()
                .find(|r| r.at > killed && r.mac == macs[backup])
                .ok_or_else(|| "not yet".to_string())
        })?;
        out.arp.push(back.at - killed);
        eprintln!(
            "keepalived advert_int {advert_int}: kill {k}: {:?}",
            back.at - killed
        );
        // Restart the crashed one as a backup; it must have heard a few adverts before the
        // next kill, or it would take over on its own start-up timer instead.
        let n = Keepalived::start(&lan, &ns[m], dir.path(), &conf(m))?;
        let seen = n.log().matches("BACKUP STATE").count();
        nodes[m] = n;
        nodes[m].wait_for("BACKUP STATE", seen + 1, T)?;
        std::thread::sleep(Duration::from_secs_f64(advert_int * 3.0));
    }
    arp.stop()?;
    out.doubles = arp.double_holders().len();
    drop(nodes);
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    anyhow::ensure!(
        Lan::available(),
        "failover-bench needs root (network namespaces)"
    );
    let kills: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()
        .context("kills must be a number")?
        .unwrap_or(12);
    anyhow::ensure!(kills >= 1, "at least one kill");
    let t = timings(std::env::args().nth(2))?;
    keepalived::ensure_installed()?;

    let rb = raftboot(kills, t)?;
    let ka1 = keepalived_run(kills, 1.0)?;
    let ka01 = keepalived_run(kills, 0.1)?;

    println!("\nfailover after SIGKILL of the leader / VRRP master, {kills} kills each");
    println!("raftboot ({}):", rb.timings);
    println!("  {}", line("VIP answers ARP from the new holder", &rb.arp));
    println!(
        "  {}",
        line("DHCP OFFER to a DISCOVER sent after the kill", &rb.dhcp)
    );
    println!("  {}", line("NFS NULL on the VIP answered", &rb.nfs));
    println!(
        "  {}",
        line("TFTP read request on the VIP answered", &rb.tftp)
    );
    println!("  timeline from the new holder's log:");
    println!(
        "  {}",
        line("  kill -> controller sees itself leader", &rb.elect)
    );
    println!(
        "  {}",
        line("  leader -> quorum ack, claim starts", &rb.ack)
    );
    println!("  {}", line("  claim (address, link up)", &rb.claim));
    println!("  ARP probes answered by two MACs: {}", rb.doubles);
    for ka in [&ka1, &ka01] {
        println!("keepalived (VRRPv3, advert_int {} s):", ka.advert_int);
        println!("  {}", line("VIP answers ARP from the backup", &ka.arp));
        println!("  ARP probes answered by two MACs: {}", ka.doubles);
    }
    let (_, rb_med, rb_max) = stats(&rb.arp);
    let (_, k1_med, _) = stats(&ka1.arp);
    let (_, k01_med, _) = stats(&ka01.arp);
    println!(
        "ratio (keepalived median / raftboot median, ARP): advert_int 1 s: {:.2}x, 0.1 s: {:.2}x",
        k1_med / rb_med,
        k01_med / rb_med
    );
    println!(
        "target (median < 1000 ms, max < 2000 ms, faster than keepalived at advert_int 1): {}",
        if rb_med < 1000.0 && rb_max < 2000.0 && rb_med < k1_med {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}
