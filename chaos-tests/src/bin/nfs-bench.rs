//! Benchmark (not a test): raftboot's NFS server against nfs-ganesha, in one run, driven by
//! the same libnfs client (libnfs-utils). Prints, for both and as a ratio:
//!
//! - sequential read MiB/s of one 256 MiB file (`nfs-cat URL > /dev/null`, median of RUNS:
//!   libnfs-utils 4.0's `nfs-cp` opens its destination with `O_EXCL`, so it cannot write to
//!   /dev/null; both tools read with 1 MiB `nfs_pread` calls), and
//! - the time to walk and stat a debootstrap minbase tree of Debian bookworm (`nfs-ls -R`:
//!   libnfs lists each directory with READDIRPLUS, which returns every entry's attributes,
//!   and prints mode, nlink, owner, group and size of each; no separate GETATTR per entry).
//!
//! raftboot: the real `bootd` (one boot server, so no replication traffic competes) in its
//! own network namespace, both trees imported with the real `bootctl image import`; NFS,
//! MOUNT and the portmapper on their normal ports (2049, 111). nfs-ganesha 4.3 (VFS FSAL,
//! NFSv3, read-only exports of the same two directories) with its own rpcbind in a second
//! network namespace ([`chaos_tests::ganesha`]). Clients run in the server's namespace and
//! connect to 127.0.0.1. Each server (every thread) is pinned to one CPU and every client
//! to another (`taskset`), the same for both, and all run at nice -10 (the machine is
//! shared with builds). Runs alternate between the servers so
//! background load hits both alike; each figure is preceded by a checked warm-up (the
//! copied bytes match the file's digest, the walk lists every entry of the tree).
//!
//! The minbase tree is `RAFTBOOT_MINBASE` when that holds one, else built with
//! `debootstrap --variant=minbase bookworm`. Needs root, libnfs-utils, util-linux; installs
//! nfs-ganesha, nfs-ganesha-vfs and rpcbind with apt-get when missing.
//!
//! Run: `cargo build --release -p raftboot --bins && cargo build --release -p chaos-tests
//! --bin nfs-bench && target/release/nfs-bench [RUNS] [--cpus SERVER,CLIENT] [--hold]`
//! (`--hold`: set both servers up, print how to reach them, and wait for Enter: for
//! profiling).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chaos_tests::cluster::{Cluster, Spec};
use chaos_tests::ganesha::{self, Ganesha};
use rand::{RngCore, SeedableRng};

const FILE_MIB: usize = 256;
const SEED: u64 = 7;
/// Nice level of both servers and the clients: the machine is shared with builds, and a
/// higher priority (the same for both sides) keeps their wake-ups from queueing behind them.
const NICE: i32 = -10;

/// One server under test, as the client sees it.
struct Target {
    name: &'static str,
    /// The network namespace the client runs in.
    netns: String,
    /// The 256 MiB file.
    file_url: String,
    /// The minbase tree.
    tree_url: String,
}

impl Target {
    /// `program` pinned to `cpu` at [`NICE`] in this target's network namespace.
    fn client(&self, cpu: usize, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.netns));
        c.args(["nice", "-n", &NICE.to_string()]);
        c.args(["taskset", "-c", &cpu.to_string(), program]);
        c
    }

    /// Read the whole file with `nfs-cat` (1 MiB reads); seconds, and the bytes when
    /// `keep` (else they go to /dev/null).
    fn read(&self, cpu: usize, keep: bool) -> anyhow::Result<(f64, Vec<u8>)> {
        let mut c = self.client(cpu, "nfs-cat");
        c.arg(&self.file_url);
        if !keep {
            c.stdout(std::fs::File::create("/dev/null")?);
        }
        let t = Instant::now();
        let o = c
            .output()
            .context("nfs-cat (apt-get install libnfs-utils)")?;
        let secs = t.elapsed().as_secs_f64();
        if !o.status.success() {
            bail!(
                "{}: nfs-cat failed: {}",
                self.name,
                String::from_utf8_lossy(&o.stderr)
            );
        }
        Ok((secs, o.stdout))
    }

    /// `nfs-ls -R` of the tree; seconds and the number of entries listed.
    fn walk(&self, cpu: usize) -> anyhow::Result<(f64, usize)> {
        let t = Instant::now();
        let o = self
            .client(cpu, "nfs-ls")
            .arg("-R")
            .arg(&self.tree_url)
            .output()
            .context("nfs-ls")?;
        let secs = t.elapsed().as_secs_f64();
        if !o.status.success() {
            bail!(
                "{}: nfs-ls -R failed: {}",
                self.name,
                String::from_utf8_lossy(&o.stderr)
            );
        }
        Ok((
            secs,
            o.stdout
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count(),
        ))
    }
}

