//! A cluster of real `bootd` processes in a [`Lab`]: node `i` runs in its own namespace at
//! `10.a.b.(10+i)` (peer port 7100, admin port 7200, DHCP on port 67 bound to 0.0.0.0 on
//! `eth0`), and a control namespace at `10.a.b.2` is where the test talks to the admin
//! APIs from. Clients are further lab members. Dropping it drops the lab: every process
//! is killed by PID and every namespace deleted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use raftboot::api::types::NodeStatus;
use raftboot::ctl::client::AdminClient;

use crate::netns::Lab;
use crate::wait;

/// How a namespace cluster is laid out.
#[derive(Debug, Clone)]
pub struct NetSpec {
    pub nodes: u64,
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    /// The body of the `[dhcp]` table (without the header); `interface = "eth0"` is added.
    pub dhcp_toml: String,
    /// `RAFTBOOT_LOG` of every node (the tests read the DHCP debug lines).
    pub log: String,
}

impl Default for NetSpec {
    fn default() -> Self {
        NetSpec {
            nodes: 3,
            heartbeat_ms: 50,
            election_min_ms: 300,
            election_max_ms: 600,
            dhcp_toml: String::new(),
            log: "info,openraft=warn,raftboot::dhcp=debug".into(),
        }
    }
}

/// A running namespace cluster.
pub struct NetCluster {
    pub lab: Lab,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub token: String,
    /// node id -> (namespace, address)
    pub nodes: BTreeMap<u64, (String, Ipv4Addr)>,
    pids: BTreeMap<u64, u32>,
    ctl_ns: String,
    log: String,
}

/// The admin address of a node at `ip`.
fn admin(ip: Ipv4Addr) -> String {
    format!("{ip}:7200")
}

impl NetCluster {
    /// Build the lab, write the config, start every node. `None` (with a note) when
    /// namespaces cannot be made here; see [`Lab::or_skip`].
    pub fn start_or_skip(tag: &str, spec: &NetSpec) -> Option<NetCluster> {
        let lab = Lab::or_skip(tag)?;
        match Self::start(lab, spec) {
            Ok(c) => Some(c),
            Err(e) => panic!("{tag}: starting the namespace cluster: {e:#}"),
        }
    }

    /// Start a cluster in `lab`.
    pub fn start(mut lab: Lab, spec: &NetSpec) -> anyhow::Result<NetCluster> {
        let dir = tempfile::Builder::new()
            .prefix("raftboot-netns-")
            .tempdir()?;
        let hex = |n: usize| -> String {
            (0..n)
                .map(|_| format!("{:02x}", rand::random::<u8>()))
                .collect()
        };
        let token = hex(16);
        std::fs::write(dir.path().join("cluster.secret"), hex(32))?;
        std::fs::write(dir.path().join("admin.token"), &token)?;
        let ctl = lab.add_member("ctl", Some(2))?;
        let mut toml = format!(
            "node_id = 1\ncluster_name = \"netns\"\ndata_dir = \"node{{id}}\"\n\
             secret_file = \"cluster.secret\"\nadmin_token_file = \"admin.token\"\n\n\
             [raft]\nheartbeat_ms = {}\nelection_timeout_min_ms = {}\n\
             election_timeout_max_ms = {}\nvip_hold_ms = {}\n\n\
             [dhcp]\ninterface = \"eth0\"\n{}\n",
            spec.heartbeat_ms,
            spec.election_min_ms,
            spec.election_max_ms,
            spec.election_min_ms * 6 / 10,
            spec.dhcp_toml,
        );
        let mut nodes = BTreeMap::new();
        for id in 1..=spec.nodes {
            let octet = u8::try_from(10 + id)?;
            let m = lab.add_member(&format!("n{id}"), Some(octet))?;
            let ip = lab.addr(octet);
            let _ = write!(
                toml,
                "\n[[nodes]]\nid = {id}\nname = \"node{id}\"\npeer_addr = \"{ip}:7100\"\n\
                 admin_addr = \"{ip}:7200\"\nlan = \"{ip}/24\"\n[nodes.services]\n\
                 bind = \"0.0.0.0\"\ndhcp_port = 67\n"
            );
            nodes.insert(id, (m.ns, ip));
        }
        let config = dir.path().join("cluster.toml");
        std::fs::write(&config, toml)?;
        let mut c = NetCluster {
            lab,
            dir,
            config,
            token,
            nodes,
            pids: BTreeMap::new(),
            ctl_ns: ctl.ns,
            log: spec.log.clone(),
        };
        for id in 1..=spec.nodes {
            c.start_node(id)?;
        }
        Ok(c)
    }

