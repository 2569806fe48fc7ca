//! bootctl: the operator's CLI for a raftboot cluster.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use raftboot::api::types::{AddMember, ApplyHosts, ApplyReport, FailoverRequest, LeaseRequest};
use raftboot::ctl::client::{AdminClient, CtlError};
use raftboot::ctl::commands::{cluster_status, render_status};
use raftboot::ctl::drill::DrillOptions;
use raftboot::failover::timeline::{render as render_timeline, Budgets};
use raftboot_raft::state::{AuditEntry, Group, Host, Lease, Pool};
use raftboot_raft::{Mac, Response};
use serde::Serialize;

/// The local demo cluster's admin APIs (what `bootd local` starts).
const LOCAL_APIS: &str = "127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203";

#[derive(Parser)]
#[command(name = "bootctl", version, about = "Operate a raftboot cluster")]
struct Cli {
    /// Admin API addresses (host:port, comma separated); the first that answers is used.
    #[arg(long, env = "RAFTBOOT_API", default_value = LOCAL_APIS, global = true)]
    api: String,
    /// File holding the admin token.
    #[arg(
        long,
        env = "RAFTBOOT_TOKEN_FILE",
        default_value = "raftboot-local/admin.token",
        global = true
    )]
    token_file: PathBuf,
    /// The cluster CA (PEM): talk HTTPS to the admin API and trust only this CA. Needed
    /// when the nodes have a [tls] section.
    #[arg(long, env = "RAFTBOOT_CA", global = true)]
    ca: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Members, roles, leader, term, each node's applied index, lag and state digest, the VIP
    /// holder and its last moves.
    Status,
    /// The host table (static MAC -> IP reservations, groups, overrides).
    #[command(subcommand)]
    Hosts(HostsCmd),
    /// Boot groups.
    #[command(subcommand)]
    Groups(GroupsCmd),
    /// Dynamic address pools.
    #[command(subcommand)]
    Pools(PoolsCmd),
    /// Leases.
    #[command(subcommand)]
    Leases(LeasesCmd),
    /// Cluster membership.
    #[command(subcommand)]
    Members(MembersCmd),
    /// Boot images: import, list with per-node readiness, activate, roll back, remove, gc.
    #[command(subcommand)]
    Image(ImageCmd),
    /// Config files.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Write a backup of the replicated state (taken on the leader at one applied index)
    /// and the list of blobs its images need; with --with-blobs, the blobs too.
    Backup {
        /// The backup file to write (written under a temporary name, renamed when complete).
        file: PathBuf,
        /// Include every blob the images need (streamed from the boot servers, verified).
        #[arg(long)]
        with_blobs: bool,
    },
    /// Seed a fresh cluster from a backup file (checked completely first). A cluster that
    /// already has state is refused unless --force.
    Restore {
        file: PathBuf,
        /// Replace the state of a cluster that already has some.
        #[arg(long)]
        force: bool,
    },
    /// Check a backup file completely (header, state, blobs, checksums) without a cluster.
    VerifyBackup { file: PathBuf },
    /// The audit trail: who (token name) changed what through the admin API, and when.
    Audit {
        /// Only the newest N entries.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Each machine's boot timeline (DHCP, loader, config, kernel, initrd, NFS mount), merged
    /// from every boot server.
    Boots {
        /// Only this machine (host name, MAC or address).
        #[arg(long)]
        host: Option<String>,
        /// Keep printing new stages as they happen (Ctrl-C to stop).
        #[arg(long)]
        follow: bool,
    },
    /// Planned failover: the leader yields so another boot server takes over leadership and
    /// the VIP. With --drill, then check from this host that DHCP, TFTP and NFS answer from
    /// the new holder and print the timeline (exit status 7 when a step missed its budget).
    Failover {
        /// The node that should take over (default: the most caught-up other boot server).
        #[arg(long)]
        to: Option<u64>,
        /// Probe the services on the VIP afterwards and print the timeline.
        #[arg(long)]
        drill: bool,
        /// Longest the leader yields, in milliseconds.
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(100..=20000))]
        yield_ms: u64,
        /// Multiply every step budget of the drill by this factor.
        #[arg(long, default_value_t = 1.0)]
        budget_scale: f64,
        /// Client MAC of the drill's DHCPINFORM (default: a random local one; use a known
        /// host's MAC when [dhcp] unknown_clients = "ignore").
        #[arg(long)]
        mac: Option<Mac>,
        /// File the drill reads over TFTP from the VIP.
        #[arg(long, default_value = "pxelinux.cfg/default")]
        tftp_file: String,
        #[arg(long, default_value_t = 67)]
        dhcp_port: u16,
        #[arg(long, default_value_t = 69)]
        tftp_port: u16,
        #[arg(long, default_value_t = 111)]
        portmap_port: u16,
    },
    /// Write man pages and shell completions for bootctl into DIR (used by the package build).
    #[command(hide = true)]
    GenerateAssets { dir: PathBuf },
}