struct Args {
    runs: usize,
    /// Keep both servers up (for profiling) until Enter is pressed, instead of measuring.
    hold: bool,
    server_cpu: usize,
    client_cpu: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        runs: 5,
        hold: false,
        server_cpu: 1,
        client_cpu: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        if arg == "--hold" {
            a.hold = true;
        } else if arg == "--cpus" {
            let v = it.next().context("--cpus SERVER,CLIENT")?;
            let (s, c) = v.split_once(',').context("--cpus SERVER,CLIENT")?;
            a.server_cpu = s.parse().context("server CPU")?;
            a.client_cpu = c.parse().context("client CPU")?;
        } else {
            a.runs = arg
                .parse()
                .context("usage: nfs-bench [RUNS] [--cpus S,C] [--hold]")?;
        }
    }
    anyhow::ensure!(a.runs > 0, "RUNS must be at least 1");
    Ok(a)
}

/// The minbase tree: `RAFTBOOT_MINBASE` if it holds one, else debootstrap into `dir`.
fn minbase(dir: &Path) -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("RAFTBOOT_MINBASE") {
        let p = PathBuf::from(p);
        if p.join("etc/debian_version").exists() {
            return Ok(p);
        }
    }
    let root = dir.join("minbase");
    eprintln!(
        "building a bookworm minbase tree with debootstrap (set RAFTBOOT_MINBASE to reuse one)"
    );
    let st = Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(&root)
        .stdout(Stdio::null())
        .status()
        .context("debootstrap (apt-get install debootstrap)")?;
    anyhow::ensure!(st.success(), "debootstrap failed");
    Ok(root)
}

/// Entries under `root` (not `root` itself).
fn count_entries(root: &Path) -> anyhow::Result<usize> {
    let mut n = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            n += 1;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            }
        }
    }
    Ok(n)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// "min-max" with `digits` decimals.
fn spread(v: &[f64], digits: usize) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(0.0, f64::max);
    format!("{min:.digits$}-{max:.digits$}")
}

fn version(pkg: &str) -> String {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", pkg])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default()
}

