//! The replicated state machine: hosts, groups, pools, leases, images and per-node image
//! readiness, and the pure, deterministic `apply` that changes them.
//!
//! `apply` never panics and never reads a clock: invalid commands are answered with
//! [`Response::Rejected`] and leave the state unchanged. Lease allocation lives in
//! [`crate::state::leases`].

mod audit;
mod leases;
mod occupancy;

pub use audit::{AuditEntry, AuditLog, AUDIT_MAX};
pub use occupancy::Occupancy;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::mac::Mac;
use crate::types::{NodeId, Request, Response};

/// A known machine: the seed's static MAC -> IP table, plus its group and overrides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub mac: Mac,
    pub name: String,
    pub group: String,
    pub ip: Option<Ipv4Addr>,
    pub boot_file: Option<String>,
    pub kernel_args: Option<String>,
}

/// A set of hosts that boot the same image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Group {
    pub name: String,
    pub kernel_args: String,
    pub boot_file: Option<String>,
    /// The image hosts of this group boot (set by ActivateImage).
    pub active_image: Option<String>,
    /// Previously active images, newest last (for rollback).
    pub history: Vec<String>,
}

/// A dynamic address range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub name: String,
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
    pub prefix: u8,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
}

/// A dynamic lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub mac: Mac,
    pub pool: String,
    pub granted_ms: u64,
    pub expires_ms: u64,
}

/// A registered boot image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub name: String,
    /// Hex BLAKE3 digest of the manifest: the image id.
    pub manifest: String,
    /// Assigned by the state machine; NFS file handles derive from it.
    pub seq: u64,
    pub size: u64,
    pub created_ms: u64,
}

/// One node's readiness for one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    pub ready: bool,
    pub reason: Option<String>,
    pub updated_ms: u64,
}

/// The whole replicated state. `BTreeMap`s keep iteration and encoding deterministic, so
/// [`State::digest`] is equal on replicas that applied the same log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct State {
    pub hosts: BTreeMap<Mac, Host>,
    pub groups: BTreeMap<String, Group>,
    pub pools: BTreeMap<String, Pool>,
    pub leases: BTreeMap<Ipv4Addr, Lease>,
    pub images: BTreeMap<String, Image>,
    /// image name -> node -> readiness
    pub readiness: BTreeMap<String, BTreeMap<NodeId, Readiness>>,
    pub next_image_seq: u64,
    /// Who changed what through the admin API, and when (bounded). Must stay the last
    /// encoded field: snapshots written before it existed decode with an empty trail
    /// (see [`crate::sm_store`]).
    pub audit: AuditLog,
    /// Derived index (MAC -> leased address); rebuilt after decoding.
    #[serde(skip)]
    lease_by_mac: BTreeMap<Mac, Ipv4Addr>,
    /// Derived index (fixed address -> host MAC); rebuilt after decoding.
    #[serde(skip)]
    fixed_ips: BTreeMap<Ipv4Addr, Mac>,
    /// Derived index: addresses with a lease record (live or expired) or a host's fixed
    /// address, for the allocator.
    #[serde(skip)]
    occupied: Occupancy,
}

fn reject(msg: impl Into<String>) -> Response {
    Response::Rejected(msg.into())
}

impl State {
    /// Rebuild derived indexes (after decoding a snapshot).
    pub fn reindex(&mut self) {
        self.lease_by_mac = self.leases.values().map(|l| (l.mac, l.ip)).collect();
        self.fixed_ips = self
            .hosts
            .values()
            .filter_map(|h| h.ip.map(|ip| (ip, h.mac)))
            .collect();
        let mut occupied = Occupancy::default();
        for ip in self.leases.keys().chain(self.fixed_ips.keys()) {
            occupied.set(*ip, true);
        }
        self.occupied = occupied;
    }

    /// Bring the derived indexes up to date for `ip` after its lease or host changed.
    fn refresh(&mut self, ip: Ipv4Addr) {
        let used = self.leases.contains_key(&ip) || self.fixed_ips.contains_key(&ip);
        self.occupied.set(ip, used);
    }

    /// The host MAC whose fixed address is `ip`, if any.
    pub fn fixed_owner(&self, ip: Ipv4Addr) -> Option<Mac> {
        self.fixed_ips.get(&ip).copied()
    }

