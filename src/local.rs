//! `bootd local`: the demo cluster. Writes the embedded three-node loopback config into a
//! directory (with a fresh cluster secret and admin token on first run), starts three
//! `bootd run` children, prints where their APIs are, and stops them on SIGTERM/SIGINT.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// Config file name inside the local directory.
pub const CONFIG_NAME: &str = "cluster.toml";

fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

fn write_if_missing(p: &Path, content: &str) -> anyhow::Result<()> {
    if !p.exists() {
        std::fs::write(p, content).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// Prepare `dir`: config, secret and token files. Returns the config path.
pub fn prepare(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cfg = dir.join(CONFIG_NAME);
    std::fs::write(&cfg, cluster_config::LOCAL_EXAMPLE)
        .with_context(|| format!("writing {}", cfg.display()))?;
    write_if_missing(&dir.join("cluster.secret"), &random_hex(32))?;
    write_if_missing(&dir.join("admin.token"), &random_hex(16))?;
    Ok(cfg)
}

/// Run the three-node demo until `stop`.
pub async fn run(dir: &Path, demo: bool, stop: CancellationToken) -> anyhow::Result<()> {
    let cfg_path = prepare(dir)?;
    let cfg =
        cluster_config::NodeConfig::load(&cfg_path, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let exe = std::env::current_exe().context("locating the bootd binary")?;
    let mut children: Vec<(u64, Child)> = Vec::new();
    for n in &cfg.nodes {
        let log = std::fs::File::create(dir.join(format!("node{}.log", n.id)))?;
        let child = Command::new(&exe)
            .args(["run", "--config"])
            .arg(&cfg_path)
            .args(["--node-id", &n.id.to_string()])
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting node {}", n.id))?;
        children.push((n.id, child));
    }
    println!(
        "raftboot local cluster: {} nodes on loopback",
        cfg.nodes.len()
    );
    for n in &cfg.nodes {
        println!(
            "  node {} ({}): admin API http://{}  peer {}  log {}",
            n.id,
            n.name,
            n.admin_addr,
            n.peer_addr,
            dir.join(format!("node{}.log", n.id)).display()
        );
    }
    println!("  admin token: {}", dir.join("admin.token").display());
    if demo {
        match import_demo(dir, &cfg).await {
            Ok(msg) => println!("  {msg}"),
            Err(e) => eprintln!("  demo image not imported: {e:#}"),
        }
    }
    println!("try: bootctl status    (Ctrl-C stops the cluster)");

    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                for (id, c) in children.iter_mut() {
                    if let Ok(Some(status)) = c.try_wait() {
                        eprintln!("node {id} exited ({status}); see its log");
                    }
                }
                children.retain_mut(|(_, c)| !matches!(c.try_wait(), Ok(Some(_))));
                if children.is_empty() {
                    anyhow::bail!("every node exited");
                }
            }
        }
    }
    for (id, c) in &children {
        if let Err(e) = terminate(c.id()) {
            eprintln!("stopping node {id}: {e}");
        }
    }
    for (_, c) in children.iter_mut() {
        let _ = c.wait();
    }
    println!("stopped");
    Ok(())
}

/// Send SIGTERM to a child we started.
fn terminate(pid: u32) -> anyhow::Result<()> {
    let pid = i32::try_from(pid).context("pid")?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )?;
    Ok(())
}

/// Build the demo root (once) and import it as image `demo`, active in group `default`.
async fn import_demo(dir: &Path, cfg: &cluster_config::NodeConfig) -> anyhow::Result<String> {
    let root = dir.join("demo-root");
    if !root.exists() {
        let tmp = dir.join("demo-root.tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        crate::demo_image::build(&tmp).context("building the demo root")?;
        std::fs::rename(&tmp, &root)?;
    }
    let loaders = dir.join("bootloaders");
    let _ = std::fs::remove_dir_all(&loaders);
    let loaders_found =
        crate::demo_image::build_loaders(&loaders).context("collecting the boot loaders")?;
    let apis: Vec<String> = cfg.nodes.iter().map(|n| n.admin_addr.to_string()).collect();
    let token = cfg.admin_token.clone();
    let client = crate::ctl::client::AdminClient::new(apis, token);
    tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        // Wait (bounded) until the cluster has a leader.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match crate::ctl::commands::cluster_status(&client) {
                Ok(s) if s.leader.is_some() => break,
                _ if std::time::Instant::now() > deadline => anyhow::bail!("no leader after 30 s"),
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        let r = crate::ctl::import::import(&client, &root, "demo", Some("default"), true)?;
        let mut msg = format!(
            "demo image: {} entries, {:.1} MiB, active in group default (bootctl image list)",
            r.files,
            r.image.size as f64 / 1048576.0
        );
        if loaders_found > 0 {
            let l = crate::ctl::import::import(&client, &loaders, "bootloaders", None, true)?;
            msg += &format!(
                "\n  boot loaders: {} files from this machine's pxelinux/syslinux/ipxe packages",
                l.files
            );
        }
        Ok(msg)
    })
    .await?
}
