//! chaos: run raftboot chaos scenarios against real `bootd` clusters in network namespaces
//! (root). Each run builds its own three-node cluster, a client namespace and a boot storm
//! of simulated PXE clients, injects faults, checks the five invariants and prints a report.
//!
//!     chaos list
//!     chaos run NAME [--seed S] [--json] [--report FILE]
//!     chaos run web-tier [--report FILE]     (two QEMU web nodes; FILE gets every poll as CSV)
//!     chaos random --seed S --minutes M [--json] [--report FILE]
//!
//! Exits 1 on any invariant violation (the seed is printed so the run can be replayed),
//! 2 on a usage error or when the harness itself failed.

use anyhow::{bail, Context};
use chaos_tests::scenario::{named, random, Report};
use chaos_tests::web_tier::{self, WebTierOptions};

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("chaos: {e:#}");
            std::process::exit(2);
        }
    }
}

fn usage() -> &'static str {
    "usage: chaos list | chaos run NAME [--seed S] [--json] [--report FILE] | chaos random --seed S --minutes M [--json] [--report FILE]"
}

fn run() -> anyhow::Result<bool> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        bail!("{}", usage());
    };
    let mut seed: Option<u64> = None;
    let mut minutes: Option<f64> = None;
    let mut json = false;
    let mut report_file: Option<String> = None;
    let mut name: Option<String> = None;
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        let mut val = |what: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{what} needs a value"))
        };
        match a.as_str() {
            "--seed" => seed = Some(val("--seed")?.parse().context("--seed: a number")?),
            "--minutes" => {
                minutes = Some(val("--minutes")?.parse().context("--minutes: a number")?)
            }
            "--json" => json = true,
            "--report" => report_file = Some(val("--report")?),
            "-h" | "--help" => {
                println!("{}", usage());
                return Ok(true);
            }
            other if !other.starts_with('-') && name.is_none() => name = Some(other.to_string()),
            other => bail!("unknown argument {other:?}\n{}", usage()),
        }
    }
    let report = match cmd.as_str() {
        "list" => {
            for s in named::all() {
                println!("{:<28} {}", s.name, s.about);
            }
            println!(
                "{:<28} two QEMU web nodes keep serving while boot servers are killed; one reboots during an outage",
                WEB_TIER
            );
            println!(
                "{:<28} seeded random schedule of: {}",
                "random",
                random::KINDS.join(", ")
            );
            return Ok(true);
        }
        "run" => {
            let name = name.with_context(|| format!("run needs a scenario name\n{}", usage()))?;
            if name == WEB_TIER {
                return run_web_tier(report_file.as_deref());
            }
            let seed = seed.unwrap_or_else(rand::random);
            eprintln!("chaos: scenario {name}, seed {seed}");
            named::run(&name, seed)?
        }
        "random" => {
            let seed = seed.unwrap_or_else(rand::random);
            let minutes = minutes.context("random needs --minutes M")?;
            random::run(seed, minutes)?
        }
        "-h" | "--help" => {
            println!("{}", usage());
            return Ok(true);
        }
        other => bail!("unknown command {other:?}\n{}", usage()),
    };
    emit(&report, json, report_file.as_deref())?;
    if !report.ok {
        eprintln!(
            "chaos: VIOLATION in {} (seed {}):\n  {}",
            report.scenario,
            report.seed.map(|s| s.to_string()).unwrap_or("-".into()),
            report.violations().join("\n  ")
        );
    }
    Ok(report.ok)
}

/// The web-tier scenario's name (it runs QEMU guests, not a boot storm).
const WEB_TIER: &str = "web-tier";

fn run_web_tier(csv: Option<&str>) -> anyhow::Result<bool> {
    let opts = WebTierOptions::default();
    eprintln!(
        "chaos: scenario {WEB_TIER}, boot budget {:?}",
        opts.boot_budget
    );
    let report = web_tier::run(&opts)?;
    print!("{report}");
    if let Some(f) = csv {
        std::fs::write(f, report.polls_csv()).with_context(|| f.to_string())?;
    }
    if !report.passed() {
        eprintln!(
            "chaos: VIOLATION in {WEB_TIER}:\n  {}",
            report.violations.join("\n  ")
        );
    }
    Ok(report.passed())
}

fn emit(report: &Report, json: bool, file: Option<&str>) -> anyhow::Result<()> {
    let text = report.render();
    let j = serde_json::to_string_pretty(report)?;
    if json {
        println!("{j}");
    } else {
        print!("{text}");
    }
    if let Some(f) = file {
        // FILE gets the text; FILE.json the JSON.
        std::fs::write(f, &text).with_context(|| f.to_string())?;
        std::fs::write(format!("{f}.json"), &j).with_context(|| format!("{f}.json"))?;
    }
    Ok(())
}