    /// The lease a MAC holds, if any.
    pub fn lease_of(&self, mac: &Mac) -> Option<&Lease> {
        self.lease_by_mac
            .get(mac)
            .and_then(|ip| self.leases.get(ip))
    }

    /// BLAKE3 over the canonical encoding: equal digests mean byte-identical state.
    pub fn digest(&self) -> String {
        match crate::codec::encode(self) {
            Ok(bytes) => blake3::hash(&bytes).to_hex().to_string(),
            Err(e) => format!("unencodable:{e}"),
        }
    }

    /// Apply one command. Deterministic; never panics.
    pub fn apply(&mut self, req: &Request) -> Response {
        match &req.cmd {
            Command::Batch(cmds) => Response::Batch(
                cmds.iter()
                    .map(|c| match c {
                        Command::Batch(_) => reject("nested batch"),
                        c => self.apply_one(c, req.now_ms),
                    })
                    .collect(),
            ),
            c => self.apply_one(c, req.now_ms),
        }
    }

    fn apply_one(&mut self, cmd: &Command, now: u64) -> Response {
        match cmd {
            Command::Batch(_) => reject("nested batch"),
            Command::Restore { state, force } => self.restore(state, *force),
            Command::Attributed { actor, cmd } => match cmd.as_ref() {
                Command::Batch(_) | Command::Attributed { .. } | Command::AuditNote { .. } => {
                    reject("an attributed command must be a single plain command")
                }
                inner => {
                    let r = self.apply_one(inner, now);
                    if !matches!(r, Response::Rejected(_)) {
                        self.audit
                            .record(now, actor, inner.kind(), audit_detail(inner));
                    }
                    r
                }
            },
            Command::AuditNote {
                actor,
                action,
                detail,
            } => {
                self.audit.record(now, actor, action, detail.clone());
                Response::Ok
            }
            Command::PutHost(h) => self.put_host(h),
            Command::RemoveHost { mac } => match self.hosts.remove(mac) {
                Some(old) => {
                    if let Some(ip) = old.ip {
                        self.fixed_ips.remove(&ip);
                        self.refresh(ip);
                    }
                    Response::Ok
                }
                None => reject(format!("no host {mac}")),
            },
            Command::PutGroup(g) => {
                if g.name.is_empty() {
                    return reject("group name is empty");
                }
                let entry = self.groups.entry(g.name.clone()).or_default();
                entry.name = g.name.clone();
                entry.kernel_args = g.kernel_args.clone();
                entry.boot_file = g.boot_file.clone();
                Response::Ok
            }
            Command::RemoveGroup { name } => {
                if self.hosts.values().any(|h| &h.group == name) {
                    return reject(format!("group {name} still has hosts"));
                }
                match self.groups.remove(name) {
                    Some(_) => Response::Ok,
                    None => reject(format!("no group {name}")),
                }
            }
            Command::PutPool(p) => self.put_pool(p),
            Command::RemovePool { name } => {
                if self.pools.remove(name).is_none() {
                    return reject(format!("no pool {name}"));
                }
                self.leases.retain(|_, l| &l.pool != name);
                self.reindex();
                Response::Ok
            }
            Command::AllocateLease {
                mac,
                pool,
                requested,
                lease_secs,
            } => self.allocate_lease(*mac, pool, *requested, *lease_secs, now),
            Command::ReleaseLease { mac, ip } => self.release_lease(*mac, *ip),
            Command::ExpireLeases { grace_ms } => self.expire_leases(now, *grace_ms),
            Command::RegisterImage {
                name,
                manifest,
                size,
            } => self.register_image(name, manifest, *size, now),
            Command::RemoveImage { name } => {
                if self
                    .groups
                    .values()
                    .any(|g| g.active_image.as_deref() == Some(name))
                {
                    return reject(format!("image {name} is active in a group"));
                }
                match self.images.remove(name) {
                    Some(_) => {
                        self.readiness.remove(name);
                        Response::Ok
                    }
                    None => reject(format!("no image {name}")),
                }
            }
            Command::ActivateImage { group, image } => {
                if !self.images.contains_key(image) {
                    return reject(format!("no image {image}"));
                }
                let g = self.groups.entry(group.clone()).or_default();
                g.name = group.clone();
                if g.active_image.as_deref() == Some(image.as_str()) {
                    return Response::Ok;
                }
                if let Some(prev) = g.active_image.replace(image.clone()) {
                    g.history.push(prev);
                }
                Response::Ok
            }
            Command::RollbackGroup { group } => {
                let Some(g) = self.groups.get_mut(group) else {
                    return reject(format!("no group {group}"));
                };
                match g.history.pop() {
                    Some(prev) => {
                        g.active_image = Some(prev);
                        Response::Ok
                    }
                    None => reject(format!("group {group} has no previous image")),
                }
            }
            Command::SetReadiness {
                node,
                image,
                ready,
                reason,
            } => {
                if !self.images.contains_key(image) {
                    return reject(format!("no image {image}"));
                }
                self.readiness.entry(image.clone()).or_default().insert(
                    *node,
                    Readiness {
                        ready: *ready,
                        reason: reason.clone(),
                        updated_ms: now,
                    },
                );
                Response::Ok
            }
        }
    }

