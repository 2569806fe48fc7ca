//! Invariant 4: every byte read over TFTP or NFS matches its digest, and an NFS file handle
//! from one replica works on every replica. The first half compares each step a storm
//! client recorded with [`StormImage::expected`]; the second MOUNTs the export on one
//! replica's own address, LOOKUPs a file, and READs that handle on every running replica
//! (from the client namespace), comparing the digest.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::Verdict;
use crate::cluster::Cluster;
use crate::storm::{ClientRecord, StormImage};
use raftboot::nfs::client::NfsClient;
use raftboot::nfs::mount::MOUNT_PROG;
use raftboot::nfs::portmap::NFS_PROG;

pub const NAME: &str = "4-bytes";

/// Every step with an expected digest matches it.
pub fn check_steps(records: &[ClientRecord], image: &StormImage) -> Verdict {
    let mut checked = 0u64;
    let mut bytes = 0u64;
    let mut bad = Vec::new();
    for r in records {
        for s in &r.steps {
            if let Some(want) = image.expected(&s.stage, &s.what) {
                checked += 1;
                bytes += s.bytes;
                if &s.digest != want {
                    bad.push(format!(
                        "{} {} {}: digest {} != {}",
                        r.mac,
                        s.stage,
                        s.what,
                        &s.digest[..s.digest.len().min(12)],
                        &want[..want.len().min(12)]
                    ));
                }
            }
        }
    }
    if bad.is_empty() {
        Verdict::pass(
            NAME,
            format!("{checked} files ({bytes} bytes) matched their digests"),
        )
    } else {
        let n = bad.len();
        bad.truncate(5);
        Verdict::fail(NAME, format!("{n} mismatches: {}", bad.join("; ")))
    }
}

fn nfs(ip: std::net::Ipv4Addr, port: u16) -> anyhow::Result<NfsClient> {
    Ok(NfsClient::connect(
        SocketAddr::new(IpAddr::V4(ip), port),
        Duration::from_secs(5),
    )?)
}

fn ports(ip: std::net::Ipv4Addr) -> anyhow::Result<(u16, u16)> {
    let mut pm = nfs(ip, 111)?;
    Ok((pm.getport(MOUNT_PROG, 3)?, pm.getport(NFS_PROG, 3)?))
}

/// MOUNT `export` on the first of `nodes`, LOOKUP `path`, READ that handle on every node
/// of `nodes`; each must return bytes with digest `want`.
pub fn check_handles(c: &Cluster, nodes: &[u64], export: &str, path: &str, want: &str) -> Verdict {
    let r = (|| -> anyhow::Result<Verdict> {
        let (lan, _) = c
            .lan
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("needs a LAN cluster"))?;
        let addrs: Vec<(u64, std::net::Ipv4Addr)> = nodes
            .iter()
            .filter_map(|id| {
                c.nodes[id]
                    .ns
                    .as_ref()
                    .map(|(_, last)| (*id, lan.ip(*last)))
            })
            .collect();
        let (export, path, want) = (export.to_string(), path.to_string(), want.to_string());
        c.api(move || -> anyhow::Result<Verdict> {
            let (first, ip) = *addrs
                .first()
                .ok_or_else(|| anyhow::anyhow!("no node runs"))?;
            let (mport, nport) = ports(ip)?;
            let root = nfs(ip, mport)?.mnt(&export)?;
            let fh = nfs(ip, nport)?.walk(&root, &path)?;
            let mut bad = Vec::new();
            for (id, ip) in &addrs {
                let (_, nport) = ports(*ip)?;
                match nfs(*ip, nport).and_then(|mut n| Ok(n.read_all(&fh, 65536)?)) {
                    Ok(data) if blake3::hash(&data).to_hex().as_str() == want => {}
                    Ok(data) => bad.push(format!("node {id}: {} bytes, wrong digest", data.len())),
                    Err(e) => bad.push(format!("node {id}: {e:#}")),
                }
            }
            Ok(if bad.is_empty() {
                Verdict::pass(
                    NAME,
                    format!(
                        "handle of {path} from node {first} read identically on nodes {:?}",
                        addrs.iter().map(|a| a.0).collect::<Vec<_>>()
                    ),
                )
            } else {
                Verdict::fail(
                    NAME,
                    format!("handle of {path} from node {first}: {}", bad.join("; ")),
                )
            })
        })?
    })();
    Verdict::from_result(NAME, r)
}
