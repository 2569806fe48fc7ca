//! A full disk on one node: the node is stopped, a small tmpfs (unique source name) is
//! mounted over its blob store (`<data_dir>/cas`) and filled to the last KiB, and the node
//! restarts on it: its Raft log (outside `cas`) still works, but no blob fits, so it must
//! report its images not-ready while the others serve. Healing stops it, unmounts (its
//! old blob store reappears) and restarts it; it then fetches what it lacks. The guard
//! unmounts on drop.

use std::path::PathBuf;
use std::process::Command;

use super::{run, FaultLog};
use crate::cluster::Cluster;

/// A mounted, filled tmpfs.
pub struct FullDisk {
    mount: PathBuf,
    pub node: u64,
    index: usize,
    log: FaultLog,
    mounted: bool,
}

/// Fill node `id`'s disk (restarts the node).
pub fn fill(c: &mut Cluster, log: &FaultLog, id: u64) -> anyhow::Result<FullDisk> {
    if c.running().contains(&id) {
        c.stop(id)?;
    }
    let cas = c.data_dir(id).join("cas");
    std::fs::create_dir_all(&cas)?;
    let source = format!(
        "raftboot-full-{}-{id}",
        c.lan
            .as_ref()
            .map(|(l, _)| l.prefix.clone())
            .unwrap_or_else(|| std::process::id().to_string())
    );
    run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", &source])
        .arg(&cas))?;
    let mut guard = FullDisk {
        mount: cas.clone(),
        node: id,
        index: usize::MAX,
        log: log.clone(),
        mounted: true,
    };
    // Fill it: writes fail with ENOSPC once the tmpfs is full.
    let filler = cas.join("filler");
    let chunk = vec![0xa5u8; 4096];
    let mut f = std::fs::File::create(&filler)?;
    let mut written = 0usize;
    while std::io::Write::write_all(&mut f, &chunk).is_ok() && written < 1 << 20 {
        written += chunk.len();
    }
    drop(f);
    c.start_node(id)?;
    guard.index = log.inject(
        "full-disk",
        Some(id),
        format!("512 KiB tmpfs over its blob store, {written} bytes of filler"),
    );
    Ok(guard)
}

impl FullDisk {
    /// Stop the node, unmount, start it again.
    pub fn heal(mut self, c: &mut Cluster) -> anyhow::Result<()> {
        if c.running().contains(&self.node) {
            c.stop(self.node)?;
        }
        run(Command::new("umount").arg(&self.mount))?;
        self.mounted = false;
        c.start_node(self.node)?;
        self.log.healed(self.index);
        Ok(())
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
        }
    }
}