/// Import `dir` into the cluster as image `name`.
fn import(c: &Cluster, dir: &Path, name: &str) -> anyhow::Result<()> {
    let path = dir.to_str().context("non-UTF-8 path")?;
    let out = c.bootctl(&["image", "import", path, "--name", name, "--quiet"])?;
    anyhow::ensure!(
        out.status.success(),
        "bootctl image import {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    anyhow::ensure!(
        nix::unistd::Uid::effective().is_root(),
        "nfs-bench needs root (network namespaces, ganesha)"
    );
    ganesha::ensure_installed()?;
    let tmp = tempfile::Builder::new().prefix("nfs-bench-").tempdir()?;
    let root = minbase(tmp.path())?;
    let entries = count_entries(&root)?;
    let big = tmp.path().join("big");
    std::fs::create_dir(&big)?;
    let mut data = vec![0u8; FILE_MIB << 20];
    rand::rngs::StdRng::seed_from_u64(SEED).fill_bytes(&mut data);
    std::fs::write(big.join("bench.bin"), &data)?;
    let want = blake3::hash(&data);
    drop(data);

    // raftboot: one real bootd in its own namespace, the two trees imported.
    let spec = Spec {
        nodes: 1,
        on_lan: true,
        heartbeat_ms: 100,
        election_min_ms: 1000,
        election_max_ms: 2000,
        ..Spec::default()
    };
    let cluster = Cluster::start(&spec)?;
    cluster.wait_leader(Duration::from_secs(30))?;
    import(&cluster, &root, "minbase")?;
    import(&cluster, &big, "big")?;
    cluster.wait_images_ready("both images ready", 2, 1, Duration::from_secs(120))?;
    let pid = cluster.pid(1).context("bootd is not running")?;
    let st = Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &args.server_cpu.to_string(),
            &pid.to_string(),
        ])
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(st.success(), "taskset -a -p bootd");
    // renice works per thread; threads started later inherit it from their creator.
    let tids: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .collect();
    let st = Command::new("renice")
        .args(["-n", &NICE.to_string(), "-p"])
        .args(&tids)
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(st.success(), "renice bootd");
    let rb_ns = cluster.nodes[&1]
        .ns
        .as_ref()
        .map(|(ns, _)| ns.clone())
        .context("node without a namespace")?;

    // nfs-ganesha, same two directories.
    let gdir = tmp.path().join("ganesha");
    std::fs::create_dir(&gdir)?;
    let g = Ganesha::start(&gdir, &[&root, &big], args.server_cpu, NICE)?;

    let targets = [
        Target {
            name: "raftboot",
            netns: rb_ns,
            file_url: "nfs://127.0.0.1/images/big/bench.bin?version=3".into(),
            tree_url: "nfs://127.0.0.1/images/minbase?version=3".into(),
        },
        Target {
            name: "nfs-ganesha",
            netns: g.netns().to_string(),
            file_url: format!("nfs://127.0.0.1{}/bench.bin?version=3", big.display()),
            tree_url: format!("nfs://127.0.0.1{}?version=3", root.display()),
        },
    ];

    // Checked warm-ups: the right bytes and every entry, from both.
    for t in &targets {
        let (_, got) = t.read(args.client_cpu, true)?;
        anyhow::ensure!(
            blake3::hash(&got) == want,
            "{}: copied file differs ({} bytes)",
            t.name,
            got.len()
        );
        let (_, listed) = t.walk(args.client_cpu)?;
        anyhow::ensure!(
            listed == entries,
            "{}: nfs-ls -R listed {listed} entries, the tree has {entries}",
            t.name
        );
    }

    if args.hold {
        for t in &targets {
            println!(
                "{}: bootd/ganesha pid {:?}; try: nsenter --net=/run/netns/{} nfs-cat '{}' >/dev/null",
                t.name,
                if t.name == "raftboot" { Some(pid) } else { g.pid() },
                t.netns,
                t.file_url
            );
        }
        println!("both servers are up; press Enter to stop them");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        return Ok(());
    }

    let mut mib_s = [Vec::new(), Vec::new()];
    let mut walk_s = [Vec::new(), Vec::new()];
    for _ in 0..args.runs {
        for (i, t) in targets.iter().enumerate() {
            mib_s[i].push(FILE_MIB as f64 / t.read(args.client_cpu, false)?.0);
        }
        for (i, t) in targets.iter().enumerate() {
            walk_s[i].push(t.walk(args.client_cpu)?.0);
        }
    }

    println!(
        "# nfs-bench: {} runs each, alternating; servers pinned to CPU {}, clients to CPU {} (taskset), all at nice {NICE}",
        args.runs, args.server_cpu, args.client_cpu
    );
    println!(
        "# client libnfs-utils {} (nfs-cat, nfs-ls -R); peer nfs-ganesha {} (VFS FSAL, NFSv3, RO); bootd {} pid {pid}",
        version("libnfs-utils"),
        version("nfs-ganesha"),
        chaos_tests::bin("bootd")?.display()
    );
    println!("# read: one {FILE_MIB} MiB file to /dev/null; walk: minbase tree, {entries} entries (READDIRPLUS attributes)");
    println!("| server | read MiB/s (median) | read min-max | walk s (median) | walk min-max |");
    println!("| --- | --- | --- | --- | --- |");
    let mut med = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let r = median(&mut mib_s[i]);
        let w = median(&mut walk_s[i]);
        println!(
            "| {} | {r:.1} | {} | {w:.3} | {} |",
            t.name,
            spread(&mib_s[i], 1),
            spread(&walk_s[i], 3)
        );
        med.push((r, w));
    }
    println!();
    println!(
        "raftboot / nfs-ganesha: read throughput {:.2}x, walk time {:.2}x (below 1 = raftboot faster)",
        med[0].0 / med[1].0,
        med[0].1 / med[1].1
    );
    drop(g);
    drop(cluster);
    Ok(())
}
