//! A loopback cluster of real `bootd` processes for tests and benchmarks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use raftboot::api::types::NodeStatus;
use raftboot::ctl::client::AdminClient;

use crate::lan::Lan;
use crate::wait;

/// How a test cluster is laid out.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Node ids that are witnesses (the rest are voters).
    pub witnesses: Vec<u64>,
    pub nodes: u64,
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    pub snapshot_logs_since_last: u64,
    pub max_in_snapshot_log_to_keep: u64,
    /// Run every node in its own network namespace on a [`Lan`], with a VIP (.10), nodes at
    /// .11, .12, ... and a client host at .100 (needs root).
    pub on_lan: bool,
    /// VIP hold window (defaults to 60% of the minimum election timeout).
    pub vip_hold_ms: Option<u64>,
    /// On a LAN: more of the `[dhcp]` table (which always has `interface = "eth0"`, so the
    /// nodes answer DHCP on the LAN).
    pub dhcp_toml: Option<String>,
    /// Generate a cluster CA and one certificate per node (openssl CLI) and configure
    /// `[tls]`: HTTPS admin API, mutual-TLS peers. Clients then trust [`Cluster::ca`].
    pub tls: bool,
    /// Also configure named tokens: `ops` with the read scope ([`Cluster::read_token`]) and
    /// `deploy` with the admin scope ([`Cluster::deploy_token`]), in `read.token` and
    /// `deploy.token` of the cluster directory.
    pub named_tokens: bool,
}

impl Spec {
    /// A cluster on a [`Lan`] with the VIP, at the default fast timings and a 200 ms VIP
    /// hold window (the VIP, failover and boot tests).
    pub fn lan() -> Spec {
        Spec {
            on_lan: true,
            vip_hold_ms: Some(200),
            ..Spec::default()
        }
    }
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            witnesses: vec![],
            nodes: 3,
            heartbeat_ms: 50,
            election_min_ms: 300,
            election_max_ms: 600,
            snapshot_logs_since_last: 5000,
            max_in_snapshot_log_to_keep: 1000,
            on_lan: false,
            vip_hold_ms: None,
            dhcp_toml: None,
            tls: false,
            named_tokens: false,
        }
    }
}

/// One node's fixed facts.
#[derive(Debug, Clone)]
pub struct NodeAddr {
    pub id: u64,
    /// The node's network namespace (on a LAN) and its host number (.N).
    pub ns: Option<(String, u8)>,
    pub name: String,
    pub peer: String,
    pub admin: String,
}

/// A running test cluster. Dropping it stops every process it started (by PID) and removes
/// its directory.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub token: String,
    pub secret: String,
    pub cluster_name: String,
    pub nodes: BTreeMap<u64, NodeAddr>,
    procs: BTreeMap<u64, Child>,
    /// The LAN (when `on_lan`) and the client namespace.
    pub lan: Option<(std::sync::Arc<Lan>, String)>,
    /// The cluster CA certificate, when the cluster runs with TLS.
    pub ca: Option<PathBuf>,
    /// The read-only token `ops`, when configured.
    pub read_token: Option<String>,
    /// The admin-scope token `deploy`, when configured.
    pub deploy_token: Option<String>,
}

/// Hands out distinct loopback ports free for TCP *and* UDP (a node serves DHCP, TFTP, NFS
/// and the portmapper on UDP): each probe socket pair stays open until the allocator is
/// dropped, so the kernel cannot hand the same port out twice. A port free for TCP only
/// (another cluster's node serving UDP on it) is skipped; clusters started side by side once
/// collided that way ("Address already in use" on a node's UDP port).
#[derive(Default)]
struct Ports(Vec<(std::net::TcpListener, std::net::UdpSocket)>);

impl Ports {
    fn next(&mut self) -> anyhow::Result<u16> {
        for _ in 0..64 {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            let port = l.local_addr()?.port();
            if let Ok(u) = std::net::UdpSocket::bind(("127.0.0.1", port)) {
                self.0.push((l, u));
                return Ok(port);
            }
        }
        anyhow::bail!("no loopback port free for both TCP and UDP after 64 tries")
    }
}

