//! [`MountObserver`]: told of every successful MOUNT (MNT) with the client's address and the
//! export path, so the node can note the NFS-mount stage of a machine's boot. The NFS
//! server itself keeps no mount list (MOUNT's DUMP answers empty).

use std::net::IpAddr;

/// Receives successful mounts.
pub trait MountObserver: Send + Sync {
    /// `client` mounted `export`.
    fn mounted(&self, client: IpAddr, export: &str);
}
