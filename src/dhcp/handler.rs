//! [`Handler`]: one datagram in, at most one datagram out. Decodes, asks the answer
//! gate, reads the client's view, runs the [`Policy`], commits through the
//! [`LeaseBackend`] when the plan says so, encodes the reply and picks its destination.
//! No sockets here: the socket loop ([`super::server`]) calls [`Handler::handle`].

use std::net::{IpAddr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use raftboot_raft::{Command, Response};
use tracing::Instrument;

use cluster_config::DhcpMode;

use crate::bootcfg::Stage;
use crate::bootfiles::BootKey;

use super::addressing::{destination, Destination};
use super::backend::LeaseBackend;
use super::offers::OfferBook;
use super::policy::{declined_mac, Plan, Policy};
use super::proxy::{proxy_plan, Port};
use super::reply::ReplyKind;
use super::request::DhcpRequest;
use super::settings::DhcpSettings;
use super::stats::DhcpStats;

/// Decides whether this node answers at all (the Raft leader today; the VIP holder
/// once the VIP controller exists).
pub type AnswerGate = Arc<dyn Fn() -> bool + Send + Sync>;

/// How long one lease commit may take before the request is given up (the client
/// retransmits after about 4 s).
pub const COMMIT_DEADLINE: Duration = Duration::from_secs(3);

/// A reply ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub bytes: Vec<u8>,
    pub to: Destination,
    pub kind: ReplyKind,
}

/// The request path of one node's DHCP server.
pub struct Handler {
    pub settings: Arc<DhcpSettings>,
    pub backend: Arc<dyn LeaseBackend>,
    pub gate: AnswerGate,
    pub stats: Arc<DhcpStats>,
    /// Addresses offered and not yet requested (in memory, this node only).
    pub offers: Arc<OfferBook>,
    /// Where OFFERs and ACKs are noted as boot stages (`bootctl boots`), if anywhere.
    pub tracker: Option<Arc<crate::bootfiles::BootTracker>>,
}

impl Handler {
    /// Handle one datagram from `source` that came in on the DHCP port.
    pub async fn handle(&self, packet: &[u8], source: SocketAddrV4) -> Option<Outbound> {
        self.handle_on(packet, source, Port::Dhcp).await
    }

    /// Handle one datagram from `source` that came in on `port`.
    pub async fn handle_on(
        &self,
        packet: &[u8],
        source: SocketAddrV4,
        port: Port,
    ) -> Option<Outbound> {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let req = match DhcpRequest::parse(packet) {
            Ok(r) => r,
            Err(e) => {
                self.stats.count_malformed(&e);
                tracing::debug!(%source, error = %e, "malformed DHCP datagram");
                return None;
            }
        };
        if !(self.gate)() {
            self.stats
                .dropped_not_leader
                .fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let span = tracing::debug_span!(
            "dhcp",
            node = %self.settings.node,
            mac = %req.mac,
            xid = %format_args!("{:08x}", req.xid),
            kind = req.kind.as_str(),
        );
        self.respond(&req, source, port).instrument(span).await
    }

    async fn respond(
        &self,
        req: &DhcpRequest,
        source: SocketAddrV4,
        port: Port,
    ) -> Option<Outbound> {
        let policy = Policy::new(&self.settings);
        if self.settings.mode == DhcpMode::Proxy {
            let view = self.backend.view(&self.settings, req.mac, None);
            let plan = proxy_plan(&policy, req, &view, port);
            return self.send_plan(req, source, port, plan);
        }
        let asked = Policy::address_of(req);
        let mut view = self.backend.view(&self.settings, req.mac, asked);
        if view.address_taken_by.is_none() {
            // An address offered to another client is taken too.
            view.address_taken_by =
                asked.and_then(|ip| self.offers.held_by_other(ip, req.mac, view.now_ms));
        }
        let plan = match policy.decide(req, &view) {
            Plan::Reserve { requested } => {
                let ip = self.offers.reserve(
                    req.mac,
                    requested,
                    view.now_ms,
                    |preferred, skip, reserved| {
                        self.backend.pick_address(
                            &self.settings,
                            req.mac,
                            view.now_ms,
                            preferred,
                            skip,
                            reserved,
                        )
                    },
                );
                policy.offer(req, &view, ip)
            }
            Plan::Allocate { requested, then } => {
                let cmd = Command::AllocateLease {
                    mac: req.mac,
                    pool: self.settings.pool.clone(),
                    requested,
                    lease_secs: self.settings.lease_secs,
                };
                let outcome = self.commit(cmd).await?;
                // The client's REQUEST is answered: its offer is no longer held.
                self.offers.forget(req.mac);
                policy.after_commit(req, &view, then, requested, &outcome)
            }
            other => other,
        };
        match plan {
            Plan::Release { ip } => {
                self.offers.forget(req.mac);
                let out = self
                    .commit(Command::ReleaseLease { mac: req.mac, ip })
                    .await;
                if out.is_some() {
                    self.stats.releases.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%ip, "lease released");
                }
                None
            }
            Plan::Decline { ip, holds_it } => {
                self.offers.forget(req.mac);
                self.decline(req, ip, holds_it).await;
                None
            }
            other => self.send_plan(req, source, port, other),
        }
    }

