//! The boot-file service core shared by TFTP and HTTP boot: [`BootFiles`] resolves request
//! paths with [`crate::bootcfg`] against the replicated state and this node's manifests
//! ([`ManifestCache`]), reads blobs verified from the CAS (a corrupt blob is quarantined so
//! the replicator fetches a good copy, and its bytes are never returned), and records the
//! boot stages each machine reached ([`BootTracker`]). [`ServeStats`] are the per-protocol
//! counters.

mod boot_files;
mod manifest_cache;
mod serve_stats;
mod tracker;

pub use boot_files::{BootFiles, READ_STEP};
pub use manifest_cache::ManifestCache;
pub use serve_stats::{ServeStats, StatsSnapshot};
pub use tracker::{BootKey, BootRecord, BootTracker, StageSeen, MAX_TRACKED};
