//! The named scenarios, one function each. Every scenario builds its own [`Rig`] (own
//! namespaces, own cluster), so scenarios can run in parallel; each injects its faults
//! while simulated clients boot, checks invariants 1-4 after every fault step and all five
//! after healing, and returns the [`Report`].

use std::time::Duration;

use super::{Report, Rig, T};
use crate::faults::{disk, freeze, kill, partition, restart};
use crate::wait;

/// A named scenario.
pub struct Scenario {
    pub name: &'static str,
    /// Part of the CI run (`tests/scenarios.rs`); `false` for a scenario that shows a known
    /// violation (see docs/chaos.md).
    pub ci: bool,
    pub about: &'static str,
    pub run: fn(u64) -> anyhow::Result<Report>,
}

/// Every named scenario.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            ci: true,
            name: "leader-kill-storm",
            about: "SIGKILL the leader while 200 simulated clients boot; it returns after the storm",
            run: leader_kill_storm,
        },
        Scenario {
            ci: true,
            name: "leader-kill-each-stage",
            about: "one client held at DHCP, loader, kernel, initrd and NFS in turn; the leader is SIGKILLed at each",
            run: leader_kill_each_stage,
        },
        Scenario {
            ci: true,
            name: "leader-freeze",
            about: "freeze the leader's machine (SIGSTOP + link down) during a storm of 60 until another leads, then thaw",
            run: leader_freeze,
        },
        Scenario {
            ci: true,
            name: "leader-hang",
            about: "SIGSTOP only the leader's process (host alive): its VIP lease guard must take the VIP down before another node claims it",
            run: leader_hang,
        },
        Scenario {
            ci: true,
            name: "leader-partition-minority",
            about: "cut the leader from both peers (clients still reach it) during a storm of 60, then heal",
            run: leader_partition_minority,
        },
        Scenario {
            ci: true,
            name: "follower-kill-import",
            about: "SIGKILL a follower while a 12 MiB image is imported and 40 clients boot",
            run: follower_kill_import,
        },
        Scenario {
            ci: true,
            name: "restart-all-storm",
            about: "SIGKILL and restart every node at once during a storm of 100",
            run: restart_all_storm,
        },
        Scenario {
            ci: true,
            name: "follower-full-disk",
            about: "a follower's blob store is full while an image is imported and 40 clients boot",
            run: follower_full_disk,
        },
    ]
}

/// Run scenario `name` with `seed` (the seed of the synthetic image).
pub fn run(name: &str, seed: u64) -> anyhow::Result<Report> {
    let s = all()
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| anyhow::anyhow!("no scenario {name:?} (see `chaos list`)"))?;
    (s.run)(seed)
}

/// At least `n` clients have reached the kernel or a later stage.
fn past_kernel(p: &[(String, String, u64)], n: usize) -> bool {
    p.iter()
        .filter(|(_, s, _)| matches!(s.as_str(), "kernel" | "initrd" | "nfs" | "done"))
        .count()
        >= n
}

fn others(rig: &Rig, id: u64) -> Vec<u64> {
    rig.cluster
        .running()
        .into_iter()
        .filter(|i| *i != id)
        .collect()
}

fn leader_kill_storm(seed: u64) -> anyhow::Result<Report> {
    let mut rig = Rig::start(seed)?;
    let spec = rig.storm_spec(200);
    let storm = rig.storm(spec)?;
    rig.wait_storm(&storm, "a quarter of the storm past DHCP", |p| {
        past_kernel(p, 50)
    })?;
    let leader = rig.vip_holder()?;
    let k = kill::kill(&mut rig.cluster, &rig.faults, leader, "leader, mid-storm")?;
    rig.wait_new_leader(leader, &others(&rig, leader))?;
    rig.checkpoint("SIGKILL of the leader", Some(&storm));
    rig.collect(storm, "the storm")?;
    kill::revive(&mut rig.cluster, &rig.faults, k, leader)?;
    Ok(rig.finish("leader-kill-storm", Some(seed)))
}