impl Cluster {
    /// Write the config and start every node.
    pub fn start(spec: &Spec) -> anyhow::Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("raftboot-test-")
            .tempdir()?;
        let secret: String = (0..32)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        let token: String = (0..16)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        std::fs::write(dir.path().join("cluster.secret"), &secret)?;
        std::fs::write(dir.path().join("admin.token"), &token)?;
        let cluster_name = "test".to_string();
        let mut toml = format!(
            "node_id = 1\ncluster_name = \"{cluster_name}\"\ndata_dir = \"node{{id}}\"\nsecret_file = \"cluster.secret\"\nadmin_token_file = \"admin.token\"\n\n[raft]\nheartbeat_ms = {}\nelection_timeout_min_ms = {}\nelection_timeout_max_ms = {}\nsnapshot_logs_since_last = {}\nmax_in_snapshot_log_to_keep = {}\nvip_hold_ms = {}\n",
            spec.heartbeat_ms,
            spec.election_min_ms,
            spec.election_max_ms,
            spec.snapshot_logs_since_last,
            spec.max_in_snapshot_log_to_keep,
            spec.vip_hold_ms.unwrap_or(spec.election_min_ms * 6 / 10),
        );
        let mut lan = if spec.on_lan { Some(Lan::new()?) } else { None };
        if let Some(l) = &lan {
            let _ = write!(
                toml,
                "\n[vip]\naddress = \"{}/24\"\ninterface = \"eth0\"\n",
                l.ip(10)
            );
            // DHCP answers on the bridge interface; `dhcp_toml` adds to the table.
            let body = spec.dhcp_toml.as_deref().unwrap_or_default();
            let _ = write!(toml, "\n[dhcp]\ninterface = \"eth0\"\n{body}\n");
        }
        let mut nodes = BTreeMap::new();
        let mut ports = Ports::default();
        for id in 1..=spec.nodes {
            let n = match &mut lan {
                Some(l) => {
                    let last = 10 + id as u8;
                    let ns = l.add_host(&format!("n{id}"), last)?;
                    NodeAddr {
                        id,
                        ns: Some((ns, last)),
                        name: format!("node{id}"),
                        peer: format!("{}:7100", l.ip(last)),
                        admin: format!("{}:7200", l.ip(last)),
                    }
                }
                None => NodeAddr {
                    id,
                    ns: None,
                    name: format!("node{id}"),
                    peer: format!("127.0.0.1:{}", ports.next()?),
                    admin: format!("127.0.0.1:{}", ports.next()?),
                },
            };
            let role = if spec.witnesses.contains(&id) {
                "witness"
            } else {
                "voter"
            };
            let svc: Vec<u16> = if n.ns.is_some() {
                vec![67, 69, 80, 2049, 20048, 111]
            } else {
                (0..6).map(|_| ports.next()).collect::<Result<_, _>>()?
            };
            let (bind, lan_line) = match &n.ns {
                Some((_, last)) => (
                    "0.0.0.0".to_string(),
                    format!(
                        "lan = \"{}/24\"\n",
                        lan.as_ref()
                            .map(|l| l.ip(*last))
                            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED)
                    ),
                ),
                None => ("127.0.0.1".to_string(), String::new()),
            };
            let _ = write!(
                toml,
                "\n[[nodes]]\nid = {id}\nname = \"{}\"\nrole = \"{role}\"\npeer_addr = \"{}\"\nadmin_addr = \"{}\"\n{lan_line}[nodes.services]\nbind = \"{bind}\"\ndhcp_port = {}\ntftp_port = {}\nhttp_port = {}\nnfs_port = {}\nmount_port = {}\nportmap_port = {}\n",
                n.name, n.peer, n.admin, svc[0], svc[1], svc[2], svc[3], svc[4], svc[5]
            );
            nodes.insert(id, n);
        }
        drop(ports);
        let ca = if spec.tls {
            let pki = crate::pki::TestPki::new(&dir.path().join("tls"), "cluster")?;
            for n in nodes.values() {
                let ips: Vec<std::net::IpAddr> = [&n.peer, &n.admin]
                    .iter()
                    .filter_map(|a| a.parse::<std::net::SocketAddr>().ok())
                    .map(|a| a.ip())
                    .collect();
                pki.issue(&n.name, &ips, &[n.name.as_str()])?;
            }
            toml.push_str(
                "\n[tls]\ncert_file = \"tls/node{id}.crt\"\nkey_file = \"tls/node{id}.key\"\nca_file = \"tls/cluster-ca.crt\"\n",
            );
            Some(pki.ca_cert)
        } else {
            None
        };
        let mut named = Vec::new();
        if spec.named_tokens {
            for (name, scope, file) in [
                ("ops", "read", "read.token"),
                ("deploy", "admin", "deploy.token"),
            ] {
                let t: String = (0..16)
                    .map(|_| format!("{:02x}", rand::random::<u8>()))
                    .collect();
                std::fs::write(dir.path().join(file), &t)?;
                let _ = write!(
                    toml,
                    "\n[[api.tokens]]\nname = \"{name}\"\nscope = \"{scope}\"\nsecret_file = \"{file}\"\n"
                );
                named.push(t);
            }
        }
        let deploy_token = named.pop();
        let read_token = named.pop();
        toml.push('\n');
        let lan = match lan {
            Some(mut l) => {
                let client = l.add_host("c", 100)?;
                Some((std::sync::Arc::new(l), client))
            }
            None => None,
        };
        let config = dir.path().join("cluster.toml");
        std::fs::write(&config, toml)?;
        let mut c = Cluster {
            dir,
            config,
            token,
            secret,
            cluster_name,
            nodes,
            procs: BTreeMap::new(),
            lan,
            ca,
            read_token,
            deploy_token,
        };
        let ids: Vec<u64> = c.nodes.keys().copied().collect();
        for id in ids {
            c.start_node(id)?;
        }
        Ok(c)
    }

    /// Start (or restart) one node from its data dir.
    pub fn start_node(&mut self, id: u64) -> anyhow::Result<()> {
        self.start_node_wrapped(id, &[])
    }

    /// Start one node with `bootd` run through `wrapper` (a program that execs its
    /// arguments in place, e.g. `unshare --time --monotonic 3600`), so the PID we keep is
    /// still bootd's.
    pub fn start_node_wrapped(&mut self, id: u64, wrapper: &[String]) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.procs.contains_key(&id),
            "node {id} is already running"
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(id))?;
        let mut cmd = match &self.nodes[&id].ns {
            // `ip netns exec` execs bootd in place: the PID we keep is bootd's.
            Some((ns, _)) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns])
                    .args(wrapper)
                    .arg(crate::bin("bootd")?);
                c
            }
            None => match wrapper.split_first() {
                Some((prog, rest)) => {
                    let mut c = Command::new(prog);
                    c.args(rest).arg(crate::bin("bootd")?);
                    c
                }
                None => Command::new(crate::bin("bootd")?),
            },
        };
        let child = cmd
            .args(["run", "--config"])
            .arg(&self.config)
            .args(["--node-id", &id.to_string()])
            .env(
                "RAFTBOOT_LOG",
                std::env::var("CHAOS_NODE_LOG").unwrap_or_else(|_| "info,openraft=warn".into()),
            )
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting node {id}"))?;
        self.procs.insert(id, child);
        Ok(())
    }

    pub fn log_path(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("node{id}.log"))
    }

    /// The blob files in node `id`'s content store (`cas/blobs/<fan>/<digest>`, without
    /// the chunk-table sidecars).
    pub fn blob_files(&self, id: u64) -> Vec<PathBuf> {
        let mut out = vec![];
        let root = self.data_dir(id).join("cas/blobs");
        for fan in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            for f in std::fs::read_dir(fan.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let p = f.path();
                if p.extension().is_none() {
                    out.push(p);
                }
            }
        }
        out
    }

    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("node{id}"))
    }

    /// PID of a running node.
    pub fn pid(&self, id: u64) -> Option<u32> {
        self.procs.get(&id).map(|c| c.id())
    }

    fn signal(&mut self, id: u64, sig: nix::sys::signal::Signal) -> anyhow::Result<()> {
        let mut child = self
            .procs
            .remove(&id)
            .with_context(|| format!("node {id} is not running"))?;
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id())?);
        nix::sys::signal::kill(pid, sig)?;
        child.wait()?;
        Ok(())
    }

    /// SIGKILL a node (by the PID we started) and reap it.
    pub fn kill(&mut self, id: u64) -> anyhow::Result<()> {
        self.signal(id, nix::sys::signal::Signal::SIGKILL)
    }

    /// SIGTERM a node and wait for it to exit.
    pub fn stop(&mut self, id: u64) -> anyhow::Result<()> {
        self.signal(id, nix::sys::signal::Signal::SIGTERM)
    }

    /// Delete a (stopped) node's data dir.
    pub fn wipe(&self, id: u64) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.procs.contains_key(&id),
            "stop node {id} before wiping it"
        );
        let d = self.data_dir(id);
        if d.exists() {
            std::fs::remove_dir_all(&d)?;
        }
        Ok(())
    }

    pub fn running(&self) -> Vec<u64> {
        self.procs.keys().copied().collect()
    }

    /// An admin client for one node.
    /// An admin client for one node, for a loopback cluster. On a LAN cluster, calls must
    /// run inside the client namespace: use [`Cluster::api`] with [`Cluster::client_unchecked`].
    pub fn client(&self, id: u64) -> AdminClient {
        assert!(
            self.lan.is_none(),
            "Cluster::client on a LAN cluster would call from the host namespace; use Cluster::api"
        );
        self.client_unchecked(id)
    }

    /// An admin client for one node; its calls must run where the node is reachable.
    pub fn client_unchecked(&self, id: u64) -> AdminClient {
        self.admin_client(vec![self.nodes[&id].admin.clone()], self.token.clone())
    }

    /// An admin client for `apis` with `token`, trusting the cluster CA when there is one.
    pub fn admin_client(&self, apis: Vec<String>, token: String) -> AdminClient {
        let plain = AdminClient::new(apis.clone(), token.clone());
        match &self.ca {
            // A CA that cannot be read shows up as a clear error on the first call.
            Some(ca) => AdminClient::new(apis, token).with_ca(ca).unwrap_or(plain),
            None => plain,
        }
    }

    /// An admin client trying every running node.
    pub fn any_client(&self) -> AdminClient {
        assert!(self.lan.is_none(), "Cluster::any_client on a LAN cluster would call from the host namespace; use Cluster::api");
        self.admin_client(
            self.running()
                .iter()
                .map(|id| self.nodes[id].admin.clone())
                .collect(),
            self.token.clone(),
        )
    }

    pub fn status(&self, id: u64) -> anyhow::Result<NodeStatus> {
        let client = self.client_unchecked(id);
        self.api(move || client.get::<NodeStatus>("/v1/status"))?
            .map_err(|e| anyhow::anyhow!("node {id}: {e}"))
    }

    /// Run admin-API calls where the nodes are reachable: here on loopback, or on a thread
    /// inside the client namespace on a LAN (never from the host namespace: LAN addresses
    /// exist only inside the namespaces this harness made).
    pub fn api<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        match &self.lan {
            Some((lan, client)) => lan.in_ns(client, f),
            None => Ok(f()),
        }
    }

    /// Wait until the running nodes agree on one leader; return it.
    pub fn wait_leader(&self, timeout: Duration) -> anyhow::Result<u64> {
        self.wait_leader_inner(timeout).map_err(|e| {
            // A test that returns this error (instead of panicking) gets no log tails from
            // `drop`: put them in the error.
            let tails: Vec<String> = self
                .running()
                .iter()
                .map(|id| {
                    format!(
                        "---- node {id} log (tail) ----\n{}",
                        Self::log_tail(&self.log_path(*id), 15)
                    )
                })
                .collect();
            e.context(tails.join("\n"))
        })
    }

    fn wait_leader_inner(&self, timeout: Duration) -> anyhow::Result<u64> {
        wait::until("a leader all running nodes agree on", timeout, || {
            let mut leaders = Vec::new();
            for id in self.running() {
                let s = self.status(id).map_err(|e| e.to_string())?;
                leaders.push(s.leader);
            }
            match leaders.first() {
                Some(Some(l))
                    if leaders.iter().all(|x| *x == Some(*l)) && self.procs.contains_key(l) =>
                {
                    Ok(*l)
                }
                _ => Err(format!("leaders seen: {leaders:?}")),
            }
        })
    }

    /// Wait until the given nodes have applied the same index with the same state digest.
    pub fn wait_converged(&self, ids: &[u64], timeout: Duration) -> anyhow::Result<String> {
        wait::until("replicas to converge", timeout, || {
            let mut seen = Vec::new();
            for id in ids {
                let s = self.status(*id).map_err(|e| e.to_string())?;
                seen.push((*id, s.applied_index, s.state_digest));
            }
            let first = &seen[0];
            if seen.iter().all(|s| s.1 == first.1 && s.2 == first.2) {
                Ok(first.2.clone())
            } else {
                Err(format!("{seen:?}"))
            }
        })
    }

    /// Run the real bootctl against this cluster.
    pub fn bootctl(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        Ok(self.bootctl_command(args)?.output()?)
    }

    /// Run bootctl against the cluster: its stdout, or an error with its stderr.
    pub fn ctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.bootctl(args)?;
        anyhow::ensure!(
            out.status.success(),
            "bootctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// Wait (bounded by `timeout`) until `images` images are each ready on `nodes` nodes
    /// (`bootctl image list --json`); `what` names the wait in its timeout error.
    pub fn wait_images_ready(
        &self,
        what: &str,
        images: usize,
        nodes: u64,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        wait::until(what, timeout, || {
            let out = self
                .ctl(&["image", "list", "--json"])
                .map_err(|e| e.to_string())?;
            let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| e.to_string())?;
            let ready = v
                .as_array()
                .map(|a| a.iter().filter(|i| i["ready"] == nodes).count())
                .unwrap_or(0);
            if ready == images {
                Ok(())
            } else {
                Err(v.to_string())
            }
        })
    }

    /// Wait (bounded by `timeout`) until the leader holds the VIP; returns it.
    pub fn wait_vip_holder(&self, timeout: Duration) -> anyhow::Result<u64> {
        wait::until("a VIP holder", timeout, || {
            let l = self
                .wait_leader(Duration::from_secs(5))
                .map_err(|e| e.to_string())?;
            let s = self.status(l).map_err(|e| e.to_string())?;
            if s.vip_holder == Some(l) {
                Ok(l)
            } else {
                Err(format!("leader {l}, VIP holder {:?}", s.vip_holder))
            }
        })
    }

    /// The bootctl command [`Cluster::bootctl`] runs (in the client namespace on a LAN), to
    /// spawn it in the background.
    pub fn bootctl_command(&self, args: &[&str]) -> anyhow::Result<Command> {
        let apis: Vec<String> = self
            .running()
            .iter()
            .map(|id| self.nodes[id].admin.clone())
            .collect();
        let mut cmd = match &self.lan {
            Some((lan, client)) => {
                let mut c = lan.cmd(client, "env");
                c.arg(crate::bin("bootctl")?);
                c
            }
            None => Command::new(crate::bin("bootctl")?),
        };
        if let Some(ca) = &self.ca {
            cmd.arg("--ca").arg(ca);
        }
        cmd.arg("--api")
            .arg(apis.join(","))
            .arg("--token-file")
            .arg(self.dir.path().join("admin.token"))
            .args(args);
        Ok(cmd)
    }

    fn log_tail(path: &Path, lines: usize) -> String {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let ids: Vec<u64> = self.procs.keys().copied().collect();
        for id in ids {
            let _ = self.kill(id);
        }
        if std::thread::panicking() {
            for id in self.nodes.keys() {
                eprintln!(
                    "---- node {id} log (tail) ----\n{}",
                    Self::log_tail(&self.log_path(*id), 40)
                );
            }
        }
    }
}