    /// Encode and address the reply of `plan` (count a drop).
    fn send_plan(
        &self,
        req: &DhcpRequest,
        source: SocketAddrV4,
        port: Port,
        plan: Plan,
    ) -> Option<Outbound> {
        let reply = match plan {
            Plan::Reply(r) => r,
            Plan::Drop(reason) => {
                self.stats.count_drop(reason);
                tracing::debug!(reason, "no reply");
                return None;
            }
            Plan::Release { .. }
            | Plan::Decline { .. }
            | Plan::Allocate { .. }
            | Plan::Reserve { .. } => {
                self.stats.count_drop("other");
                return None;
            }
        };
        let bytes = match reply.encode() {
            Ok(b) => b,
            Err(e) => {
                self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "encoding a reply failed");
                return None;
            }
        };
        let to = match port {
            // PXE boot-server requests are answered where they came from.
            Port::Pxe if !source.ip().is_unspecified() => Destination::Source(source),
            _ => destination(
                req,
                &reply,
                source,
                self.settings.relay_port,
                self.settings.client_port,
            ),
        };
        self.stats.count_reply(reply.kind);
        tracing::debug!(yiaddr = %reply.yiaddr, reply = reply.kind.as_str(), to = to.as_str(), "reply");
        if let Some(t) = &self.tracker {
            let stage = match reply.kind {
                ReplyKind::Offer => Some(Stage::DhcpOffer),
                ReplyKind::Ack => Some(Stage::DhcpAck),
                ReplyKind::Nak => None,
            };
            if let Some(stage) = stage {
                let what = format!(
                    "{} boot file {}",
                    reply.yiaddr,
                    reply.boot_file.as_deref().unwrap_or("-")
                );
                t.record(
                    BootKey::Mac(req.mac),
                    IpAddr::V4(reply.yiaddr),
                    stage,
                    &what,
                );
            }
        }
        Some(Outbound {
            bytes,
            to,
            kind: reply.kind,
        })
    }

    /// Commit one command within [`COMMIT_DEADLINE`]; `None` (counted) when it failed.
    async fn commit(&self, cmd: Command) -> Option<Response> {
        self.stats.raft_commits.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(COMMIT_DEADLINE, self.backend.commit(cmd)).await {
            Ok(Ok(r)) => Some(r),
            Ok(Err(e)) => {
                self.stats.raft_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "lease commit failed; not answering");
                None
            }
            Err(_) => {
                self.stats.raft_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("lease commit timed out; not answering");
                None
            }
        }
    }

    async fn decline(&self, req: &DhcpRequest, ip: std::net::Ipv4Addr, holds_it: bool) {
        tracing::warn!(%ip, "client declined the address (in use on the LAN); parking it");
        if holds_it
            && self
                .commit(Command::ReleaseLease { mac: req.mac, ip })
                .await
                .is_none()
        {
            return;
        }
        let marker = declined_mac(ip);
        let cmd = Command::AllocateLease {
            mac: marker,
            pool: self.settings.pool.clone(),
            requested: Some(ip),
            lease_secs: self.settings.lease_secs,
        };
        if let Some(Response::Lease(l)) = self.commit(cmd).await {
            if l.ip != ip {
                // Someone took the address meanwhile: do not park another one.
                let _ = self
                    .commit(Command::ReleaseLease {
                        mac: marker,
                        ip: l.ip,
                    })
                    .await;
                return;
            }
            self.stats.declines.fetch_add(1, Ordering::Relaxed);
        }
    }
}
