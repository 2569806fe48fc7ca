//! Benchmark (not a test): TFTP read throughput of raftboot (own transfer engine + verified CAS
//! reads) against tftpd-hpa and atftpd, one 64 MiB file, the same client (atftp) for every
//! run, client and servers pinned to one CPU, all in one run; prints MiB/s (median of the
//! runs) and the ratios raftboot / peer.
//!
//! The runs are interleaved: each round downloads once from every case in turn, so a burst
//! of load from elsewhere on the machine falls on all servers alike rather than on
//! whichever case happened to be running. Besides the ratio of the medians, each
//! comparison prints the ratio within every round (raftboot and the peer measured seconds
//! apart) and how many rounds raftboot was ahead.
//!
//! Peers come from `/usr/sbin` when installed, else are unpacked from their Debian
//! packages (`apt-get download` + `dpkg-deb -x`) into a temp dir (the two packages
//! conflict, so at most one can be installed). Needs root (the peers drop to `nobody`),
//! `atftp` and `taskset`.
//!
//! raftboot's store has bootd's default chunk cache (verified 64 KiB chunks kept in memory,
//! so after the warm-up download the file is served from memory, as tftpd-hpa and atftpd
//! serve it from the page cache); `--cache-mib 0` turns it off, and every read then comes
//! from disk and is verified again.
//!
//! Run: `cargo build --release -p chaos-tests --bin tftp-bench && target/release/tftp-bench [RUNS] [--cache-mib N] [--lock-step]`

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use raftboot::bootcfg::BootContext;
use raftboot::bootfiles::BootFiles;
use raftboot::cas::{import_dir, BlobStore, Digest};
use raftboot::tftp::TftpService;
use raftboot_raft::state::Image;
use raftboot_raft::{SharedState, State};
use rand::{RngCore, SeedableRng};
use tokio_util::sync::CancellationToken;

const FILE_MIB: usize = 64;
const CPU: usize = 0;

/// A peer server process, killed (by PID) when dropped.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_udp_port() -> anyhow::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `/usr/sbin/<bin>`, else unpack `pkg` into `dir/<pkg>` and use the copy there (each
/// package in its own tree: atftpd also ships an `in.tftpd` link to itself).
fn peer_binary(bin: &str, pkg: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let installed = Path::new("/usr/sbin").join(bin);
    // A link to another server (atftpd's `in.tftpd`) does not count.
    let real = std::fs::canonicalize(&installed).ok();
    if real.is_some_and(|r| r.file_name() == Some(std::ffi::OsStr::new(bin))) {
        return Ok(installed);
    }
    let st = Command::new("apt-get")
        .args(["download", pkg])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("apt-get download")?;
    if !st.success() {
        bail!("apt-get download {pkg} failed (run apt-get update?)");
    }
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let is_deb = p.extension().is_some_and(|x| x == "deb");
        if is_deb
            && p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(pkg))
        {
            let st = Command::new("dpkg-deb")
                .arg("-x")
                .arg(&p)
                .arg(dir.join(pkg))
                .status()?;
            if !st.success() {
                bail!("dpkg-deb -x {} failed", p.display());
            }
        }
    }
    let unpacked = dir.join(pkg).join("usr/sbin").join(bin);
    if !unpacked.exists() {
        bail!("{bin} not found in package {pkg}");
    }
    Ok(unpacked)
}

fn pinned(program: &Path) -> Command {
    let mut c = Command::new("taskset");
    c.args(["-c", &CPU.to_string()]).arg(program);
    c
}

