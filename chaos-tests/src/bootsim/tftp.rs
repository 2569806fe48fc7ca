//! The simulated firmware's TFTP client (RFC 1350 + RFC 2347/2348/2349 options): one read
//! request, lock-step, re-sending its last packet on timeout the way PXE firmware does, and
//! following the server's transfer port (the TID) after the first reply.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

const RRQ: u16 = 1;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;

/// How the client behaves.
#[derive(Debug, Clone, Copy)]
pub struct TftpOptions {
    /// Requested block size (`None`: RFC 1350's 512 without options).
    pub blksize: Option<u16>,
    /// Wait per packet before re-sending.
    pub timeout: Duration,
    /// Re-sends of one packet before giving up.
    pub retries: u32,
}

impl Default for TftpOptions {
    /// Like pxelinux: `tsize` and `blksize 1408`.
    fn default() -> Self {
        TftpOptions {
            blksize: Some(1408),
            timeout: Duration::from_secs(1),
            retries: 6,
        }
    }
}

/// A finished transfer.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub data: Vec<u8>,
    /// The size the server announced (`tsize`), if it did.
    pub tsize: Option<u64>,
    /// Packets re-sent after a timeout.
    pub resent: u32,
}

fn rrq(path: &str, o: &TftpOptions) -> Vec<u8> {
    let mut p = RRQ.to_be_bytes().to_vec();
    for s in [path, "octet"] {
        p.extend_from_slice(s.as_bytes());
        p.push(0);
    }
    if let Some(b) = o.blksize {
        for s in ["tsize", "0", "blksize", &b.to_string()] {
            p.extend_from_slice(s.as_bytes());
            p.push(0);
        }
    }
    p
}

fn ack(block: u16) -> Vec<u8> {
    let mut p = ACK.to_be_bytes().to_vec();
    p.extend_from_slice(&block.to_be_bytes());
    p
}

/// Parse an OACK's `name\0value\0` pairs.
fn oack_options(body: &[u8]) -> Vec<(String, String)> {
    let parts: Vec<String> = body
        .split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    parts
        .chunks(2)
        .filter_map(|c| match c {
            [k, v] if !k.is_empty() => Some((k.clone(), v.clone())),
            _ => None,
        })
        .collect()
}

/// Read `path` from `server` (its request port).
pub fn fetch(server: SocketAddr, path: &str, o: &TftpOptions) -> anyhow::Result<Fetched> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let sock = UdpSocket::bind(bind).context("binding a TFTP client socket")?;
    let mut peer: Option<SocketAddr> = None;
    let mut last = rrq(path, o);
    let mut last_to = server;
    let mut blksize = 512usize;
    let mut expect: u16 = 1;
    let mut data = Vec::new();
    let mut tsize = None;
    let mut resent = 0;
    let mut tries = 0;
    let mut buf = vec![0u8; 65536 + 4];
    sock.send_to(&last, last_to)?;
    loop {
        let deadline = Instant::now() + o.timeout;
        let got = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break None;
            }
            sock.set_read_timeout(Some(left))?;
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if peer.is_some_and(|p| p != from) || from.ip() != server.ip() {
                        continue; // not our transfer
                    }
                    break Some((n, from));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break None
                }
                Err(e) => return Err(e).context("receiving TFTP data"),
            }
        };
        let Some((n, from)) = got else {
            tries += 1;
            if tries > o.retries {
                bail!(
                    "TFTP {path} from {server}: no answer after {} re-sends (at block {expect})",
                    o.retries
                );
            }
            resent += 1;
            sock.send_to(&last, last_to)?;
            continue;
        };
        let pkt = &buf[..n];
        if pkt.len() < 4 {
            continue;
        }
        let op = u16::from_be_bytes([pkt[0], pkt[1]]);
        match op {
            ERROR => {
                let msg = String::from_utf8_lossy(&pkt[4..])
                    .trim_end_matches('\0')
                    .to_string();
                bail!(
                    "TFTP {path}: server error {}: {msg}",
                    u16::from_be_bytes([pkt[2], pkt[3]])
                );
            }
            OACK if peer.is_none() => {
                peer = Some(from);
                for (k, v) in oack_options(&pkt[2..]) {
                    match k.as_str() {
                        "blksize" => blksize = v.parse().unwrap_or(512),
                        "tsize" => tsize = v.parse().ok(),
                        _ => {}
                    }
                }
                tries = 0;
                last = ack(0);
                last_to = from;
                sock.send_to(&last, last_to)?;
            }
            DATA => {
                if peer.is_none() {
                    peer = Some(from);
                    last_to = from;
                }
                let block = u16::from_be_bytes([pkt[2], pkt[3]]);
                if block != expect {
                    // A duplicate (our ACK was lost or late): ACK what we have again.
                    continue;
                }
                let payload = &pkt[4..];
                data.extend_from_slice(payload);
                tries = 0;
                last = ack(block);
                sock.send_to(&last, last_to)?;
                expect = expect.wrapping_add(1);
                if payload.len() < blksize {
                    if let Some(t) = tsize {
                        if t != data.len() as u64 {
                            bail!("TFTP {path}: tsize {t} but {} bytes arrived", data.len());
                        }
                    }
                    return Ok(Fetched {
                        data,
                        tsize,
                        resent,
                    });
                }
            }
            _ => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_carries_pxelinux_options() {
        let p = rrq("pxelinux.0", &TftpOptions::default());
        assert_eq!(
            p,
            b"\x00\x01pxelinux.0\x00octet\x00tsize\x000\x00blksize\x001408\x00"
        );
        assert_eq!(
            oack_options(b"blksize\x001408\x00tsize\x0042\x00"),
            [
                ("blksize".to_string(), "1408".to_string()),
                ("tsize".to_string(), "42".to_string())
            ]
        );
        assert!(oack_options(b"\x00\x00").is_empty());
    }
}
