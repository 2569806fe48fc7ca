//! [`resolve`]: a request path to a [`Resolution`] — a blob of an image (the loader image
//! or an image file) or a generated config — plus the boot [`Stage`] it belongs to, and
//! [`ManifestSource`], where the manifests it reads come from.

use std::net::Ipv4Addr;
use std::sync::Arc;

use raftboot_raft::state::{Host, Image};
use raftboot_raft::State;

use crate::cas::{EntryKind, Manifest};

use super::context::{BootContext, Transport};
use super::error::ResolveError;
use super::image_walk::resolve_file;
use super::ipxe::{ipxe_chain_script, ipxe_host_script};
use super::path::BootPath;
use super::plan::{find_initrd, find_kernel, BootPlan, DEFAULT_GROUP};
use super::pxelinux::pxelinux_config;
use super::resolution::{Resolution, Stage, Target};
use super::route::Route;

/// Where manifests come from (the node's verified store and cache; a map in tests).
pub trait ManifestSource {
    /// The manifest of `image`, or why it cannot be had on this node.
    fn manifest(&self, image: &Image) -> Result<Arc<Manifest>, String>;
}

/// Resolve `raw` (as received) requested over `transport`.
pub fn resolve(
    ctx: &BootContext,
    state: &State,
    manifests: &dyn ManifestSource,
    raw: &str,
    transport: Transport,
) -> Result<Resolution, ResolveError> {
    let path = BootPath::parse(raw)?;
    match Route::of(&path) {
        Route::PxeDefault => {
            let plan = BootPlan::for_group(state, manifests, DEFAULT_GROUP, None);
            Ok(Resolution::generated(pxelinux_config(ctx, &plan), None))
        }
        Route::PxeMac(mac) => {
            let host = state
                .hosts
                .get(&mac)
                .ok_or_else(|| ResolveError::not_found(format!("no host {mac}")))?;
            let plan = BootPlan::for_host(state, manifests, host);
            Ok(Resolution::generated(
                pxelinux_config(ctx, &plan),
                Some(mac),
            ))
        }
        Route::PxeIp(ip) => {
            let host = host_by_ip(state, ip)
                .ok_or_else(|| ResolveError::not_found(format!("no host at {ip}")))?;
            let plan = BootPlan::for_host(state, manifests, host);
            Ok(Resolution::generated(
                pxelinux_config(ctx, &plan),
                Some(host.mac),
            ))
        }
        Route::PxeIpPrefix(p) => Err(ResolveError::not_found(format!(
            "pxelinux.cfg/{p}: address prefixes are not served"
        ))),
        Route::IpxeChain => Ok(Resolution::generated(ipxe_chain_script(), None)),
        Route::IpxeHost { mac, transport: t } => {
            let plan = match mac.and_then(|m| state.hosts.get(&m)) {
                Some(host) => BootPlan::for_host(state, manifests, host),
                None => BootPlan::for_group(state, manifests, DEFAULT_GROUP, mac),
            };
            let script = ipxe_host_script(ctx, &plan, t.unwrap_or(transport));
            Ok(Resolution::generated(script, mac))
        }
        Route::ImageFile { image, path } => image_file(state, manifests, &image, &path),
        Route::Loader { path } => {
            let mut r = image_file(state, manifests, &ctx.loader_image, &path)?;
            r.stage = Stage::Loader;
            Ok(r)
        }
        Route::Unknown => Err(ResolveError::not_found(path.to_string())),
    }
}

/// The host with fixed address `ip`, else the host holding a lease on it.
pub(crate) fn host_by_ip(state: &State, ip: Ipv4Addr) -> Option<&Host> {
    state
        .hosts
        .values()
        .find(|h| h.ip == Some(ip))
        .or_else(|| state.leases.get(&ip).and_then(|l| state.hosts.get(&l.mac)))
}

fn image_file(
    state: &State,
    manifests: &dyn ManifestSource,
    name: &str,
    path: &str,
) -> Result<Resolution, ResolveError> {
    let image = state
        .images
        .get(name)
        .ok_or_else(|| ResolveError::not_found(format!("no image {name}")))?;
    let m = manifests
        .manifest(image)
        .map_err(|reason| ResolveError::Unavailable {
            image: name.to_string(),
            reason,
        })?;
    let (index, entry) = resolve_file(&m, path)?;
    let EntryKind::File { digest } = entry.kind else {
        return Err(ResolveError::not_found(format!("{name}/{path}")));
    };
    let is = |p: Option<String>| {
        p.and_then(|p| resolve_file(&m, &p).ok())
            .is_some_and(|(i, _)| i == index)
    };
    let stage = if is(find_kernel(&m)) {
        Stage::Kernel
    } else if is(find_initrd(&m)) {
        Stage::Initrd
    } else {
        Stage::Other
    };
    Ok(Resolution {
        target: Target::Blob {
            digest,
            size: entry.size,
        },
        stage,
        mac: None,
    })
}
