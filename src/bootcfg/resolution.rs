//! [`Resolution`]: what a request path resolved to — the [`Target`] to send and the boot
//! [`Stage`] it belongs to.

use raftboot_raft::Mac;

use crate::cas::Digest;

/// The step of a network boot: a file's stage, or a DHCP or NFS event of the same boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// A boot loader file (`pxelinux.0`, `ldlinux.c32`, `*.efi`, ...).
    Loader,
    /// A generated config or script.
    Config,
    /// The kernel of an image.
    Kernel,
    /// The initrd of an image.
    Initrd,
    /// Any other image file.
    Other,
    /// A DHCP OFFER sent to the machine (recorded by the DHCP server).
    DhcpOffer,
    /// A DHCP ACK sent to the machine (recorded by the DHCP server).
    DhcpAck,
    /// An NFS MOUNT of an image root (recorded by the NFS server).
    NfsMount,
}

impl Stage {
    /// Lower-case name, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Loader => "loader",
            Stage::Config => "config",
            Stage::Kernel => "kernel",
            Stage::Initrd => "initrd",
            Stage::Other => "other",
            Stage::DhcpOffer => "dhcp-offer",
            Stage::DhcpAck => "dhcp-ack",
            Stage::NfsMount => "nfs-mount",
        }
    }
}

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A stored blob (to be read verified).
    Blob {
        /// Its digest (also the HTTP ETag).
        digest: Digest,
        /// Its length.
        size: u64,
    },
    /// Generated text.
    Generated(String),
}

/// The answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// What to send.
    pub target: Target,
    /// Which boot step it is.
    pub stage: Stage,
    /// The machine the path names (per-host configs), if any.
    pub mac: Option<Mac>,
}

impl Resolution {
    /// Generated text of the config stage.
    pub(crate) fn generated(text: String, mac: Option<Mac>) -> Resolution {
        Resolution {
            target: Target::Generated(text),
            stage: Stage::Config,
            mac,
        }
    }
}
