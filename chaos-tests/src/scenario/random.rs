//! Seeded random schedules: one [`Rig`], then steps until the time is up. Each step starts a
//! storm of 20-40 clients powering on over 1 s, waits a random moment (0.1-1.2 s), injects one fault chosen by the seed
//! (SIGKILL of the leader or a follower, SIGSTOP of the leader, the leader cut into the
//! minority, a follower cut from one peer, loss and delay on a node's link, a restart of
//! every node, a clock jump on a follower, a full disk on a follower), holds it for 1-4 s,
//! heals it, checks invariants 1-4, and collects the storm. The same seed gives the same
//! schedule (fault kinds, nodes by role, delays); the cluster's own timing still varies.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use super::{Report, Rig};
use crate::faults::{clock, disk, freeze, kill, link, partition, restart};

/// The fault kinds a schedule picks from.
pub const KINDS: [&str; 9] = [
    "kill-leader",
    "kill-follower",
    "freeze-leader",
    "partition-leader",
    "partition-follower",
    "link-loss",
    "restart-all",
    "clock-jump",
    "full-disk",
];

/// Run a schedule for `minutes` (steps start until then; the last one finishes).
pub fn run(seed: u64, minutes: f64) -> anyhow::Result<Report> {
    eprintln!("chaos: random schedule, seed {seed} (replay: chaos random --seed {seed} --minutes {minutes})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut rig = Rig::start(seed)?;
    let until = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let mut step = 0;
    while Instant::now() < until {
        step += 1;
        let kind = KINDS[rng.gen_range(0..KINDS.len())];
        let clients = rng.gen_range(20..=40);
        let lead_in = Duration::from_millis(rng.gen_range(100..1200));
        let hold = Duration::from_millis(rng.gen_range(1000..4000));
        let pick: usize = rng.gen_range(0..2);
        let label = format!("step {step}: {kind}");
        eprintln!("chaos: {label} ({clients} clients, lead-in {lead_in:?}, hold {hold:?})");
        let leader = rig.vip_holder()?;
        let followers: Vec<u64> = rig
            .cluster
            .running()
            .into_iter()
            .filter(|i| *i != leader)
            .collect();
        let follower = followers[pick % followers.len().max(1)];
        // Clients power on over 1 s, so the fault lands among boots in flight.
        let spec = crate::storm::StormSpec {
            spread: Duration::from_secs(1),
            ..rig.storm_spec(clients)
        };
        let storm = rig.storm(spec)?;
        // A random moment into the storm; the schedule's timing, not a wait for a condition.
        std::thread::sleep(lead_in);
        match kind {
            "kill-leader" | "kill-follower" => {
                let id = if kind == "kill-leader" {
                    leader
                } else {
                    follower
                };
                let k = kill::kill(&mut rig.cluster, &rig.faults, id, kind)?;
                std::thread::sleep(hold);
                rig.checkpoint(&label, Some(&storm));
                kill::revive(&mut rig.cluster, &rig.faults, k, id)?;
            }
            "freeze-leader" => {
                let f = freeze::freeze(&rig.cluster, &rig.faults, leader)?;
                rig.sidelined.push(leader);
                std::thread::sleep(hold);
                rig.checkpoint(&label, Some(&storm));
                f.thaw()?;
                rig.sidelined.clear();
            }
            "partition-leader" => {
                let p = partition::cut(&rig.cluster, &rig.faults, leader, &followers)?;
                rig.sidelined.push(leader);
                std::thread::sleep(hold);
                rig.checkpoint(&label, Some(&storm));
                p.heal()?;
                rig.sidelined.clear();
            }
            "partition-follower" => {
                let p = partition::cut(&rig.cluster, &rig.faults, follower, &[leader])?;
                rig.sidelined.push(follower);
                std::thread::sleep(hold);
                rig.checkpoint(&label, Some(&storm));
                p.heal()?;
                rig.sidelined.clear();
            }
            "link-loss" => {
                let id = if pick == 0 { leader } else { follower };
                let l = link::degrade(&rig.cluster, &rig.faults, id, 10, 40)?;
                std::thread::sleep(hold);
                rig.checkpoint(&label, Some(&storm));
                l.heal()?;
            }
            "restart-all" => {
                restart::restart_all(&mut rig.cluster, &rig.faults)?;
                rig.vip_holder()?;
                rig.checkpoint(&label, Some(&storm));
            }
            "clock-jump" => {
                clock::jump(&mut rig.cluster, &rig.faults, follower, 86_400)?;
                std::thread::sleep(hold);
                rig.checkpoint(&label, Some(&storm));
            }
            "full-disk" => {
                let d = disk::fill(&mut rig.cluster, &rig.faults, follower)?;
                rig.not_serving.push(follower);
                std::thread::sleep(hold);
                rig.checkpoint(&label, Some(&storm));
                d.heal(&mut rig.cluster)?;
                rig.not_serving.clear();
            }
            other => anyhow::bail!("unknown fault kind {other}"),
        }
        rig.collect(storm, &format!("{label}: its storm"))?;
        rig.cluster
            .wait_converged(&rig.cluster.running(), super::T)?;
        rig.vip_holder()?;
    }
    Ok(rig.finish("random", Some(seed)))
}
