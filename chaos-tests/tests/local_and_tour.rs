//! The README's promises: `bootd local` brings up three members with one leader that a
//! flag-less `bootctl status` reaches, and the tour's bootctl commands do what they say.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

use chaos_tests::cluster::{Cluster, Spec};
use chaos_tests::wait;

#[test]
fn bootd_local_runs_three_members_with_one_leader() {
    let dir = tempfile::tempdir().unwrap();
    let mut local = Command::new(chaos_tests::bin("bootd").unwrap())
        .arg("local")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let status = wait::until(
        "bootctl status to show three members and a leader",
        Duration::from_secs(30),
        || {
            let out = Command::new(chaos_tests::bin("bootctl").unwrap())
                .args(["status", "--json"])
                .current_dir(dir.path())
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).to_string());
            }
            let js: serde_json::Value =
                serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
            let nodes = js["nodes"].as_array().cloned().unwrap_or_default();
            let up = nodes.iter().filter(|n| n["status"].is_object()).count();
            if nodes.len() == 3 && up == 3 && js["leader"].is_u64() {
                Ok(js)
            } else {
                Err(js.to_string())
            }
        },
    );
    // The demo image is imported and ready on all three boot servers.
    let demo = wait::until(
        "the demo image to be ready on 3 nodes",
        Duration::from_secs(60),
        || {
            let out = Command::new(chaos_tests::bin("bootctl").unwrap())
                .args(["image", "list", "--json"])
                .current_dir(dir.path())
                .output()
                .map_err(|e| e.to_string())?;
            let js: serde_json::Value =
                serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
            let demo = js
                .as_array()
                .and_then(|a| a.iter().find(|v| v["image"]["name"] == "demo"));
            match demo {
                Some(v)
                    if v["ready"] == 3
                        && v["image"]["name"] == "demo"
                        && v["active_in"][0] == "default" =>
                {
                    Ok(v.clone())
                }
                _ => Err(js.to_string()),
            }
        },
    );
    let pid = nix::unistd::Pid::from_raw(local.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let exit = local.wait().unwrap();
    let js = status.unwrap();
    let demo = demo.unwrap();
    assert_eq!(demo["active_in"][0], "default", "{demo}");
    let leaders: Vec<_> = js["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["status"]["server_state"] == "Leader")
        .collect();
    assert_eq!(leaders.len(), 1, "{js}");
    assert!(exit.success(), "bootd local exited with {exit}");
    // The table form names the leader too.
    assert!(dir.path().join("raftboot-local/node1/sled").exists());
}

#[test]
fn tour_commands_work_through_bootctl() {
    let c = Cluster::start(&Spec::default()).unwrap();
    c.wait_leader(Duration::from_secs(30)).unwrap();
    let run = |args: &[&str]| {
        let out = c.bootctl(args).unwrap();
        assert!(
            out.status.success(),
            "bootctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let inventory = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cluster-config/examples/hosts.toml"
    );
    let out = run(&["hosts", "apply", inventory]);
    assert!(out.starts_with("added 3,"), "{out}");
    let out = run(&["hosts", "apply", inventory]);
    assert!(out.contains("unchanged 3"), "{out}");
    run(&[
        "hosts",
        "add",
        "52:54:00:99:00:01",
        "web-99",
        "--group",
        "web",
        "--ip",
        "10.0.0.199",
    ]);
    let hosts: serde_json::Value =
        serde_json::from_str(&run(&["hosts", "list", "--json"])).unwrap();
    assert_eq!(hosts.as_array().unwrap().len(), 4);
    run(&[
        "pools",
        "set",
        "lab",
        "10.0.1.100-10.0.1.199/24",
        "--router",
        "10.0.1.1",
    ]);
    let out = run(&["leases", "allocate", "52:54:00:aa:bb:cc", "--pool", "lab"]);
    assert!(out.contains("-> 10.0.1.100"), "{out}");
    run(&["groups", "set", "web", "--kernel-args", "console=ttyS0"]);
    let groups: serde_json::Value =
        serde_json::from_str(&run(&["groups", "list", "--json"])).unwrap();
    assert_eq!(groups[0]["kernel_args"], "console=ttyS0");
    // A reservation that collides is refused with one clear line and exit status 6.
    let out = c
        .bootctl(&[
            "hosts",
            "add",
            "52:54:00:99:00:02",
            "web-98",
            "--ip",
            "10.0.0.199",
        ])
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("10.0.0.199 is reserved"), "{err}");
    let table = run(&["status"]);
    assert!(
        table.contains("Leader") && table.lines().count() >= 5,
        "{table}"
    );
}
