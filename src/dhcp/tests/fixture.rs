//! A DHCP handler over a [`MemoryBackend`] with a pool, a fixed host and a group.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use raftboot_raft::state::{Group, Host, Pool};
use raftboot_raft::{Command, Mac, Request, State};

use crate::dhcp::client::ClientMessage;
use crate::dhcp::request::Kind;
use crate::dhcp::{DhcpSettings, DhcpStats, Handler, MemoryBackend, Outbound, Reply};

pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 10);
pub const FIXED_MAC: Mac = Mac([0x52, 0x54, 0, 0, 0, 1]);
pub const FIXED_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 50);
pub const DYN_HOST_MAC: Mac = Mac([0x52, 0x54, 0, 0, 0, 2]);
pub const POOL_START: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 100);
pub const POOL_END: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 103);
pub const NOW: u64 = 1_700_000_000_000;

/// A client at 0.0.0.0:68.
pub fn client_src() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68)
}

/// The address a fresh pool offers `mac` first (its hashed starting point).
pub fn first_offer(mac: Mac) -> Ipv4Addr {
    crate::dhcp::offers::search_start(mac, POOL_START, POOL_END)
}

pub fn unknown_mac(n: u8) -> Mac {
    Mac([0x52, 0x54, 0, 0, 1, n])
}

pub fn state() -> State {
    let mut s = State::default();
    let cmds = [
        Command::PutPool(Pool {
            name: "default".into(),
            start: POOL_START,
            end: POOL_END,
            prefix: 24,
            router: Some(Ipv4Addr::new(10, 9, 0, 1)),
            dns: vec![Ipv4Addr::new(10, 9, 0, 2)],
        }),
        Command::PutGroup(Group {
            name: "web".into(),
            boot_file: Some("web.efi".into()),
            ..Group::default()
        }),
        Command::PutGroup(Group {
            name: "registration".into(),
            boot_file: Some("register.ipxe".into()),
            ..Group::default()
        }),
        Command::PutHost(Host {
            mac: FIXED_MAC,
            name: "web-01".into(),
            group: "web".into(),
            ip: Some(FIXED_IP),
            boot_file: None,
            kernel_args: None,
        }),
        Command::PutHost(Host {
            mac: DYN_HOST_MAC,
            name: "db-01".into(),
            group: "default".into(),
            ip: None,
            boot_file: Some("db.0".into()),
            kernel_args: None,
        }),
    ];
    for cmd in cmds {
        let r = s.apply(&Request { now_ms: NOW, cmd });
        assert_eq!(r, raftboot_raft::Response::Ok);
    }
    s
}

pub struct Fixture {
    pub backend: Arc<MemoryBackend>,
    pub stats: Arc<DhcpStats>,
    pub leader: Arc<AtomicBool>,
    pub handler: Handler,
}

impl Fixture {
    pub fn new() -> Fixture {
        Self::with(|_| {})
    }

    pub fn with(edit: impl FnOnce(&mut DhcpSettings)) -> Fixture {
        let mut settings =
            DhcpSettings::for_tests(SERVER, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 67));
        settings.lease_secs = 600;
        settings.domain = Some("boot.test".into());
        settings.registration_group = Some("registration".into());
        edit(&mut settings);
        let backend = Arc::new(MemoryBackend::new(state(), NOW));
        let stats = Arc::new(DhcpStats::default());
        let leader = Arc::new(AtomicBool::new(true));
        let l = leader.clone();
        let handler = Handler {
            tracker: None,
            settings: Arc::new(settings),
            backend: backend.clone(),
            gate: Arc::new(move || l.load(Ordering::Relaxed)),
            stats: stats.clone(),
            offers: Arc::default(),
        };
        Fixture {
            backend,
            stats,
            leader,
            handler,
        }
    }

    pub fn advance(&self, ms: u64) {
        self.backend.now_ms.fetch_add(ms, Ordering::Relaxed);
    }

    pub async fn send(&self, m: &ClientMessage) -> Option<(Reply, Outbound)> {
        self.send_from(m, client_src()).await
    }

    pub async fn send_from(
        &self,
        m: &ClientMessage,
        src: SocketAddrV4,
    ) -> Option<(Reply, Outbound)> {
        let out = self.handler.handle(&m.encode(), src).await?;
        Some((Reply::decode(&out.bytes).unwrap(), out))
    }

    /// DISCOVER then REQUEST (selecting) for `mac`; the ACK.
    pub async fn dora(&self, mac: Mac) -> Reply {
        let (offer, _) = self
            .send(&ClientMessage::new(Kind::Discover, mac, 1))
            .await
            .expect("an offer");
        let mut req = ClientMessage::new(Kind::Request, mac, 2);
        req.requested = Some(offer.yiaddr);
        req.server_id = Some(offer.server_id);
        let (ack, _) = self.send(&req).await.expect("an ack");
        ack
    }
}

pub fn count(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}
