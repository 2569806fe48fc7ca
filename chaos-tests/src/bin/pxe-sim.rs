//! pxe-sim: boot one simulated machine against a raftboot cluster and print each step
//! (DHCP, loader, config, kernel, initrd, NFS mount and reads) with its time.
//!
//! Against `bootd local` (the defaults: DHCP 127.0.0.1:6701-6703, TFTP 6901, portmapper 11101):
//!     pxe-sim [--mac 52:54:00:12:34:56] [--ipxe] [--file init]... [--json]
//! On a boot LAN (as root, inside the client's network namespace):
//!     pxe-sim --lan [--mac M] ...   (broadcast to port 67 from port 68; TFTP 69; portmap 111)

use std::net::SocketAddr;

use anyhow::{bail, Context};
use chaos_tests::bootsim::BootSim;
use raftboot_raft::Mac;

fn main() {
    if let Err(e) = run() {
        eprintln!("pxe-sim: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut mac: Mac = "52:54:00:12:34:56"
        .parse()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut lan = false;
    let mut ipxe = false;
    let mut json = false;
    let mut files = Vec::new();
    let mut dhcp: Vec<SocketAddr> = Vec::new();
    let mut tftp_port = None;
    let mut portmap_port = None;
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--mac" => {
                mac = val("--mac")?
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--mac: {e}"))?
            }
            "--lan" => lan = true,
            "--ipxe" => ipxe = true,
            "--json" => json = true,
            "--file" => files.push(val("--file")?),
            "--dhcp" => dhcp.push(val("--dhcp")?.parse().context("--dhcp ADDR:PORT")?),
            "--tftp-port" => tftp_port = Some(val("--tftp-port")?.parse().context("--tftp-port")?),
            "--portmap-port" => {
                portmap_port = Some(val("--portmap-port")?.parse().context("--portmap-port")?)
            }
            "-h" | "--help" => {
                println!("usage: pxe-sim [--lan] [--mac MAC] [--ipxe] [--file PATH]... [--dhcp ADDR:PORT] [--tftp-port P] [--portmap-port P] [--json]");
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    let mut sim = if lan {
        BootSim::new(
            mac,
            vec!["255.255.255.255:67".parse()?],
            "0.0.0.0:68".parse()?,
        )
    } else {
        let mut s = BootSim::new(
            mac,
            ["127.0.0.1:6701", "127.0.0.1:6702", "127.0.0.1:6703"]
                .iter()
                .map(|a| a.parse())
                .collect::<Result<_, _>>()?,
            "127.0.0.1:0".parse()?,
        );
        s.tftp_port = 6901;
        s.portmap_port = 11101;
        s
    };
    if !dhcp.is_empty() {
        sim.dhcp_servers = dhcp;
    }
    if let Some(p) = tftp_port {
        sim.tftp_port = p;
    }
    if let Some(p) = portmap_port {
        sim.portmap_port = p;
    }
    sim.ipxe = ipxe;
    if !files.is_empty() {
        sim.nfs_files = files;
    }
    let report = sim.run()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(())
}