#[derive(Subcommand)]
enum ImageCmd {
    /// Import a root tree (a directory such as debootstrap output, or a tar archive).
    Import {
        path: PathBuf,
        #[arg(long)]
        name: String,
        /// Activate it in this group once a majority of boot servers is ready.
        #[arg(long)]
        group: Option<String>,
        /// No progress output.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Images with per-node readiness.
    List,
    /// Make an image the group's active image (needs a majority of boot servers ready).
    Activate {
        name: String,
        #[arg(long)]
        group: String,
    },
    /// Go back to the group's previous image.
    Rollback {
        #[arg(long)]
        group: String,
    },
    /// Remove an image (refused while it is active in a group).
    Rm { name: String },
    /// Delete blobs no image references, on every boot server, after a grace period.
    Gc {
        #[arg(long, default_value_t = 3600)]
        grace_secs: u64,
    },
}

#[derive(Subcommand)]
enum HostsCmd {
    /// List hosts.
    List,
    /// Add or replace a host.
    Add {
        mac: Mac,
        name: String,
        #[arg(long, default_value = "default")]
        group: String,
        #[arg(long)]
        ip: Option<Ipv4Addr>,
        #[arg(long)]
        boot_file: Option<String>,
        #[arg(long)]
        kernel_args: Option<String>,
    },
    /// Remove a host.
    Rm { mac: Mac },
    /// Apply a host inventory file (TOML; see cluster-config/examples/hosts.toml).
    Apply {
        file: PathBuf,
        /// Also remove hosts the file does not list.
        #[arg(long)]
        prune: bool,
    },
}

#[derive(Subcommand)]
enum GroupsCmd {
    List,
    /// Create or update a group's settings.
    Set {
        name: String,
        #[arg(long, default_value = "")]
        kernel_args: String,
        #[arg(long)]
        boot_file: Option<String>,
    },
}

#[derive(Subcommand)]
enum PoolsCmd {
    List,
    /// Create or update a pool: START-END/PREFIX, e.g. 10.0.0.100-10.0.0.199/24.
    Set {
        name: String,
        range: String,
        #[arg(long)]
        router: Option<Ipv4Addr>,
        #[arg(long, value_delimiter = ',')]
        dns: Vec<Ipv4Addr>,
    },
}

#[derive(Subcommand)]
enum LeasesCmd {
    List,
    /// Allocate (or renew) a lease, as the DHCP server does for a client.
    Allocate {
        mac: Mac,
        #[arg(long)]
        pool: String,
        #[arg(long)]
        requested: Option<Ipv4Addr>,
        #[arg(long, default_value_t = 3600)]
        lease_secs: u32,
    },
}

#[derive(Subcommand)]
enum MembersCmd {
    /// Add a node: first as a learner (it catches up), then as a voter.
    Add {
        id: u64,
        name: String,
        #[arg(long)]
        peer: String,
        #[arg(long)]
        admin: String,
        #[arg(long)]
        witness: bool,
    },
    /// Remove a node.
    Remove { id: u64 },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Validate a node config file offline.
    Check {
        file: PathBuf,
        #[arg(long)]
        node_id: Option<u64>,
    },
}

fn print<T: Serialize>(
    json: bool,
    v: &T,
    table: impl FnOnce(&T) -> String,
) -> Result<(), CtlError> {
    if json {
        let s = serde_json::to_string_pretty(v).map_err(|e| CtlError::Other(e.to_string()))?;
        println!("{s}");
    } else {
        print!("{}", table(v));
    }
    Ok(())
}

fn parse_range(s: &str) -> Result<(Ipv4Addr, Ipv4Addr, u8), CtlError> {
    let bad = || CtlError::Invalid(format!("range {s:?}: expected START-END/PREFIX"));
    let (r, prefix) = s.split_once('/').ok_or_else(bad)?;
    let (a, b) = r.split_once('-').ok_or_else(bad)?;
    Ok((
        a.parse().map_err(|_| bad())?,
        b.parse().map_err(|_| bad())?,
        prefix.parse().map_err(|_| bad())?,
    ))
}

fn client(cli: &Cli) -> Result<AdminClient, CtlError> {
    let token = std::fs::read_to_string(&cli.token_file).map_err(|e| {
        CtlError::Invalid(format!(
            "cannot read token file {}: {e}",
            cli.token_file.display()
        ))
    })?;
    let apis = cli
        .api
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let c = AdminClient::new(apis, token.trim().to_string());
    match &cli.ca {
        Some(ca) => c.with_ca(ca),
        None => Ok(c),
    }
}

fn run(cli: &Cli) -> Result<(), CtlError> {
    let json = cli.json;
    match &cli.cmd {
        Cmd::Config(ConfigCmd::Check { file, node_id }) => {
            let cfg = cluster_config::NodeConfig::load(file, *node_id)
                .map_err(|e| CtlError::Invalid(e.to_string()))?;
            println!(
                "{}: ok ({} nodes, this is node {} \"{}\")",
                file.display(),
                cfg.nodes.len(),
                cfg.node_id,
                cfg.this_node().name
            );
            Ok(())
        }
        Cmd::Backup { file, with_blobs } => {
            let r = raftboot::ctl::backup::backup(&client(cli)?, file, *with_blobs)?;
            print(json, &r, |r| {
                format!(
                    "backup {}: cluster {} at applied index {} (from {}), state digest {}; {} hosts, {} leases, {} images; {} blobs ({:.1} MiB){}\n",
                    r.file.display(),
                    r.cluster,
                    r.applied_index,
                    r.node,
                    r.state_digest,
                    r.hosts,
                    r.leases,
                    r.images,
                    r.blobs,
                    r.blob_bytes as f64 / 1048576.0,
                    if r.with_blobs { " included" } else { " listed, not included" }
                )
            })
        }
        Cmd::Restore { file, force } => {
            let r = raftboot::ctl::backup::restore(&client(cli)?, file, *force)?;
            print(json, &r, |r| {
                let mut s = format!(
                    "restored {} (from cluster {}): {} hosts, {} leases, {} images; state digest {} (backup {}); uploaded {} blobs\n",
                    r.file.display(),
                    r.from_cluster,
                    r.hosts,
                    r.leases,
                    r.images,
                    r.restored_digest,
                    r.backup_digest,
                    r.uploaded_blobs
                );
                if r.missing_blobs > 0 {
                    s.push_str(&format!("warning: {} blobs the images need are on no boot server: import those images again\n", r.missing_blobs));
                }
                if r.dropped_readiness > 0 {
                    s.push_str(&format!(
                        "note: dropped {} readiness entries of nodes that are not members here\n",
                        r.dropped_readiness
                    ));
                }
                s
            })
        }
        Cmd::VerifyBackup { file } => {
            let h = raftboot::ctl::backup::verify(file)?;
            print(json, &h, |h| {
                format!(
                    "{}: ok (cluster {}, applied index {}, state digest {}, {} blobs{})\n",
                    file.display(),
                    h.cluster,
                    h.applied_index,
                    h.state_digest,
                    h.blobs.len(),
                    if h.with_blobs { " included" } else { " listed" }
                )
            })
        }
        Cmd::GenerateAssets { dir } => {
            let files = raftboot::assets::generate(Cli::command(), dir)
                .map_err(|e| CtlError::Invalid(e.to_string()))?;
            println!("{} files written to {}", files.len(), dir.display());
            Ok(())
        }
        Cmd::Boots { host, follow } => boots(&client(cli)?, json, host.as_deref(), *follow),
        Cmd::Audit { limit } => {
            let path = match limit {
                Some(n) => format!("/v1/audit?limit={n}"),
                None => "/v1/audit".to_string(),
            };
            let entries: Vec<AuditEntry> = client(cli)?.get(&path)?;
            print(json, &entries, |es| {
                let mut o = format!(
                    "{:<6} {:<24} {:<12} {:<16} DETAIL\n",
                    "SEQ", "TIME (UTC)", "WHO", "WHAT"
                );
                for e in es {
                    o += &format!(
                        "{:<6} {:<24} {:<12} {:<16} {}\n",
                        e.seq,
                        raftboot::failover::timeline::utc(e.at_ms),
                        e.actor,
                        e.action,
                        e.detail
                    );
                }
                o
            })
        }
        Cmd::Status => {
            let s = cluster_status(&client(cli)?)?;
            print(json, &s, render_status)
        }
        Cmd::Hosts(h) => {
            let c = client(cli)?;
            match h {
                HostsCmd::List => {
                    let hosts: Vec<Host> = c.get("/v1/hosts")?;
                    print(json, &hosts, |hs| {
                        let mut o = format!(
                            "{:<18} {:<16} {:<12} {:<16} BOOT\n",
                            "MAC", "NAME", "GROUP", "IP"
                        );
                        for h in hs {
                            let ip =
                                h.ip.map(|i| i.to_string())
                                    .unwrap_or_else(|| "(pool)".into());
                            o += &format!(
                                "{:<18} {:<16} {:<12} {:<16} {}\n",
                                h.mac,
                                h.name,
                                h.group,
                                ip,
                                h.boot_file.clone().unwrap_or_default()
                            );
                        }
                        o
                    })
                }
                HostsCmd::Add {
                    mac,
                    name,
                    group,
                    ip,
                    boot_file,
                    kernel_args,
                } => {
                    let host = Host {
                        mac: *mac,
                        name: name.clone(),
                        group: group.clone(),
                        ip: *ip,
                        boot_file: boot_file.clone(),
                        kernel_args: kernel_args.clone(),
                    };
                    let h: Host = c.post("/v1/hosts", &host)?;
                    print(json, &h, |h| format!("host {} ({}) saved\n", h.name, h.mac))
                }
                HostsCmd::Rm { mac } => {
                    c.delete::<()>(&format!("/v1/hosts/{mac}"))?;
                    print(json, &(), |_| format!("host {mac} removed\n"))
                }
                HostsCmd::Apply { file, prune } => {
                    let inv = cluster_config::Inventory::load(file)
                        .map_err(|e| CtlError::Invalid(e.to_string()))?;
                    let hosts = inv
                        .hosts
                        .into_iter()
                        .map(|h| Host {
                            mac: Mac(h.mac),
                            name: h.name,
                            group: h.group,
                            ip: h.ip,
                            boot_file: h.boot_file,
                            kernel_args: h.kernel_args,
                        })
                        .collect();
                    let r: ApplyReport = c.post(
                        "/v1/hosts/apply",
                        &ApplyHosts {
                            hosts,
                            prune: *prune,
                        },
                    )?;
                    print(json, &r, |r| {
                        format!(
                            "added {}, updated {}, unchanged {}, removed {}\n",
                            r.added, r.updated, r.unchanged, r.removed
                        )
                    })
                }
            }
        }
        Cmd::Groups(g) => {
            let c = client(cli)?;
            match g {
                GroupsCmd::List => {
                    let gs: Vec<Group> = c.get("/v1/groups")?;
                    print(json, &gs, |gs| {
                        let mut o = format!(
                            "{:<12} {:<16} {:<24} KERNEL-ARGS\n",
                            "GROUP", "ACTIVE-IMAGE", "HISTORY"
                        );
                        for g in gs {
                            o += &format!(
                                "{:<12} {:<16} {:<24} {}\n",
                                g.name,
                                g.active_image.clone().unwrap_or_else(|| "-".into()),
                                g.history.join(","),
                                g.kernel_args
                            );
                        }
                        o
                    })
                }
                GroupsCmd::Set {
                    name,
                    kernel_args,
                    boot_file,
                } => {
                    let g = Group {
                        name: name.clone(),
                        kernel_args: kernel_args.clone(),
                        boot_file: boot_file.clone(),
                        ..Group::default()
                    };
                    let g: Group = c.post("/v1/groups", &g)?;
                    print(json, &g, |g| format!("group {} saved\n", g.name))
                }
            }
        }
        Cmd::Pools(p) => {
            let c = client(cli)?;
            match p {
                PoolsCmd::List => {
                    let ps: Vec<Pool> = c.get("/v1/pools")?;
                    print(json, &ps, |ps| {
                        let mut o = format!("{:<12} {:<34} ROUTER\n", "POOL", "RANGE");
                        for p in ps {
                            o += &format!(
                                "{:<12} {:<34} {}\n",
                                p.name,
                                format!("{}-{}/{}", p.start, p.end, p.prefix),
                                p.router.map(|r| r.to_string()).unwrap_or_default()
                            );
                        }
                        o
                    })
                }
                PoolsCmd::Set {
                    name,
                    range,
                    router,
                    dns,
                } => {
                    let (start, end, prefix) = parse_range(range)?;
                    let p = Pool {
                        name: name.clone(),
                        start,
                        end,
                        prefix,
                        router: *router,
                        dns: dns.clone(),
                    };
                    let p: Pool = c.post("/v1/pools", &p)?;
                    print(json, &p, |p| format!("pool {} saved\n", p.name))
                }
            }
        }
        Cmd::Leases(l) => {
            let c = client(cli)?;
            match l {
                LeasesCmd::List => {
                    let ls: Vec<Lease> = c.get("/v1/leases")?;
                    print(json, &ls, |ls| {
                        let mut o = format!(
                            "{:<16} {:<18} {:<10} EXPIRES(ms since epoch)\n",
                            "IP", "MAC", "POOL"
                        );
                        for l in ls {
                            o += &format!(
                                "{:<16} {:<18} {:<10} {}\n",
                                l.ip, l.mac, l.pool, l.expires_ms
                            );
                        }
                        o
                    })
                }
                LeasesCmd::Allocate {
                    mac,
                    pool,
                    requested,
                    lease_secs,
                } => {
                    let req = LeaseRequest {
                        mac: *mac,
                        pool: pool.clone(),
                        requested: *requested,
                        lease_secs: *lease_secs,
                    };
                    let r: Response = c.post("/v1/leases", &req)?;
                    print(json, &r, |r| match r {
                        Response::Lease(l) => format!("{} -> {} (pool {})\n", l.mac, l.ip, l.pool),
                        Response::Fixed(ip) => format!("{mac} has the fixed address {ip}\n"),
                        other => format!("{other:?}\n"),
                    })
                }
            }
        }
        Cmd::Image(i) => image(cli, i),
        Cmd::Failover {
            to,
            drill,
            yield_ms,
            budget_scale,
            mac,
            tftp_file,
            dhcp_port,
            tftp_port,
            portmap_port,
        } => {
            let c = client(cli)?;
            let req = FailoverRequest {
                to: *to,
                yield_ms: Some(*yield_ms),
            };
            if !*drill {
                let (_, _, r) = raftboot::ctl::drill::failover(&c, &req)?;
                return print(json, &r, |r| {
                    let vip = r
                        .released_at_ms
                        .map(|t| {
                            format!(
                                "; VIP released +{} ms after the yield",
                                t.saturating_sub(r.yielded_at_ms)
                            )
                        })
                        .unwrap_or_default();
                    format!(
                        "leadership moved: node {} -> node {} (term {} -> {}); new leader seen +{} ms after the yield{vip}{}\n",
                        r.from,
                        r.new_leader,
                        r.term_before,
                        r.term_after,
                        r.leader_seen_at_ms.saturating_sub(r.yielded_at_ms),
                        r.warnings.iter().map(|w| format!("\nwarning: {w}")).collect::<String>()
                    )
                });
            }
            if !(budget_scale.is_finite() && *budget_scale > 0.0) {
                return Err(CtlError::Invalid(
                    "--budget-scale must be a positive number".into(),
                ));
            }
            let opts = DrillOptions {
                budgets: Budgets::default().scaled(*budget_scale),
                mac: mac.unwrap_or_else(raftboot::ctl::drill::random_mac),
                tftp_file: tftp_file.clone(),
                dhcp_port: *dhcp_port,
                tftp_port: *tftp_port,
                portmap_port: *portmap_port,
            };
            let t = raftboot::ctl::drill::drill(&c, &req, &opts)?;
            print(json, &t, render_timeline)?;
            if t.passed {
                Ok(())
            } else {
                let missed: Vec<String> = t
                    .rows
                    .iter()
                    .filter(|r| !r.ok)
                    .map(|r| r.step.clone())
                    .chain(t.holder_check.as_ref().err().cloned())
                    .collect();
                Err(CtlError::DrillFailed(missed.join(", ")))
            }
        }
        Cmd::Members(m) => {
            let c = client(cli)?;
            match m {
                MembersCmd::Add {
                    id,
                    name,
                    peer,
                    admin,
                    witness,
                } => {
                    let req = AddMember {
                        id: *id,
                        name: name.clone(),
                        peer_addr: peer.clone(),
                        admin_addr: admin.clone(),
                        witness: *witness,
                    };
                    c.post::<_, ()>("/v1/members", &req)?;
                    print(json, &(), |_| {
                        format!("node {id} added (learner, caught up, now voter)\n")
                    })
                }
                MembersCmd::Remove { id } => {
                    c.delete::<()>(&format!("/v1/members/{id}"))?;
                    print(json, &(), |_| format!("node {id} removed\n"))
                }
            }
        }
    }
}

fn image(cli: &Cli, cmd: &ImageCmd) -> Result<(), CtlError> {
    use raftboot::api::images::{ActivateImage, GcRequest, ImageView};
    let json = cli.json;
    let c = client(cli)?;
    match cmd {
        ImageCmd::Import {
            path,
            name,
            group,
            quiet,
        } => {
            let r =
                raftboot::ctl::import::import(&c, path, name, group.as_deref(), *quiet || json)?;
            print(json, &r, |r| {
                format!(
                    "image {} (seq {}, manifest {}): {} entries, {} blobs, uploaded {} blobs / {:.1} MiB; hashed in {:.1} s, uploaded in {:.1} s{}\n",
                    r.image.name,
                    r.image.seq,
                    &r.image.manifest[..16],
                    r.files,
                    r.blobs,
                    r.uploaded_blobs,
                    r.uploaded_bytes as f64 / 1048576.0,
                    r.hash_secs,
                    r.upload_secs,
                    r.activated_in.as_ref().map(|g| format!("; active in group {g}")).unwrap_or_default()
                )
            })
        }
        ImageCmd::List => {
            let views: Vec<ImageView> = c.get("/v1/images")?;
            print(json, &views, |vs| {
                let mut o = format!(
                    "{:<16} {:>4} {:<17} {:>10} {:<7} {:<12} NOT-READY\n",
                    "IMAGE", "SEQ", "MANIFEST", "MiB", "READY", "ACTIVE-IN"
                );
                for v in vs {
                    let not_ready: Vec<String> = v
                        .readiness
                        .iter()
                        .filter(|(_, r)| !r.ready)
                        .map(|(id, r)| {
                            format!("node {id}: {}", r.reason.clone().unwrap_or_default())
                        })
                        .collect();
                    o += &format!(
                        "{:<16} {:>4} {:<17} {:>10.1} {:<7} {:<12} {}\n",
                        v.image.name,
                        v.image.seq,
                        &v.image.manifest[..16],
                        v.image.size as f64 / 1048576.0,
                        format!("{}/{}", v.ready, v.replicas),
                        v.active_in.join(","),
                        not_ready.join("; ")
                    );
                }
                o
            })
        }
        ImageCmd::Activate { name, group } => {
            c.post::<_, ()>(
                &format!("/v1/images/{name}/activate"),
                &ActivateImage {
                    group: group.clone(),
                },
            )?;
            print(json, &(), |_| {
                format!("image {name} is active in group {group}\n")
            })
        }
        ImageCmd::Rollback { group } => {
            c.post::<_, ()>(&format!("/v1/groups/{group}/rollback"), &())?;
            print(json, &(), |_| format!("group {group} rolled back\n"))
        }
        ImageCmd::Rm { name } => {
            c.delete::<()>(&format!("/v1/images/{name}"))?;
            print(json, &(), |_| format!("image {name} removed\n"))
        }
        ImageCmd::Gc { grace_secs } => {
            let status = raftboot::ctl::commands::cluster_status(&c)?;
            let mut reports = Vec::new();
            for n in status.nodes.iter().filter(|n| !n.witness) {
                let r: raftboot::images::gc::GcReport = c.for_node(&n.admin_addr).post(
                    "/v1/images/gc",
                    &GcRequest {
                        grace_secs: *grace_secs,
                    },
                )?;
                reports.push((n.id, r));
            }
            print(json, &reports, |rs| {
                rs.iter()
                    .map(|(id, r)| match &r.skipped_reason {
                        Some(why) => format!("node {id}: skipped ({why})\n"),
                        None => format!("node {id}: deleted {}, kept {} referenced, {} younger than the grace period\n", r.deleted, r.kept_referenced, r.kept_young),
                    })
                    .collect()
            })
        }
    }
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(&cli) {
        eprintln!("bootctl: {e}");
        std::process::exit(e.exit_code());
    }
}

fn boots(c: &AdminClient, json: bool, host: Option<&str>, follow: bool) -> Result<(), CtlError> {
    use raftboot::ctl::boots::{fetch, merge, new_lines, render, BootsReport};
    if !follow {
        let (nodes, unreachable) = fetch(c)?;
        let report = BootsReport {
            machines: merge(&nodes, host),
            unreachable,
        };
        return print(json, &report, render);
    }
    let mut printed = std::collections::BTreeSet::new();
    loop {
        match fetch(c) {
            Ok((nodes, _)) => {
                for line in new_lines(&merge(&nodes, host), &mut printed) {
                    println!("{line}");
                }
            }
            Err(e) => eprintln!("bootctl: {e} (retrying)"),
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