/// One download with atftp; returns seconds, after checking the bytes.
fn fetch(port: u16, remote: &str, opts: &[&str], out: &Path, want: &Digest) -> anyhow::Result<f64> {
    let _ = std::fs::remove_file(out);
    let mut c = pinned(Path::new("atftp"));
    for o in opts {
        c.args(["--option", o]);
    }
    c.args(["-g", "-r", remote, "-l"]).arg(out);
    c.args(["127.0.0.1", &port.to_string()]);
    let t = Instant::now();
    let o = c
        .output()
        .context("running atftp (install the atftp package)")?;
    let secs = t.elapsed().as_secs_f64();
    let got = std::fs::read(out).unwrap_or_default();
    if Digest::of(&got) != *want {
        bail!(
            "port {port} {opts:?}: wrong bytes ({} bytes)\n{}",
            got.len(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(secs)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs: usize = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    // raftboot's chunk cache, as `chunk_cache_mib` in bootd's config (default as bootd's);
    // `--cache-mib 0` makes every read go to disk and re-verify.
    let cache_mib: usize = match args.iter().position(|a| a == "--cache-mib") {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .context("--cache-mib takes a number of MiB")?,
        None => raftboot::cas::SERVE_CACHE_BYTES >> 20,
    };
    let mut set = nix::sched::CpuSet::new();
    set.set(CPU)?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)?;

    let tmp = tempfile::tempdir()?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    let root = tmp.path().join("root");
    std::fs::create_dir(&root)?;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))?;
    let mut data = vec![0u8; FILE_MIB << 20];
    rand::rngs::StdRng::seed_from_u64(7).fill_bytes(&mut data);
    std::fs::write(root.join("bench.bin"), &data)?;
    std::fs::set_permissions(
        root.join("bench.bin"),
        std::fs::Permissions::from_mode(0o644),
    )?;
    let want = Digest::of(&data);
    drop(data);

    // raftboot, in this process: the file is the loader image's `bench.bin`.
    let mut store = BlobStore::open(&tmp.path().join("cas"))?;
    store.set_chunk_cache(cache_mib << 20);
    let store = Arc::new(store);
    let m = import_dir(&root, &store, &|_| {})?;
    store.put(&m.to_bytes()?)?;
    let mut st = State::default();
    st.images.insert(
        "bench".into(),
        Image {
            name: "bench".into(),
            manifest: m.digest().to_hex(),
            seq: 1,
            size: m.total_file_bytes(),
            created_ms: 0,
        },
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let socket = TftpService::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))?;
    let rb_port = socket.local_addr()?.port();
    let ctx = BootContext {
        server: IpAddr::V4(Ipv4Addr::LOCALHOST),
        tftp_port: rb_port,
        http_port: 0,
        loader_image: "bench".into(),
    };
    let files = Arc::new(BootFiles::new(ctx, SharedState::from_state(st), store));
    let cancel = CancellationToken::new();
    rt.spawn(TftpService::new(files).serve_socket(socket, cancel.clone()));

    // The peers.
    let peers_dir = tmp.path().join("peers");
    std::fs::create_dir(&peers_dir)?;
    let hpa_bin = peer_binary("in.tftpd", "tftpd-hpa", &peers_dir)?;
    let atftpd_bin = peer_binary("atftpd", "atftpd", &peers_dir)?;
    let hpa_port = free_udp_port()?;
    let hpa = Peer(
        pinned(&hpa_bin)
            .args(["--foreground", "--listen", "--user", "nobody", "--secure"])
            .arg("--address")
            .arg(format!("127.0.0.1:{hpa_port}"))
            .arg(&root)
            .spawn()
            .context("starting in.tftpd")?,
    );
    let at_port = free_udp_port()?;
    let atftpd = Peer(
        pinned(&atftpd_bin)
            .args([
                "--daemon",
                "--no-fork",
                "--no-multicast",
                "--logfile",
                "/dev/null",
            ])
            .args([
                "--user",
                "nobody",
                "--group",
                "nogroup",
                "--bind-address",
                "127.0.0.1",
            ])
            .args(["--port", &at_port.to_string()])
            .arg(&root)
            .stderr(Stdio::null())
            .spawn()
            .context("starting atftpd")?,
    );
    std::thread::sleep(Duration::from_millis(500));

    let out = tmp.path().join("out.bin");
    let lock = ["blksize 1468"];
    let win = ["windowsize 16", "blksize 1468"];
    let win512 = ["windowsize 16"];
    let all: [(&str, u16, &[&str]); 7] = [
        ("tftpd-hpa", hpa_port, &lock),
        ("atftpd", at_port, &lock),
        ("raftboot", rb_port, &lock),
        ("atftpd", at_port, &win),
        ("raftboot", rb_port, &win),
        ("atftpd", at_port, &win512),
        ("raftboot", rb_port, &win512),
    ];
    // `--lock-step` keeps only the lock-step cases (the closest comparison, and the
    // quickest to repeat many times).
    let cases: Vec<(&str, u16, &[&str])> = all
        .into_iter()
        .filter(|c| !args.iter().any(|a| a == "--lock-step") || c.2 == lock)
        .collect();
    println!(
        "# {FILE_MIB} MiB file, client atftp, everything on CPU {CPU}, {runs} interleaved rounds, \
         raftboot chunk cache {cache_mib} MiB"
    );
    // One warm-up download per case, then `runs` rounds of one download per case.
    for (_, port, opts) in &cases {
        fetch(*port, "/bench.bin", opts, &out, &want)?;
    }
    let mut mib_s: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..runs {
        for (i, (_, port, opts)) in cases.iter().enumerate() {
            mib_s[i].push(FILE_MIB as f64 / fetch(*port, "/bench.bin", opts, &out, &want)?);
        }
    }
    println!("| server | client options | MiB/s (median) | min | max |");
    println!("| --- | --- | --- | --- | --- |");
    for ((name, _, opts), v) in cases.iter().zip(&mib_s) {
        let (lo, hi) = v.iter().fold((f64::INFINITY, 0f64), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        });
        println!(
            "| {name} | {} | {:.1} | {lo:.1} | {hi:.1} |",
            opts.join(", "),
            median(v)
        );
    }
    let get = |n: &str, o: &str| {
        cases
            .iter()
            .position(|c| c.0 == n && c.2.join(", ") == o)
            .map(|i| &mib_s[i])
    };
    println!();
    for (peer, o) in [
        ("tftpd-hpa", lock.join(", ")),
        ("atftpd", lock.join(", ")),
        ("atftpd", win.join(", ")),
        ("atftpd", win512.join(", ")),
    ] {
        if let (Some(a), Some(b)) = (get("raftboot", &o), get(peer, &o)) {
            let per_round: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
            let ahead = per_round.iter().filter(|r| **r >= 1.0).count();
            let shown: Vec<String> = per_round.iter().map(|r| format!("{r:.2}")).collect();
            println!(
                "raftboot / {peer} ({o}): {:.2} (per round: {}; ahead in {ahead} of {})",
                median(a) / median(b),
                shown.join(" "),
                per_round.len()
            );
        }
    }
    cancel.cancel();
    drop((hpa, atftpd));
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}
