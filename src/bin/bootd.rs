//! bootd: the raftboot boot server.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

#[derive(Parser)]
#[command(
    name = "bootd",
    version,
    about = "raftboot boot server: a Raft-replicated network-boot node"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one node from its config file.
    Run {
        /// The node's config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Which node of the file's [[nodes]] to run (overrides the file's node_id).
        #[arg(long)]
        node_id: Option<u64>,
    },
    /// Quorum lost for good: turn this (stopped) node into a one-node cluster with all the
    /// state its log and snapshot hold. Refused while a majority of the voters answers.
    /// Afterwards start bootd normally and add new members with `bootctl members add`.
    Recover {
        /// The node's config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Which node of the file's [[nodes]] this is (overrides the file's node_id).
        #[arg(long)]
        node_id: Option<u64>,
        /// Required: says that the other voters are gone for good. Their data, if any of them
        /// ever comes back, must be wiped before it rejoins.
        #[arg(long)]
        i_have_lost_quorum: bool,
    },
    /// Internal: the VIP lease guard a running node starts for itself (see
    /// `raftboot::vip::lease_guard`). Reads deadlines on stdin.
    #[command(hide = true)]
    VipGuard {
        #[arg(long)]
        netns: String,
        #[arg(long)]
        link: String,
    },
    /// Run a three-node demo cluster on loopback (unprivileged ports, data under --dir).
    Local {
        /// Where the config, secrets, data and logs go.
        #[arg(long, default_value = "raftboot-local")]
        dir: PathBuf,
        /// Do not build and import the demo image.
        #[arg(long)]
        no_demo: bool,
    },
    /// Write man pages and shell completions for bootd into DIR (used by the package build).
    #[command(hide = true)]
    GenerateAssets { dir: PathBuf },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAFTBOOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

fn shutdown_on_signals() -> anyhow::Result<CancellationToken> {
    use tokio::signal::unix::{signal, SignalKind};
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let t = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = int.recv() => tracing::info!("SIGINT"),
        }
        t.cancel();
    });
    Ok(token)
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    init_tracing();
    if let Cmd::VipGuard { netns, link } = &cli.cmd {
        if let Err(e) = raftboot::vip::lease_guard::run_guard(netns, link) {
            eprintln!("bootd vip-guard: {e}");
            std::process::exit(1);
        }
        return;
    }
    let result = match cli.cmd {
        Cmd::Run { config, node_id } => match cluster_config::NodeConfig::load(&config, node_id) {
            Ok(cfg) => match shutdown_on_signals() {
                Ok(stop) => {
                    let span = tracing::info_span!("node", node = cfg.node_id);
                    raftboot::node::run(cfg, stop).instrument(span).await
                }
                Err(e) => Err(e),
            },
            Err(e) => {
                eprintln!("bootd: {e}");
                std::process::exit(2);
            }
        },
        Cmd::Recover {
            config,
            node_id,
            i_have_lost_quorum,
        } => {
            if !i_have_lost_quorum {
                eprintln!("bootd: recover rewrites the membership to this node alone; pass --i-have-lost-quorum to confirm the other voters are gone for good");
                std::process::exit(2);
            }
            match cluster_config::NodeConfig::load(&config, node_id) {
                Ok(cfg) => match raftboot::node::recover::recover(&cfg).await {
                    Ok(r) => {
                        for p in &r.probes {
                            match &p.answer {
                                Ok(_) => println!("node {} ({}): answers", p.id, p.addr),
                                Err(e) => println!("node {} ({}): unreachable: {e}", p.id, p.addr),
                            }
                        }
                        println!(
                            "node {} is now the only voter (was {:?}): membership entry {} at term {} appended; start bootd, then add members with `bootctl members add`",
                            r.node, r.old_voters, r.new_entry_index, r.new_term
                        );
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                Err(e) => {
                    eprintln!("bootd: {e}");
                    std::process::exit(2);
                }
            }
        }
        Cmd::GenerateAssets { dir } => raftboot::assets::generate(Cli::command(), &dir)
            .map(|files| println!("{} files written to {}", files.len(), dir.display()))
            .map_err(anyhow::Error::from),
        Cmd::Local { dir, no_demo } => match shutdown_on_signals() {
            Ok(stop) => raftboot::local::run(&dir, !no_demo, stop).await,
            Err(e) => Err(e),
        },
        // Handled before the runtime work above.
        Cmd::VipGuard { .. } => Ok(()),
    };
    if let Err(e) = result {
        eprintln!("bootd: {e:#}");
        std::process::exit(1);
    }
}
