//! [`LeaseBackend`]: the DHCP server's seam to the replicated state — read a client's
//! [`ClientView`], commit a command. [`RaftBackend`] is the real one (the applied state
//! and the [`Writer`] behind a [`BatchWriter`], so concurrent lease commits share log
//! entries); [`MemoryBackend`] applies commands to an in-memory [`State`]
//! for tests of the request path without a cluster.

use std::future::Future;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use raftboot_raft::peer::wall_clock_ms;
use raftboot_raft::state::Occupancy;
use raftboot_raft::{Command, Mac, Response, SharedState, State};

use super::offers::pick_address;
use super::settings::DhcpSettings;
use super::view::ClientView;
use crate::batch_writer::BatchWriter;
use crate::writer::{WriteError, Writer};

/// A boxed future of a commit.
pub type CommitFuture<'a> = Pin<Box<dyn Future<Output = Result<Response, WriteError>> + Send + 'a>>;

/// Reads and writes the replicated state for the DHCP server.
pub trait LeaseBackend: Send + Sync {
    /// What the state says about `mac` asking for `address`, at the current time.
    fn view(&self, settings: &DhcpSettings, mac: Mac, address: Option<Ipv4Addr>) -> ClientView;
    /// Commit one command; resolves when it is applied (or failed).
    fn commit(&self, cmd: Command) -> CommitFuture<'_>;
    /// The address to offer `mac` from the configured pool at `now_ms` (see
    /// [`pick_address`]), avoiding `reserved` offers (`skip` for single addresses).
    fn pick_address(
        &self,
        settings: &DhcpSettings,
        mac: Mac,
        now_ms: u64,
        preferred: Option<Ipv4Addr>,
        skip: &dyn Fn(Ipv4Addr) -> bool,
        reserved: &Occupancy,
    ) -> Option<Ipv4Addr>;
}

fn pick_in(
    state: &State,
    settings: &DhcpSettings,
    mac: Mac,
    now_ms: u64,
    preferred: Option<Ipv4Addr>,
    skip: &dyn Fn(Ipv4Addr) -> bool,
    reserved: &Occupancy,
) -> Option<Ipv4Addr> {
    let pool = state.pools.get(&settings.pool)?;
    pick_address(
        state,
        (pool.start, pool.end),
        mac,
        now_ms,
        preferred,
        skip,
        reserved,
    )
}

/// The real backend: the applied state of this node and its Raft writer.
pub struct RaftBackend {
    shared: SharedState,
    writer: BatchWriter,
}

impl RaftBackend {
    pub fn new(shared: SharedState, writer: Arc<Writer>) -> Self {
        RaftBackend {
            shared,
            writer: BatchWriter::new(writer),
        }
    }
}

impl LeaseBackend for RaftBackend {
    fn view(&self, settings: &DhcpSettings, mac: Mac, address: Option<Ipv4Addr>) -> ClientView {
        let data = self.shared.read();
        ClientView::read(&data.state, settings, mac, address, wall_clock_ms())
    }

    fn commit(&self, cmd: Command) -> CommitFuture<'_> {
        Box::pin(self.writer.submit(cmd))
    }

    fn pick_address(
        &self,
        settings: &DhcpSettings,
        mac: Mac,
        now_ms: u64,
        preferred: Option<Ipv4Addr>,
        skip: &dyn Fn(Ipv4Addr) -> bool,
        reserved: &Occupancy,
    ) -> Option<Ipv4Addr> {
        let data = self.shared.read();
        pick_in(
            &data.state,
            settings,
            mac,
            now_ms,
            preferred,
            skip,
            reserved,
        )
    }
}

/// An in-memory backend: commands are applied at once to a local [`State`] with a clock
/// the test controls.
#[derive(Default)]
pub struct MemoryBackend {
    pub state: Mutex<State>,
    pub now_ms: std::sync::atomic::AtomicU64,
    /// When set, every commit fails with this error (a lost leader).
    pub fail: Mutex<Option<String>>,
}

impl MemoryBackend {
    /// A backend over `state` at time `now_ms`.
    pub fn new(state: State, now_ms: u64) -> Self {
        MemoryBackend {
            state: Mutex::new(state),
            now_ms: now_ms.into(),
            fail: Mutex::new(None),
        }
    }

    fn now(&self) -> u64 {
        self.now_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> State {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl LeaseBackend for MemoryBackend {
    fn view(&self, settings: &DhcpSettings, mac: Mac, address: Option<Ipv4Addr>) -> ClientView {
        match self.state.lock() {
            Ok(s) => ClientView::read(&s, settings, mac, address, self.now()),
            Err(_) => ClientView::default(),
        }
    }

    fn commit(&self, cmd: Command) -> CommitFuture<'_> {
        let fail = self.fail.lock().ok().and_then(|f| f.clone());
        let out = match fail {
            Some(m) => Err(WriteError::Failed(m)),
            None => match self.state.lock() {
                Ok(mut s) => Ok(s.apply(&raftboot_raft::Request {
                    now_ms: self.now(),
                    cmd,
                })),
                Err(_) => Err(WriteError::Failed("poisoned".into())),
            },
        };
        Box::pin(async move { out })
    }

    fn pick_address(
        &self,
        settings: &DhcpSettings,
        mac: Mac,
        now_ms: u64,
        preferred: Option<Ipv4Addr>,
        skip: &dyn Fn(Ipv4Addr) -> bool,
        reserved: &Occupancy,
    ) -> Option<Ipv4Addr> {
        let s = self.state.lock().ok()?;
        pick_in(&s, settings, mac, now_ms, preferred, skip, reserved)
    }
}