    pub fn log_path(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("node{id}.log"))
    }

    /// Start (or restart) node `id` in its namespace.
    pub fn start_node(&mut self, id: u64) -> anyhow::Result<()> {
        anyhow::ensure!(!self.pids.contains_key(&id), "node {id} is running");
        let (ns, _) = self.nodes.get(&id).context("no such node")?.clone();
        let bootd = crate::bin("bootd")?;
        let config = self.config.display().to_string();
        let log = self.log_path(id);
        let filter = format!("RAFTBOOT_LOG={}", self.log);
        let pid = self.lab.spawn(
            &ns,
            &[
                "env",
                &filter,
                &bootd.display().to_string(),
                "run",
                "--config",
                &config,
                "--node-id",
                &id.to_string(),
            ],
            &log,
        )?;
        self.pids.insert(id, pid);
        Ok(())
    }

    /// SIGKILL node `id` (by the PID the lab started).
    pub fn kill(&mut self, id: u64) -> anyhow::Result<()> {
        let pid = self.pids.remove(&id).context("node is not running")?;
        self.lab.kill(pid)
    }

    pub fn running(&self) -> Vec<u64> {
        self.pids.keys().copied().collect()
    }

    /// Run `f` with an admin client for the given nodes, from the control namespace.
    pub fn api<T: Send>(
        &self,
        ids: &[u64],
        f: impl FnOnce(&AdminClient) -> T + Send,
    ) -> anyhow::Result<T> {
        let apis = ids
            .iter()
            .filter_map(|id| self.nodes.get(id).map(|(_, ip)| admin(*ip)))
            .collect();
        let client = AdminClient::new(apis, self.token.clone());
        self.lab.in_ns(&self.ctl_ns, move || f(&client))
    }

    /// One node's status.
    pub fn status(&self, id: u64) -> anyhow::Result<NodeStatus> {
        self.api(&[id], |c| c.get::<NodeStatus>("/v1/status"))?
            .map_err(|e| anyhow::anyhow!("node {id}: {e}"))
    }

    /// The replicated state as node `id` has applied it.
    pub fn state(&self, id: u64) -> anyhow::Result<raftboot_raft::State> {
        self.api(&[id], |c| c.get::<raftboot_raft::State>("/v1/state"))?
            .map_err(|e| anyhow::anyhow!("node {id}: {e}"))
    }

    /// `GET /metrics` of node `id`, as text.
    pub fn metrics(&self, id: u64) -> anyhow::Result<String> {
        let url = format!("http://{}/metrics", admin(self.nodes[&id].1));
        self.lab
            .in_ns(&self.ctl_ns, move || -> anyhow::Result<String> {
                Ok(ureq::get(&url)
                    .timeout(Duration::from_secs(5))
                    .call()?
                    .into_string()?)
            })?
    }

    /// Wait until the running nodes agree on a leader that has applied its own term
    /// (so it answers DHCP); return it.
    pub fn wait_leader(&self, timeout: Duration) -> anyhow::Result<u64> {
        wait::until("a leader all running nodes agree on", timeout, || {
            let mut leaders = Vec::new();
            for id in self.running() {
                leaders.push(self.status(id).map_err(|e| e.to_string())?.leader);
            }
            match leaders.first() {
                Some(Some(l))
                    if leaders.iter().all(|x| *x == Some(*l)) && self.pids.contains_key(l) =>
                {
                    Ok(*l)
                }
                _ => Err(format!("leaders seen: {leaders:?}")),
            }
        })
    }

    /// Commit a command through the admin API (pools, hosts, groups).
    pub fn post<B: serde::Serialize + Send + Sync>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<()> {
        let running = self.running();
        self.api(&running, |c| c.post::<B, serde_json::Value>(path, body))?
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("POST {path}: {e}"))
    }

    fn log_tail(&self, id: u64, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path(id)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for NetCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for id in self.nodes.keys() {
                eprintln!("---- node {id} log (tail) ----\n{}", self.log_tail(*id, 40));
            }
        }
        // The lab (a field) kills every process and deletes the namespaces next.
    }
}
