//! The simulated firmware's DHCP exchange: DISCOVER -> OFFER -> REQUEST -> ACK with the
//! retransmit backoff PXE firmware uses (RFC 2131 4.1: the timeout doubles per try), as
//! option 93 BIOS/x86 PXE client (`PXEClient` vendor class) or as iPXE (user class "iPXE").

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use dhcproto::Decodable;
use raftboot::dhcp::client::ClientMessage;
use raftboot::dhcp::request::Kind;
use raftboot_raft::Mac;

/// What the ACK told the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub server_id: Option<Ipv4Addr>,
    /// siaddr.
    pub next_server: Ipv4Addr,
    /// Option 67, else the `file` field.
    pub boot_file: String,
    /// How many datagrams were sent in all (retransmissions included).
    pub sent: u32,
}

/// Retransmission schedule: first timeout, doubling, at most `tries` sends per step.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub tries: u32,
}

impl Default for Backoff {
    /// PXE firmware waits 4, 8, 16, 32 s; the simulator is quicker by default (tests).
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(500),
            tries: 5,
        }
    }
}

/// How a client's datagrams travel: its own socket ([`SocketLink`]), or a port of a socket
/// many simulated clients share (`storm::DhcpHub`).
pub trait Link {
    /// Send one request to every server.
    fn send(&self, msg: &[u8]) -> anyhow::Result<()>;
    /// The next datagram that may be an answer, or `None` once `deadline` has passed.
    fn recv(&self, deadline: Instant) -> anyhow::Result<Option<Vec<u8>>>;
}

/// A client's own UDP socket and where its requests go (the broadcast address and port 67
/// on a LAN; every node's loopback DHCP port in the local demo, as a broadcast would reach
/// them all).
pub struct SocketLink<'a> {
    pub sock: &'a UdpSocket,
    pub servers: &'a [SocketAddr],
}

impl Link for SocketLink<'_> {
    fn send(&self, msg: &[u8]) -> anyhow::Result<()> {
        for server in self.servers {
            self.sock
                .send_to(msg, server)
                .context("sending a DHCP request")?;
        }
        Ok(())
    }

    fn recv(&self, deadline: Instant) -> anyhow::Result<Option<Vec<u8>>> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        self.sock.set_read_timeout(Some(left))?;
        let mut buf = [0u8; 1500];
        match self.sock.recv_from(&mut buf) {
            Ok((n, _)) => Ok(Some(buf[..n].to_vec())),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e).context("receiving a DHCP reply"),
        }
    }
}

/// One DHCP client.
pub struct DhcpClient<'a> {
    pub link: &'a dyn Link,
    pub mac: Mac,
    pub ipxe: bool,
    pub backoff: Backoff,
}

fn message_type(m: &Message) -> Option<MessageType> {
    match m.opts().get(OptionCode::MessageType) {
        Some(DhcpOption::MessageType(t)) => Some(*t),
        _ => None,
    }
}

impl DhcpClient<'_> {
    fn build(&self, kind: Kind, xid: u32) -> ClientMessage {
        let mut m = ClientMessage::new(kind, self.mac, xid);
        m.broadcast = true;
        if self.ipxe {
            m.ipxe = true;
        } else {
            m.vendor_class = Some("PXEClient:Arch:00000:UNDI:002001".into());
            m.archs = vec![0];
        }
        m
    }

    /// Send `msg` and wait for a reply of `want` for `xid`, retransmitting with backoff.
    fn exchange(
        &self,
        msg: &[u8],
        xid: u32,
        want: &[MessageType],
        sent: &mut u32,
    ) -> anyhow::Result<Message> {
        let mut timeout = self.backoff.first;
        for _ in 0..self.backoff.tries {
            self.link.send(msg)?;
            *sent += 1;
            let deadline = Instant::now() + timeout;
            while let Some(buf) = self.link.recv(deadline)? {
                let Ok(m) = Message::decode(&mut dhcproto::Decoder::new(&buf)) else {
                    continue;
                };
                if m.xid() != xid || m.chaddr().get(..6) != Some(&self.mac.0[..]) {
                    continue;
                }
                match message_type(&m) {
                    Some(t) if want.contains(&t) => return Ok(m),
                    _ => continue,
                }
            }
            timeout = timeout.saturating_mul(2);
        }
        bail!(
            "no {want:?} after {} tries (last wait {:?})",
            self.backoff.tries,
            timeout / 2
        )
    }

    /// The whole DORA exchange.
    pub fn dora(&self) -> anyhow::Result<Lease> {
        self.dora_xid(rand::random())
    }

    /// The whole DORA exchange with a given transaction id.
    pub fn dora_xid(&self, xid: u32) -> anyhow::Result<Lease> {
        let mut sent = 0;
        let offer = self.exchange(
            &self.build(Kind::Discover, xid).encode(),
            xid,
            &[MessageType::Offer],
            &mut sent,
        )?;
        let server_id = match offer.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
            _ => None,
        };
        let mut req = self.build(Kind::Request, xid);
        req.requested = Some(offer.yiaddr());
        req.server_id = server_id;
        let ack = self.exchange(
            &req.encode(),
            xid,
            &[MessageType::Ack, MessageType::Nak],
            &mut sent,
        )?;
        if message_type(&ack) == Some(MessageType::Nak) {
            bail!("the server refused the REQUEST (NAK)");
        }
        let boot_file = match ack.opts().get(OptionCode::BootfileName) {
            Some(DhcpOption::BootfileName(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => {
                let f = ack.fname().unwrap_or_default();
                String::from_utf8_lossy(f)
                    .trim_end_matches('\0')
                    .to_string()
            }
        };
        Ok(Lease {
            ip: ack.yiaddr(),
            server_id,
            next_server: ack.siaddr(),
            boot_file,
            sent,
        })
    }
}
