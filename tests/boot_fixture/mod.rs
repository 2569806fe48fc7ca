//! A boot-file server on loopback for the real-client tests: a blob store with a loader
//! image (Debian's pxelinux.0 / ldlinux.c32 when installed, else synthetic) and a
//! Debian-like kernel image (3 MiB random `vmlinuz-*`, an initrd, root symlinks), a
//! replicated state with one host, and TFTP + HTTP boot services on their own runtime.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use raftboot::bootcfg::{BootContext, Stage};
use raftboot::bootfiles::{BootFiles, BootKey, ServeStats, StatsSnapshot};
use raftboot::cas::{import_dir, BlobStore, Digest, Manifest};
use raftboot::httpboot::{http_router, serve_http};
use raftboot::tftp::TftpService;
use raftboot_raft::state::{Group, Host, Image};
use raftboot_raft::{Mac, SharedState, State};
use rand::{RngCore, SeedableRng};
use tokio_util::sync::CancellationToken;

pub const WEB1: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
pub const KERNEL_LEN: usize = 3 * 1024 * 1024;

pub struct Server {
    pub dir: tempfile::TempDir,
    pub store: Arc<BlobStore>,
    pub files: Arc<BootFiles>,
    pub tftp: SocketAddr,
    pub http: SocketAddr,
    pub tftp_stats: Arc<ServeStats>,
    /// A handle on the running TFTP service (shares its counters).
    pub tftp_service: TftpService,
    pub http_stats: Arc<ServeStats>,
    pub kernel: Vec<u8>,
    pub initrd: Vec<u8>,
    pub config_blob: Vec<u8>,
    pub pxelinux: Vec<u8>,
    pub ldlinux: Vec<u8>,
    cancel: CancellationToken,
    rt: Option<tokio::runtime::Runtime>,
}

fn random(n: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn import(store: &BlobStore, root: &Path) -> Manifest {
    let m = import_dir(root, store, &|_| {}).unwrap();
    let d = store.put(&m.to_bytes().unwrap()).unwrap();
    assert_eq!(d, m.digest());
    m
}

fn image(name: &str, m: &Manifest, seq: u64) -> Image {
    Image {
        name: name.into(),
        manifest: m.digest().to_hex(),
        seq,
        size: m.total_file_bytes(),
        created_ms: 0,
    }
}

/// A real Debian file when installed, else `fallback`.
fn debian_or(path: &str, fallback: Vec<u8>) -> Vec<u8> {
    std::fs::read(path).unwrap_or(fallback)
}

impl Server {
    pub fn start() -> Server {
        Server::start_for(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// Like [`start`](Self::start), with generated configs naming `server` as the boot
    /// server (e.g. 10.0.2.2, the host as a QEMU user-mode guest sees it).
    pub fn start_for(server: IpAddr) -> Server {
        let dir = tempfile::tempdir().unwrap();
        // Sized like bootd's store, so boot-file reads take the cached serving path.
        let mut store = BlobStore::open(&dir.path().join("cas")).unwrap();
        store.set_chunk_cache(raftboot::cas::SERVE_CACHE_BYTES);
        let store = Arc::new(store);

        let loaders = dir.path().join("src-loaders");
        let pxelinux = debian_or("/usr/lib/PXELINUX/pxelinux.0", random(46_000, 1));
        let ldlinux = debian_or(
            "/usr/lib/syslinux/modules/bios/ldlinux.c32",
            random(120_000, 2),
        );
        write(&loaders, "pxelinux.0", &pxelinux);
        write(&loaders, "ldlinux.c32", &ldlinux);
        let loader_m = import(&store, &loaders);

        let root = dir.path().join("src-deb");
        let kernel = random(KERNEL_LEN, 3);
        let initrd = random(700 * 1024 + 17, 4);
        let config_blob = random(300 * 1024, 5);
        write(&root, "boot/vmlinuz-6.1.0-test-amd64", &kernel);
        write(&root, "boot/initrd.img-6.1.0-test-amd64", &initrd);
        write(&root, "boot/config-6.1.0-test-amd64", &config_blob);
        std::os::unix::fs::symlink("boot/vmlinuz-6.1.0-test-amd64", root.join("vmlinuz")).unwrap();
        std::os::unix::fs::symlink("boot/initrd.img-6.1.0-test-amd64", root.join("initrd.img"))
            .unwrap();
        let deb_m = import(&store, &root);

        let mut st = State::default();
        st.images
            .insert("bootloaders".into(), image("bootloaders", &loader_m, 1));
        st.images.insert("deb".into(), image("deb", &deb_m, 2));
        st.groups.insert(
            "web".into(),
            Group {
                name: "web".into(),
                kernel_args: "console=ttyS0".into(),
                boot_file: None,
                active_image: Some("deb".into()),
                history: vec![],
            },
        );
        st.hosts.insert(
            WEB1,
            Host {
                mac: WEB1,
                name: "web1".into(),
                group: "web".into(),
                ip: Some(Ipv4Addr::new(10, 0, 0, 21)),
                boot_file: None,
                kernel_args: None,
            },
        );
        st.reindex();

        let udp = TftpService::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let tftp = udp.local_addr().unwrap();
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        tcp.set_nonblocking(true).unwrap();
        let http = tcp.local_addr().unwrap();
        let ctx = BootContext {
            server,
            tftp_port: tftp.port(),
            http_port: http.port(),
            loader_image: "bootloaders".into(),
        };
        let files = Arc::new(BootFiles::new(
            ctx,
            SharedState::from_state(st),
            store.clone(),
        ));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let cancel = CancellationToken::new();
        let service = TftpService::new(files.clone());
        let tftp_stats = service.stats();
        let tftp_service = service.clone();
        rt.spawn(service.serve_socket(udp, cancel.clone()));
        let http_stats = Arc::new(ServeStats::default());
        let router = http_router(files.clone(), http_stats.clone());
        let c = cancel.clone();
        rt.spawn(async move {
            let l = tokio::net::TcpListener::from_std(tcp).unwrap();
            serve_http(l, router, c).await
        });
        Server {
            dir,
            store,
            files,
            tftp,
            http,
            tftp_stats,
            tftp_service,
            http_stats,
            kernel,
            initrd,
            config_blob,
            pxelinux,
            ldlinux,
            cancel,
            rt: Some(rt),
        }
    }

    /// A fresh output path in the test's directory.
    pub fn out(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The TFTP counters once no transfer is running (a transfer thread counts its end
    /// after the client already has the last block); bounded wait of 10 s.
    pub fn tftp_settled(&self) -> StatsSnapshot {
        for _ in 0..1000 {
            if self.tftp_service.active_transfers() == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        self.tftp_stats.snapshot()
    }

    pub fn stages_of(&self, key: BootKey) -> Vec<Stage> {
        self.files
            .tracker()
            .get(&key)
            .map(|r| r.stages.keys().copied().collect())
            .unwrap_or_default()
    }

    pub fn digest_of(data: &[u8]) -> Digest {
        Digest::of(data)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}

/// Run a client binary; panics with an install hint when it is missing.
pub fn run(bin: &str, args: &[&str]) -> Output {
    match Command::new(bin).args(args).output() {
        Ok(o) => o,
        Err(e) => panic!(
            "cannot run {bin} ({e}): install the Debian packages listed in scripts/test-all.sh"
        ),
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
