//! TFTP transfer takeover on loopback with a real client: server A reports its transfer
//! records; A is stopped mid-file (its transfer socket closed, like a dead node); server
//! B re-binds A's transfer port and resumes from the record; the unmodified
//! clients (tftp-hpa lock-step, atftp with windowsize 4; both only re-send their last
//! ACK) receive a byte-identical file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod boot_fixture;

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use boot_fixture::Server;
use raftboot::tftp::{TftpOptions, TftpService, TransferObserver, TransferRecord};
use tokio_util::sync::CancellationToken;

/// Hands the first progress report to the test and holds the transfer thread until the
/// test released it (so the transfer is stopped mid-file, at a known block).
struct Freezer {
    first: Mutex<Option<mpsc::Sender<TransferRecord>>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl TransferObserver for Freezer {
    fn started(&self, _: &TransferRecord) {}
    fn progress(&self, r: &TransferRecord) {
        let tx = self.first.lock().unwrap().take();
        if let Some(tx) = tx {
            tx.send(r.clone()).unwrap();
            let _ = self
                .release
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30));
        }
    }
    fn ended(&self, _: &TransferRecord) {}
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn tftp_hpa_client_completes_after_takeover() {
    takeover_with(512, false, |port, out| {
        let mut c = Command::new("tftp");
        c.args(["-m", "binary", "127.0.0.1", &port.to_string(), "-c", "get"])
            .arg("images/deb/vmlinuz")
            .arg(out);
        c
    });
}

/// atftp with the options EDK2 firmware asks for (windowsize 4) plus a pxelinux-like
/// block size: a windowed transfer resumes too.
#[test]
fn atftp_windowed_client_completes_after_takeover() {
    takeover_with(1408, true, |port, out| {
        let mut c = Command::new("atftp");
        c.args(["--option", "windowsize 4", "--option", "blksize 1408"])
            .args(["-g", "-r", "images/deb/vmlinuz", "-l"])
            .arg(out)
            .args(["127.0.0.1", &port.to_string()]);
        c
    });
}

/// Start a transfer with the client `client(port, out)` builds, stop server A after the
/// client acknowledged block 100, resume on server B, check the file.
///
/// `windowed`: the client acknowledges a window A sent before it was frozen; that ACK must
/// reach A's socket before A closes it, else it hits a closed port on loopback and the
/// kernel's "port unreachable" makes atftp abort (on a LAN the dead node sends none).
fn takeover_with(blksize: u64, windowed: bool, client: impl Fn(u16, &std::path::Path) -> Command) {
    let s = Server::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (rec_tx, rec_rx) = mpsc::channel();
    let (rel_tx, rel_rx) = mpsc::channel();
    let freezer = Arc::new(Freezer {
        first: Mutex::new(Some(rec_tx)),
        release: Mutex::new(rel_rx),
    });
    let a = TftpService::new(s.files.clone())
        .with_options(TftpOptions {
            progress_every: 100,
            ..TftpOptions::default()
        })
        .with_observer(freezer);
    let a_handle = a.clone();
    let a_sock = TftpService::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let a_port = a_sock.local_addr().unwrap().port();
    let a_stop = CancellationToken::new();
    let a_task = {
        let stop = a_stop.clone();
        std::thread::spawn(move || rt.block_on(a.serve_socket(a_sock, stop)))
    };

    let out = s.out("kernel.taken-over");
    let mut client = client(a_port, &out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the client (tftp-hpa / atftp) is needed");

    let record = rec_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the transfer reported progress");
    assert_eq!(record.acked, 100, "{record:?}");
    assert_eq!(u64::from(record.blksize), blksize, "{record:?}");
    assert!(record.size > 100 * blksize, "{record:?}");
    if windowed {
        wait_until(
            "the client's ACK of the last window to reach A",
            Duration::from_secs(10),
            || udp_rx_queue(record.server_port) > 0,
        );
    }
    // "Kill" A: stop it while the transfer is held, then let the thread see the stop.
    a_stop.cancel();
    rel_tx.send(()).unwrap();
    wait_until("A's transfer to stop", Duration::from_secs(10), || {
        a_handle.active_transfers() == 0
    });
    a_task.join().unwrap().unwrap();

    // B: another server over the same content takes the transfer port over.
    let b = TftpService::new(s.files.clone());
    let b_stop = CancellationToken::new();
    let port_sock = UdpSocket::bind(("127.0.0.1", record.server_port)).unwrap();
    b.resume(record, port_sock, b_stop.clone()).unwrap();

    let start = Instant::now();
    let status = loop {
        if let Some(st) = client.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = client.kill();
            panic!("the client did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let o = client.wait_with_output().unwrap();
    let got = std::fs::read(&out).unwrap_or_default();
    assert!(
        status.success() && got == s.kernel,
        "{} of {} bytes; {}{}",
        got.len(),
        s.kernel.len(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    wait_until("B's transfer to end", Duration::from_secs(10), || {
        b.active_transfers() == 0
    });
    let st = b.stats().snapshot();
    assert_eq!((st.resumed, st.completed), (1, 1), "{st:?}");
    assert_eq!(st.bytes, s.kernel.len() as u64 - 100 * blksize, "{st:?}");
    b_stop.cancel();
}

/// Bytes queued for reading on the loopback UDP socket bound to `port` (`/proc/net/udp`).
fn udp_rx_queue(port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let local_port = cols.get(1)?.rsplit(':').next()?;
            if u16::from_str_radix(local_port, 16).ok()? != port {
                return None;
            }
            let rx = cols.get(4)?.rsplit(':').next()?;
            u64::from_str_radix(rx, 16).ok()
        })
        .sum()
}