fn leader_kill_each_stage(seed: u64) -> anyhow::Result<Report> {
    let mut rig = Rig::start(seed)?;
    for stage in ["dhcp", "loader", "kernel", "initrd", "nfs"] {
        let spec = rig.storm_spec(1);
        // All at once: one client, held at the stage's entry.
        let storm = rig.storm(crate::storm::StormSpec {
            spread: Duration::ZERO,
            hold_at: Some(stage.to_string()),
            ..spec
        })?;
        let log = storm
            .log(0)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no client"))?;
        let reached = wait::until(&format!("the client at {stage}"), T, || {
            let cur = log.current();
            if cur == stage {
                Ok(true)
            } else if cur == "done" || cur == "failed" {
                Ok(false)
            } else {
                Err(cur)
            }
        })?;
        let leader = rig.vip_holder()?;
        let k = kill::kill(
            &mut rig.cluster,
            &rig.faults,
            leader,
            &format!("leader, client at {stage}"),
        )?;
        log.release();
        rig.wait_new_leader(leader, &others(&rig, leader))?;
        rig.checkpoint(&format!("SIGKILL of the leader at {stage}"), Some(&storm));
        rig.collect(storm, &format!("the boot killed at {stage}"))?;
        kill::revive(&mut rig.cluster, &rig.faults, k, leader)?;
        rig.cluster.wait_converged(&rig.cluster.running(), T)?;
        anyhow::ensure!(
            reached,
            "the client finished before it could be held at {stage}"
        );
    }
    Ok(rig.finish("leader-kill-each-stage", Some(seed)))
}

fn leader_freeze(seed: u64) -> anyhow::Result<Report> {
    freeze_scenario(seed, "leader-freeze", true)
}

fn leader_hang(seed: u64) -> anyhow::Result<Report> {
    freeze_scenario(seed, "leader-hang", false)
}

fn freeze_scenario(seed: u64, name: &str, machine: bool) -> anyhow::Result<Report> {
    let mut rig = Rig::start(seed)?;
    let spec = rig.storm_spec(60);
    let storm = rig.storm(spec)?;
    rig.wait_storm(&storm, "15 clients past DHCP", |p| past_kernel(p, 15))?;
    let leader = rig.vip_holder()?;
    let f = if machine {
        freeze::freeze(&rig.cluster, &rig.faults, leader)?
    } else {
        freeze::freeze_process(&rig.cluster, &rig.faults, leader)?
    };
    rig.sidelined.push(leader);
    let new = rig.wait_new_leader(leader, &others(&rig, leader))?;
    // The new leader takes the VIP once its hold window has passed.
    wait::until("the new leader holding the VIP", T, || {
        match rig.cluster.status(new) {
            Ok(s) if s.vip_holder == Some(new) => Ok(()),
            Ok(s) => Err(format!("{:?}", s.vip_holder)),
            Err(e) => Err(e.to_string()),
        }
    })?;
    rig.checkpoint("freezing the leader", Some(&storm));
    f.thaw()?;
    rig.sidelined.clear();
    rig.checkpoint("thawing the old leader", Some(&storm));
    rig.collect(storm, "the storm")?;
    Ok(rig.finish(name, Some(seed)))
}

fn leader_partition_minority(seed: u64) -> anyhow::Result<Report> {
    let mut rig = Rig::start(seed)?;
    let spec = rig.storm_spec(60);
    let storm = rig.storm(spec)?;
    rig.wait_storm(&storm, "15 clients past DHCP", |p| past_kernel(p, 15))?;
    let leader = rig.vip_holder()?;
    let peers = others(&rig, leader);
    let p = partition::cut(&rig.cluster, &rig.faults, leader, &peers)?;
    rig.sidelined.push(leader);
    rig.wait_new_leader(leader, &peers)?;
    rig.checkpoint("the leader cut into the minority", Some(&storm));
    p.heal()?;
    rig.sidelined.clear();
    rig.checkpoint("the partition healed", Some(&storm));
    rig.collect(storm, "the storm")?;
    Ok(rig.finish("leader-partition-minority", Some(seed)))
}