    /// Whether nothing was ever configured: no hosts, groups, pools, leases or images.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
            && self.groups.is_empty()
            && self.pools.is_empty()
            && self.leases.is_empty()
            && self.images.is_empty()
            && self.readiness.is_empty()
            && self.next_image_seq == 0
    }

    /// `Command::Restore`: take a backup's state wholesale (derived indexes rebuilt).
    fn restore(&mut self, state: &State, force: bool) -> Response {
        if !force && !self.is_empty() {
            return reject(format!(
                "the cluster already has state ({} hosts, {} leases, {} images); restore with --force to replace it",
                self.hosts.len(),
                self.leases.len(),
                self.images.len()
            ));
        }
        *self = state.clone();
        self.reindex();
        Response::Ok
    }

    fn put_host(&mut self, h: &Host) -> Response {
        if h.name.is_empty() {
            return reject("host name is empty");
        }
        if let Some(other) = self
            .hosts
            .values()
            .find(|o| o.mac != h.mac && o.name == h.name)
        {
            return reject(format!("host name {} is used by {}", h.name, other.mac));
        }
        if let Some(ip) = h.ip {
            if let Some(other) = self
                .hosts
                .values()
                .find(|o| o.mac != h.mac && o.ip == Some(ip))
            {
                return reject(format!("address {ip} is reserved for {}", other.mac));
            }
            if let Some(l) = self.leases.get(&ip) {
                if l.mac != h.mac {
                    return reject(format!("address {ip} is leased to {}", l.mac));
                }
            }
        }
        let old_ip = self.hosts.insert(h.mac, h.clone()).and_then(|o| o.ip);
        if let Some(ip) = old_ip {
            self.fixed_ips.remove(&ip);
            self.refresh(ip);
        }
        if let Some(ip) = h.ip {
            self.fixed_ips.insert(ip, h.mac);
            self.refresh(ip);
        }
        Response::Ok
    }

    fn register_image(&mut self, name: &str, manifest: &str, size: u64, now: u64) -> Response {
        if name.is_empty() {
            return reject("image name is empty");
        }
        if manifest.len() != 64 || !manifest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return reject("manifest digest must be 64 hex characters");
        }
        if let Some(existing) = self.images.get(name) {
            if existing.manifest == manifest {
                return Response::Image(existing.clone());
            }
            return reject(format!("image {name} already exists with another manifest"));
        }
        self.next_image_seq += 1;
        let img = Image {
            name: name.to_string(),
            manifest: manifest.to_ascii_lowercase(),
            seq: self.next_image_seq,
            size,
            created_ms: now,
        };
        self.images.insert(name.to_string(), img.clone());
        Response::Image(img)
    }
}

#[cfg(test)]
mod tests;

/// What the audit trail says about an accepted command: its arguments, except for a
/// restore, whose argument is a whole state (only its size is worth keeping).
fn audit_detail(cmd: &Command) -> String {
    match cmd {
        Command::Restore { state, force } => format!(
            "restore of {} hosts, {} leases, {} images (force: {force})",
            state.hosts.len(),
            state.leases.len(),
            state.images.len()
        ),
        other => format!("{other:?}"),
    }
}
