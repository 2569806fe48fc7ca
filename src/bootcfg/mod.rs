//! The boot-file namespace and the generated boot configurations: pure functions, no I/O.
//!
//! Every file a network-booting machine asks for over TFTP or HTTP is named by a path in one
//! namespace, which this module resolves ([`resolve`]) against the replicated [`State`]
//! and image manifests (supplied through [`ManifestSource`]):
//!
//! | path | answer |
//! | --- | --- |
//! | `pxelinux.cfg/01-<mac>` | generated PXELINUX config of that host ([`pxelinux_config`]) |
//! | `pxelinux.cfg/<8 hex digits>` | the same, for the host whose fixed IP (or lease) it is |
//! | `pxelinux.cfg/default` | the `default` group's config (or a "no image" config) |
//! | `boot.ipxe` | iPXE script chaining to `ipxe/${mac:hexhyp}.ipxe` ([`ipxe_chain_script`]) |
//! | `ipxe/[tftp/\|http/]<mac>.ipxe` | generated iPXE script with a retry loop ([`ipxe_host_script`]) |
//! | `images/<image>/<path>` | a file of that image (symlinks followed inside the image) |
//! | anything else | a file of the loader image (`pxelinux.0`, `ldlinux.c32`, `*.efi`, ...) |
//!
//! Paths are normalized by [`BootPath`] first: a leading `/` (or pxelinux's `::`) means
//! the root; `..`, NUL, backslashes and over-long names are refused with a [`PathError`].
//! Generated configs boot the active image of the host's group with the NFS root on the
//! node's boot address (the VIP, else its LAN address): see [`BootPlan`].
//!
//! [`State`]: raftboot_raft::State

mod context;
mod error;
mod image_walk;
mod ipxe;
mod path;
mod plan;
mod pxelinux;
mod resolution;
mod resolver;
mod route;

#[cfg(test)]
mod tests;

pub use context::{BootContext, Transport};
pub use error::{PathError, ResolveError};
pub use image_walk::{resolve_file, MAX_SYMLINK_HOPS};
pub use ipxe::{ipxe_chain_script, ipxe_host_script, IPXE_RETRIES, IPXE_RETRY_SLEEP_S};
pub use path::{BootPath, MAX_COMPONENT_LEN, MAX_PATH_LEN};
pub use plan::{find_initrd, find_kernel, BootPlan, PlannedImage, DEFAULT_GROUP};
pub use pxelinux::pxelinux_config;
pub use resolution::{Resolution, Stage, Target};
pub(crate) use resolver::host_by_ip;
pub use resolver::{resolve, ManifestSource};
pub use route::Route;
