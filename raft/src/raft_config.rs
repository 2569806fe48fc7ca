//! Turns the validated cluster config's Raft timings into openraft's `Config`.

use cluster_config::{RaftTimings, Role};

/// openraft config for a node with these timings and role. A witness never campaigns.
pub fn openraft_config(
    cluster: &str,
    t: &RaftTimings,
    role: &Role,
) -> Result<openraft::Config, openraft::ConfigError> {
    let c = openraft::Config {
        cluster_name: cluster.to_string(),
        heartbeat_interval: t.heartbeat_ms,
        election_timeout_min: t.election_timeout_min_ms,
        election_timeout_max: t.election_timeout_max_ms,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(t.snapshot_logs_since_last),
        max_in_snapshot_log_to_keep: t.max_in_snapshot_log_to_keep,
        enable_elect: *role != Role::Witness,
        install_snapshot_timeout: 2000,
        ..Default::default()
    };
    c.validate()
}
