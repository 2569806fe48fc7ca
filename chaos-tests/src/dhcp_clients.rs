//! Real DHCP clients from Debian packages, run inside a lab namespace: ISC `dhclient`
//! (`isc-dhcp-client`), busybox `udhcpc` and ISC `perfdhcp` (`kea-admin`). Each wrapper
//! runs the client with its files in a private directory, bounded in time, and returns
//! what the client itself recorded (dhclient's lease file, the variables udhcpc hands its
//! script, perfdhcp's report).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::netns::{Lab, Member};

/// What a client was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lease {
    pub ip: Option<Ipv4Addr>,
    pub server_id: Option<Ipv4Addr>,
    /// siaddr (dhclient's `next-server`, udhcpc's `siaddr`).
    pub next_server: Option<Ipv4Addr>,
    pub boot_file: Option<String>,
    pub subnet_mask: Option<Ipv4Addr>,
    pub router: Option<Ipv4Addr>,
    pub lease_secs: Option<u32>,
    pub hostname: Option<String>,
    /// Everything the client recorded, by name.
    pub raw: BTreeMap<String, String>,
}

/// Clients run with an empty environment and this PATH: their scripts record what the
/// client passes them, nothing of the test runner's environment.
const CLEAN_PATH: &str = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";

impl Lease {
    /// The fields, without the raw record (for logs).
    pub fn summary(&self) -> String {
        format!(
            "ip={:?} server_id={:?} next_server={:?} boot_file={:?} mask={:?} router={:?} \
             lease={:?} hostname={:?}",
            self.ip,
            self.server_id,
            self.next_server,
            self.boot_file,
            self.subnet_mask,
            self.router,
            self.lease_secs,
            self.hostname
        )
    }
}

