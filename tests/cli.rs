//! The binaries' edges: `bootctl config check` and `bootd run` on bad config files name the
//! file, line and key; bootctl's errors are one line with a distinct exit status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn write_config(dir: &std::path::Path, extra_top: &str, extra_node: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("s.secret"), "0123456789abcdef0123").unwrap();
    std::fs::write(dir.join("a.token"), "tok").unwrap();
    let text = format!(
        "node_id = 1\ncluster_name = \"t\"\ndata_dir = \"d{{id}}\"\nsecret_file = \"s.secret\"\nadmin_token_file = \"a.token\"\n{extra_top}\n[[nodes]]\nid = 1\nname = \"a\"\npeer_addr = \"127.0.0.1:17101\"\nadmin_addr = \"127.0.0.1:17201\"\n{extra_node}"
    );
    let p = dir.join("node.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn check(path: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bootctl"))
        .args(["config", "check"])
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn valid_config_passes() {
    let d = tempfile::tempdir().unwrap();
    let p = write_config(d.path(), "", "");
    let out = check(&p);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let d = tempfile::tempdir().unwrap();
    // Line 12 of the file is the unknown key inside [[nodes]].
    let p = write_config(d.path(), "", "colour = \"blue\"\n");
    let out = check(&p);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("node.toml:12:"), "{err}");
    assert!(err.contains("colour"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
}

#[test]
fn invalid_value_names_the_key() {
    let d = tempfile::tempdir().unwrap();
    let p = write_config(
        d.path(),
        "[raft]\nelection_timeout_min_ms = 300\nvip_hold_ms = 400\n",
        "",
    );
    let out = check(&p);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("node.toml:8:") && err.contains("vip_hold_ms"),
        "{err}"
    );
}

#[test]
fn unreadable_secret_and_bootd_refuses_to_start() {
    let d = tempfile::tempdir().unwrap();
    let p = write_config(d.path(), "", "");
    std::fs::remove_file(d.path().join("s.secret")).unwrap();
    let out = check(&p);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("secret_file"));
    let out = Command::new(env!("CARGO_BIN_EXE_bootd"))
        .args(["run", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("secret_file"));
}

#[test]
fn unreachable_cluster_is_one_clear_line() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("t"), "x").unwrap();
    // Port 1 on loopback: nothing listens there.
    let out = Command::new(env!("CARGO_BIN_EXE_bootctl"))
        .args(["--api", "127.0.0.1:1", "--token-file"])
        .arg(d.path().join("t"))
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("bootctl: cluster unreachable"), "{err}");
    assert_eq!(err.trim().lines().count(), 1);
}