/// A tree of `files` random files of `size` bytes.
fn random_tree(files: usize, size: usize, seed: u64) -> anyhow::Result<tempfile::TempDir> {
    use rand::{RngCore, SeedableRng};
    let d = tempfile::tempdir()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    std::fs::create_dir_all(d.path().join("data"))?;
    for i in 0..files {
        let mut b = vec![0u8; size];
        rng.fill_bytes(&mut b);
        std::fs::write(d.path().join(format!("data/f{i:03}")), b)?;
    }
    Ok(d)
}

fn follower_kill_import(seed: u64) -> anyhow::Result<Report> {
    let mut rig = Rig::start(seed)?;
    let tree = random_tree(48, 256 * 1024, seed ^ 0x1111)?;
    let leader = rig.vip_holder()?;
    let follower = others(&rig, leader)[0];
    let before = crate::invariants::convergence::blob_set(&rig.cluster, leader).len();
    let spec = rig.storm_spec(40);
    let storm = rig.storm(spec)?;
    let path = tree.path().to_string_lossy().to_string();
    let import = rig
        .cluster
        .bootctl_command(&["image", "import", &path, "--name", "bulk", "--quiet"])?
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // Kill the follower once the leader has stored some of the new blobs.
    let seen = wait::until("the import to be under way", T, || {
        let n = crate::invariants::convergence::blob_set(&rig.cluster, leader).len();
        if n >= before + 4 {
            Ok(n - before)
        } else {
            Err(format!("{} new blobs", n.saturating_sub(before)))
        }
    });
    let k = kill::kill(
        &mut rig.cluster,
        &rig.faults,
        follower,
        &format!(
            "follower, during an image import ({} blobs in)",
            seen.as_ref().map(|n| n.to_string()).unwrap_or("?".into())
        ),
    )?;
    rig.checkpoint("SIGKILL of a follower mid-import", Some(&storm));
    let out = import.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "the import failed with a follower down: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    kill::revive(&mut rig.cluster, &rig.faults, k, follower)?;
    rig.collect(storm, "the storm")?;
    rig.wait_images_ready(3)?;
    Ok(rig.finish("follower-kill-import", Some(seed)))
}

fn restart_all_storm(seed: u64) -> anyhow::Result<Report> {
    let mut rig = Rig::start(seed)?;
    let spec = rig.storm_spec(100);
    let storm = rig.storm(spec)?;
    rig.wait_storm(&storm, "25 clients past DHCP", |p| past_kernel(p, 25))?;
    restart::restart_all(&mut rig.cluster, &rig.faults)?;
    rig.vip_holder()?;
    rig.checkpoint("restart of every node", Some(&storm));
    rig.collect(storm, "the storm")?;
    Ok(rig.finish("restart-all-storm", Some(seed)))
}

fn follower_full_disk(seed: u64) -> anyhow::Result<Report> {
    let mut rig = Rig::start(seed)?;
    let leader = rig.vip_holder()?;
    let follower = others(&rig, leader)[0];
    let full = disk::fill(&mut rig.cluster, &rig.faults, follower)?;
    rig.not_serving.push(follower);
    rig.leader()?;
    let spec = rig.storm_spec(40);
    let storm = rig.storm(spec)?;
    let tree = random_tree(8, 128 * 1024, seed ^ 0x2222)?;
    let path = tree.path().to_string_lossy().to_string();
    rig.ctl(&["image", "import", &path, "--name", "after-full", "--quiet"])?;
    // The full replica says so; the other two serve.
    let reason = wait::until("the full follower to report not-ready", T, || {
        let out = rig
            .ctl(&["image", "list", "--json"])
            .map_err(|e| e.to_string())?;
        let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| e.to_string())?;
        let img = v
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|i| i["name"] == "after-full" || i["image"]["name"] == "after-full")
            })
            .cloned()
            .ok_or("not listed")?;
        if img["ready"].as_u64() == Some(2) {
            Ok(img.to_string())
        } else {
            Err(img.to_string())
        }
    })?;
    rig.checkpoint(
        &format!("a full disk on follower {follower} (image list: {reason})"),
        Some(&storm),
    );
    rig.collect(storm, "the storm")?;
    full.heal(&mut rig.cluster)?;
    rig.not_serving.clear();
    rig.wait_images_ready(3)?;
    Ok(rig.finish("follower-full-disk", Some(seed)))
}