/// A per-client working directory (lease file, pid file, scripts, logs).
pub fn client_dir(base: &Path, member: &Member) -> anyhow::Result<PathBuf> {
    let d = base.join(format!("client-{}", member.ns));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn write_script(path: &Path, body: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

fn parse<T: std::str::FromStr>(m: &BTreeMap<String, String>, k: &str) -> Option<T> {
    m.get(k)
        .and_then(|v| v.trim().trim_matches('"').parse().ok())
}

/// The last `lease { ... }` block of a dhclient lease file, key -> value.
pub fn parse_dhclient_leases(text: &str) -> BTreeMap<String, String> {
    let Some(start) = text.rfind("lease {") else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for line in text[start..].lines().skip(1) {
        let line = line.trim().trim_end_matches(';');
        if line == "}" {
            break;
        }
        let line = line.strip_prefix("option ").unwrap_or(line);
        if let Some((k, v)) = line.split_once(' ') {
            out.insert(k.to_string(), v.trim().trim_matches('"').to_string());
        }
    }
    out
}

/// Run `dhclient -1 -d` on `member` until it records a lease (or `timeout`), then stop
/// it (by PID) and read its lease file. A lease file left from an earlier run makes
/// dhclient start in INIT-REBOOT, asking for its old address again.
pub fn dhclient(
    lab: &mut Lab,
    member: &Member,
    dir: &Path,
    timeout: Duration,
) -> anyhow::Result<Lease> {
    let lease_file = dir.join("dhclient.leases");
    let bound = dir.join("bound.env");
    let _ = std::fs::remove_file(&bound);
    let script = dir.join("dhclient-script");
    write_script(
        &script,
        &format!(
            "#!/bin/sh\ncase \"$reason\" in BOUND|RENEW|REBIND|REBOOT) env > {}.tmp && mv {0}.tmp {0};; esac\nexit 0\n",
            bound.display()
        ),
    )?;
    let pid = lab.spawn(
        &member.ns,
        &[
            "env",
            "-i",
            CLEAN_PATH,
            "dhclient",
            "-4",
            "-1",
            "-d",
            "-v",
            "-lf",
            &lease_file.display().to_string(),
            "-pf",
            &dir.join("dhclient.pid").display().to_string(),
            "-sf",
            &script.display().to_string(),
            &member.iface,
        ],
        &dir.join("dhclient.log"),
    )?;
    let start = Instant::now();
    while !bound.exists() && start.elapsed() < timeout && lab.is_running(pid) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = bound.exists();
    if lab.is_running(pid) {
        lab.kill(pid)?;
    }
    anyhow::ensure!(
        got,
        "dhclient on {} got no lease within {timeout:?}; its log:\n{}",
        member.ns,
        std::fs::read_to_string(dir.join("dhclient.log")).unwrap_or_default()
    );
    let text = std::fs::read_to_string(&lease_file).context("reading dhclient's lease file")?;
    let mut m = parse_dhclient_leases(&text);
    // dhclient keeps siaddr out of its lease file; its script sees it as new_next_server
    // (ISC dhclient 4.4) when the server sent one.
    let env = std::fs::read_to_string(&bound).unwrap_or_default();
    for (k, v) in env.lines().filter_map(|l| l.split_once('=')) {
        m.insert(format!("env:{k}"), v.trim_matches('\'').to_string());
    }
    Ok(Lease {
        ip: parse(&m, "fixed-address"),
        server_id: parse(&m, "dhcp-server-identifier"),
        next_server: parse(&m, "next-server").or_else(|| parse(&m, "env:new_next_server")),
        boot_file: m.get("filename").cloned(),
        subnet_mask: parse(&m, "subnet-mask"),
        router: parse(&m, "routers"),
        lease_secs: parse(&m, "dhcp-lease-time"),
        hostname: m.get("host-name").cloned(),
        raw: m,
    })
}

/// Run busybox `udhcpc -q` (quit once bound) on `member`; read the variables it handed
/// its script.
pub fn udhcpc(lab: &Lab, member: &Member, dir: &Path, extra: &[&str]) -> anyhow::Result<Lease> {
    let bound = dir.join("udhcpc.env");
    let _ = std::fs::remove_file(&bound);
    let script = dir.join("udhcpc-script");
    write_script(
        &script,
        &format!(
            "#!/bin/sh\n[ \"$1\" = bound ] && env > {}\nexit 0\n",
            bound.display()
        ),
    )?;
    let script = script.display().to_string();
    let mut argv = vec![
        "env",
        "-i",
        CLEAN_PATH,
        "udhcpc",
        "-f",
        "-q",
        "-n",
        "-t",
        "6",
        "-T",
        "1",
        "-A",
        "1",
        "-i",
        &member.iface,
        "-s",
        &script,
    ];
    argv.extend_from_slice(extra);
    let out = lab.exec(&member.ns, &argv)?;
    let text = std::fs::read_to_string(&bound).with_context(|| {
        format!(
            "udhcpc on {} got no lease: {}{}",
            member.ns,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let m: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok(Lease {
        ip: parse(&m, "ip"),
        server_id: parse(&m, "serverid"),
        next_server: parse(&m, "siaddr"),
        boot_file: m.get("boot_file").cloned(),
        subnet_mask: parse(&m, "subnet"),
        router: parse(&m, "router"),
        lease_secs: parse(&m, "lease"),
        hostname: m.get("hostname").cloned(),
        raw: m,
    })
}

/// One direction of a perfdhcp run (DISCOVER-OFFER or REQUEST-ACK).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exchange {
    pub sent: u64,
    pub received: u64,
    pub drops: u64,
    pub non_unique: u64,
    pub rejected: u64,
    /// Latency of each completed exchange (from `-x t`), in ms.
    pub latencies_ms: Vec<f64>,
    /// Addresses received (from `-x l`).
    pub addresses: Vec<Ipv4Addr>,
}

impl Exchange {
    /// Median latency in ms (NaN when none completed).
    pub fn median_ms(&self) -> f64 {
        let mut v = self.latencies_ms.clone();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }
}

/// What perfdhcp reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerfReport {
    /// 4-way exchanges per second achieved.
    pub rate: f64,
    pub discover_offer: Exchange,
    pub request_ack: Exchange,
    /// perfdhcp's exit status (3 = some exchanges did not complete).
    pub status: Option<i32>,
    pub output: String,
}

/// Parse perfdhcp's report (run with `-x lt` for latencies and addresses).
pub fn parse_perfdhcp(text: &str) -> PerfReport {
    let mut r = PerfReport {
        output: text.to_string(),
        ..PerfReport::default()
    };
    enum Section {
        None,
        Stats(bool),
        Times(bool),
        Leases(bool),
    }
    let mut sec = Section::None;
    let num = |v: &str| {
        v.split_whitespace()
            .next()
            .unwrap_or("")
            .parse::<f64>()
            .unwrap_or(0.0)
    };
    for line in text.lines() {
        let l = line.trim();
        let which = |s: &str| s.contains("REQUEST-ACK");
        if l.starts_with("***Statistics for:") {
            sec = Section::Stats(which(l));
            continue;
        }
        if l.starts_with("***Timestamps for packets:") {
            sec = Section::Times(which(l));
            continue;
        }
        if l.starts_with("***Leases for") {
            sec = Section::Leases(which(l));
            continue;
        }
        if l.starts_with("***") {
            sec = Section::None;
        }
        if let Some(v) = l.strip_prefix("Rate:") {
            r.rate = num(v);
        }
        match sec {
            Section::Stats(ra) => {
                let e = if ra {
                    &mut r.request_ack
                } else {
                    &mut r.discover_offer
                };
                if let Some((k, v)) = l.split_once(':') {
                    let v = num(v) as u64;
                    match k {
                        "sent packets" => e.sent = v,
                        "received packets" => e.received = v,
                        "drops" => e.drops = v,
                        "non unique addresses" => e.non_unique = v,
                        "rejected leases" => e.rejected = v,
                        _ => {}
                    }
                }
            }
            Section::Times(ra) => {
                let e = if ra {
                    &mut r.request_ack
                } else {
                    &mut r.discover_offer
                };
                if let Some((_, t)) = l.split_once(':') {
                    if let Some((s, rcv)) = t.split_once('/') {
                        let (s, rcv) = (num(s), num(rcv));
                        if rcv >= s {
                            e.latencies_ms.push((rcv - s) * 1000.0);
                        }
                    }
                }
            }
            Section::Leases(ra) => {
                let e = if ra {
                    &mut r.request_ack
                } else {
                    &mut r.discover_offer
                };
                if let Some(ip) = l.split(',').nth(1).and_then(|a| a.parse().ok()) {
                    e.addresses.push(ip);
                }
            }
            Section::None => {}
        }
    }
    r
}

/// Run perfdhcp inside `member` with `args` (bounded by `timeout`), parse its report.
pub fn perfdhcp(
    lab: &Lab,
    member: &Member,
    args: &[&str],
    timeout: Duration,
) -> anyhow::Result<PerfReport> {
    let secs = timeout.as_secs().max(1).to_string();
    let mut argv = vec!["timeout", "-s", "INT", &secs, "perfdhcp", "-4"];
    argv.extend_from_slice(args);
    let out = lab.exec(&member.ns, &argv)?;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| !l.contains("Reached max requests limit"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let mut r = parse_perfdhcp(&text);
    r.status = out.status.code();
    anyhow::ensure!(
        r.discover_offer.sent > 0,
        "perfdhcp sent nothing (status {:?}):\n{text}",
        r.status
    );
    Ok(r)
}
