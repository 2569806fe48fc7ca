//! The Debian package, installed into a fresh Debian bookworm root (debootstrap, with
//! systemd, adduser, iproute2 and man-db):
//!
//! - dpkg installs it; the binaries, man pages, completions, examples, docs and the unit are
//!   where they belong; the maintainer scripts created the system user, the data dir (owned
//!   by it, 0750) and the config dir (root:raftboot, 0750) and enabled (not started) the
//!   unit; `systemd-analyze verify` accepts the unit (its man: links resolve) and its
//!   ConditionPathExists= is false until the config exists;
//! - `bootd` from the package really starts the way the unit runs it: as the unit's User=,
//!   with exactly its AmbientCapabilities= / CapabilityBoundingSet=, on a read-only root
//!   where only the data dir is writable (a bind mount, as ProtectSystem=strict does), inside
//!   a network namespace this test creates, on the standard ports (67, 69, 80, 111, 2049),
//!   with a VIP; the packaged `bootctl` sees it lead and hold the VIP. Without
//!   CAP_SYS_ADMIN the same start fails with a clear error (the VIP namespace needs it);
//! - reinstalling keeps the user, the state and a disabled unit disabled; `dpkg --purge`
//!   removes the user, the data dir and the unit's enablement, and keeps the config.
//!
//! The debootstrap root is cached (`RAFTBOOT_PKGROOT`, default under /var/tmp) and copied
//! for each run, so every run installs into a fresh root. The package comes from
//! `RAFTBOOT_DEB` (scripts/test-all.sh builds it) or is built here with
//! `scripts/build-deb.sh --dev`. Needs root.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::Context;
use chaos_tests::wait;

/// Packages added to the minbase root (the cache directory's name says which).
const INCLUDE: &str = "systemd,adduser,iproute2,man-db";
const DEFAULT_CACHE: &str = "/var/tmp/raftboot-pkgroot-bookworm-systemd-adduser-iproute2-mandb";
const CONFIG: &str = "/etc/raftboot/bootd.toml";
const UNIT: &str = "lib/systemd/system/bootd.service";

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{cmd:?}"))?;
    Ok(out)
}

fn run_ok(cmd: &mut Command) -> anyhow::Result<String> {
    let out = run(cmd)?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The cached bookworm root, built with debootstrap when missing.
fn cached_root() -> anyhow::Result<PathBuf> {
    let cache = std::env::var_os("RAFTBOOT_PKGROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE));
    if cache.join("etc/debian_version").exists() && cache.join("usr/bin/man").exists() {
        return Ok(cache);
    }
    let tmp = PathBuf::from(format!("{}.tmp-{}", cache.display(), std::process::id()));
    println!(
        "building the Debian root with debootstrap into {}",
        tmp.display()
    );
    let st = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            &format!("--include={INCLUDE}"),
            "bookworm",
        ])
        .arg(&tmp)
        .stdout(Stdio::null())
        .status()
        .context("debootstrap (apt-get install debootstrap)")?;
    anyhow::ensure!(st.success(), "debootstrap failed");
    std::fs::rename(&tmp, &cache)?;
    Ok(cache)
}

/// The .deb to test: `RAFTBOOT_DEB`, else built now.
fn package() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("RAFTBOOT_DEB") {
        return Ok(PathBuf::from(p));
    }
    let out = run_ok(
        Command::new("bash")
            .arg(project_root().join("scripts/build-deb.sh"))
            .arg("--dev")
            .current_dir(project_root()),
    )?;
    let last = out.lines().last().context("build-deb.sh printed nothing")?;
    Ok(PathBuf::from(last.trim()))
}

/// A network namespace this test made; deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> anyhow::Result<Self> {
        let name = format!("rbpkg-{}-{:04x}", std::process::id(), rand::random::<u16>());
        run_ok(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Self(name);
        for args in [
            vec!["link", "set", "lo", "up"],
            vec![
                "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
            ],
            vec!["addr", "add", "10.77.0.11/24", "dev", "eth0"],
            vec!["link", "set", "eth0", "up"],
            vec!["link", "set", "eth0p", "up"],
        ] {
            run_ok(Command::new("ip").arg("-n").arg(&ns.0).args(args))?;
        }
        Ok(ns)
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A bootd this test started; killed by PID and reaped on drop.
struct Bootd(Child);

impl Drop for Bootd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `Key=` values of the unit's [Service] lines, space-split.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .flat_map(|v| v.split_whitespace().map(str::to_string))
        .collect()
}

/// Start the installed bootd the way the unit runs it: its user, its capabilities (`caps`,
/// as `CAP_X` names), a read-only root with the data dir as the only writable path, inside
/// `ns`.
fn start_bootd(
    root: &Path,
    ns: &Netns,
    user: &str,
    caps: &[String],
    no_new_privs: bool,
) -> anyhow::Result<Child> {
    let nnp = if no_new_privs { "--no-new-privs" } else { "" };
    let list = caps
        .iter()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect::<Vec<_>>()
        .join(",");
    let r = root.display();
    let script = format!(
        "set -e; mount --bind {r} {r}; mount --bind {r}/var/lib/raftboot {r}/var/lib/raftboot; \
         mount -o remount,bind,ro {r}; mount -t proc proc {r}/proc; \
         exec chroot {r} setpriv {nnp} --reuid={user} --regid={user} --init-groups \
         --inh-caps=-all,{list} --ambient-caps=-all,{list} --bounding-set=-all,{list} \
         /usr/bin/bootd run --config {CONFIG}"
    );
    let log = std::fs::File::create(root.join("tmp/bootd.log"))?;
    let child = ns
        .cmd("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    Ok(child)
}

fn write_config(root: &Path, gid: u32) -> anyhow::Result<()> {
    let etc = root.join("etc/raftboot");
    let secret: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let token: String = (0..16)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    for (name, body) in [("cluster.secret", secret), ("admin.token", token)] {
        let p = etc.join(name);
        std::fs::write(&p, body)?;
        std::os::unix::fs::chown(&p, Some(0), Some(gid))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640))?;
    }
    let cfg = "node_id = 1\ncluster_name = \"pkgtest\"\ndata_dir = \"/var/lib/raftboot\"\n\
        secret_file = \"/etc/raftboot/cluster.secret\"\nadmin_token_file = \"/etc/raftboot/admin.token\"\n\n\
        [vip]\naddress = \"10.77.0.10/24\"\ninterface = \"eth0\"\n\n[dhcp]\ninterface = \"eth0\"\n\n\
        [[nodes]]\nid = 1\nname = \"boot-a\"\nrole = \"voter\"\npeer_addr = \"10.77.0.11:7100\"\n\
        admin_addr = \"10.77.0.11:7200\"\nlan = \"10.77.0.11/24\"\n";
    let p = root.join(CONFIG.trim_start_matches('/'));
    std::fs::write(&p, cfg)?;
    std::os::unix::fs::chown(&p, Some(0), Some(gid))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640))?;
    Ok(())
}

/// `(uid, gid, home, shell)` of a passwd entry.
fn passwd_entry(root: &Path, user: &str) -> anyhow::Result<Option<(u32, u32, String, String)>> {
    let text = std::fs::read_to_string(root.join("etc/passwd"))?;
    for l in text.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() == 7 && f[0] == user {
            return Ok(Some((
                f[2].parse()?,
                f[3].parse()?,
                f[5].to_string(),
                f[6].to_string(),
            )));
        }
    }
    Ok(None)
}

#[test]
fn package_installs_into_a_fresh_debian_root_and_bootd_starts_as_the_unit_runs_it(
) -> anyhow::Result<()> {
    anyhow::ensure!(nix::unistd::Uid::effective().is_root(), "needs root");
    let deb = package()?;
    println!("package: {}", deb.display());
    let cache = cached_root()?;
    let dir = tempfile::Builder::new()
        .prefix("raftboot-pkgroot-")
        .tempdir_in("/var/tmp")?;
    let root = dir.path().join("root");
    run_ok(Command::new("cp").arg("-a").arg(&cache).arg(&root))?;
    std::fs::copy(&deb, root.join("tmp/raftboot.deb"))?;

    // Install.
    let out = run_ok(
        Command::new("chroot")
            .arg(&root)
            .args(["dpkg", "-i", "/tmp/raftboot.deb"]),
    )?;
    println!("{out}");

    // Files.
    for f in [
        "usr/bin/bootd",
        "usr/bin/bootctl",
        UNIT,
        "usr/lib/modules-load.d/raftboot.conf",
        "usr/share/man/man1/bootd.1.gz",
        "usr/share/man/man1/bootd-run.1.gz",
        "usr/share/man/man1/bootctl.1.gz",
        "usr/share/man/man1/bootctl-failover.1.gz",
        "usr/share/man/man1/bootctl-hosts-add.1.gz",
        "usr/share/bash-completion/completions/bootctl",
        "usr/share/bash-completion/completions/bootd",
        "usr/share/zsh/vendor-completions/_raftboot_bootctl",
        "usr/share/zsh/vendor-completions/_bootd",
        "usr/share/fish/vendor_completions.d/bootctl.fish",
        "usr/share/fish/vendor_completions.d/bootd.fish",
        "usr/share/doc/raftboot/examples/pair-witness.toml",
        "usr/share/doc/raftboot/examples/trio.toml",
        "usr/share/doc/raftboot/operations.md",
        "usr/share/doc/raftboot/alerts/raftboot.rules.yml",
        "usr/share/doc/raftboot/grafana/raftboot.json",
    ] {
        anyhow::ensure!(root.join(f).is_file(), "{f} not installed");
    }
    for b in ["usr/bin/bootd", "usr/bin/bootctl"] {
        let mode = std::fs::metadata(root.join(b))?.permissions().mode();
        anyhow::ensure!(mode & 0o111 == 0o111, "{b} mode {mode:o}");
    }
    let bash = std::fs::read_to_string(root.join("usr/share/bash-completion/completions/bootctl"))?;
    anyhow::ensure!(
        bash.contains("failover") && bash.contains("--drill"),
        "bash completion lacks failover --drill"
    );
    let zsh =
        std::fs::read_to_string(root.join("usr/share/zsh/vendor-completions/_raftboot_bootctl"))?;
    anyhow::ensure!(
        zsh.starts_with("#compdef bootctl"),
        "zsh completion header: {:?}",
        zsh.lines().next()
    );
    // The installed binaries run inside the root and agree with their man pages.
    let help = run_ok(
        Command::new("chroot")
            .arg(&root)
            .args(["bootctl", "--help"]),
    )?;
    anyhow::ensure!(help.contains("failover"), "{help}");
    let man = run_ok(
        Command::new("chroot")
            .arg(&root)
            .args(["man", "-w", "bootctl-failover"]),
    )?;
    anyhow::ensure!(man.contains("bootctl-failover.1"), "{man}");

    // The user, the dirs, the unit enabled but nothing configured.
    let (uid, gid, home, shell) = passwd_entry(&root, "raftboot")?.context("no raftboot user")?;
    println!("raftboot user: uid {uid} gid {gid} home {home} shell {shell}");
    anyhow::ensure!(uid < 1000 && uid > 0, "not a system uid: {uid}");
    anyhow::ensure!(shell == "/usr/sbin/nologin", "shell {shell}");
    anyhow::ensure!(home == "/var/lib/raftboot", "home {home}");
    let group = std::fs::read_to_string(root.join("etc/group"))?;
    anyhow::ensure!(
        group
            .lines()
            .any(|l| l.starts_with(&format!("raftboot:x:{gid}:"))),
        "no raftboot group {gid}"
    );
    let data = std::fs::metadata(root.join("var/lib/raftboot"))?;
    anyhow::ensure!(
        data.uid() == uid && data.gid() == gid,
        "data dir owned by {}:{}",
        data.uid(),
        data.gid()
    );
    anyhow::ensure!(
        data.mode() & 0o7777 == 0o750,
        "data dir mode {:o}",
        data.mode() & 0o7777
    );
    let etc = std::fs::metadata(root.join("etc/raftboot"))?;
    anyhow::ensure!(
        etc.uid() == 0 && etc.gid() == gid,
        "config dir owned by {}:{}",
        etc.uid(),
        etc.gid()
    );
    anyhow::ensure!(
        etc.mode() & 0o7777 == 0o750,
        "config dir mode {:o}",
        etc.mode() & 0o7777
    );
    let wants = root.join("etc/systemd/system/multi-user.target.wants/bootd.service");
    anyhow::ensure!(wants.symlink_metadata().is_ok(), "unit not enabled");
    anyhow::ensure!(
        !root.join(CONFIG.trim_start_matches('/')).exists(),
        "a config was installed"
    );

    // The unit: systemd-analyze verify in the root (man: links checked against the installed
    // pages), and its condition false until the config exists.
    let unit = std::fs::read_to_string(root.join(UNIT))?;
    let analyze = |args: &str| -> anyhow::Result<Output> {
        run(Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount -t proc proc {r}/proc && exec chroot {r} systemd-analyze {args}",
                r = root.display()
            )))
    };
    let verify = analyze(&format!("verify /{UNIT}"))?;
    let verify_text = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    println!("systemd-analyze verify: {} {verify_text}", verify.status);
    anyhow::ensure!(
        verify.status.success(),
        "systemd-analyze verify refused the unit: {verify_text}"
    );
    anyhow::ensure!(
        !verify_text.contains("bootd.service"),
        "systemd-analyze verify warns: {verify_text}"
    );
    // systemd's own rating of the sandbox (lower is tighter; 4.5 "OK" when written).
    let sec = analyze(&format!("security --offline=true /{UNIT}"))?;
    let sec_text = String::from_utf8_lossy(&sec.stdout).into_owned();
    let exposure: f64 = sec_text
        .lines()
        .find_map(|l| l.split("Overall exposure level for bootd.service:").nth(1))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no exposure level in {sec_text}"))?;
    println!("systemd-analyze security: exposure {exposure}");
    anyhow::ensure!(
        exposure <= 5.0,
        "sandbox got weaker: exposure {exposure}\n{sec_text}"
    );
    let conditions = unit_values(&unit, "ConditionPathExists");
    anyhow::ensure!(conditions == [CONFIG], "ConditionPathExists={conditions:?}");
    let cond = analyze(&format!("condition ConditionPathExists={CONFIG}"))?;
    anyhow::ensure!(
        !cond.status.success(),
        "condition true before the config exists"
    );

    write_config(&root, gid)?;
    let cond = analyze(&format!("condition ConditionPathExists={CONFIG}"))?;
    anyhow::ensure!(
        cond.status.success(),
        "condition false with the config: {cond:?}"
    );
    // The example configs pass the packaged config check (now that the secrets exist).
    let check = run_ok(Command::new("chroot").arg(&root).args([
        "bootctl",
        "config",
        "check",
        "/usr/share/doc/raftboot/examples/pair-witness.toml",
    ]))?;
    anyhow::ensure!(check.contains("ok"), "{check}");
    // ExecStartPre= is the packaged config check.
    let pre = unit_values(&unit, "ExecStartPre");
    let pre_out = run_ok(Command::new("chroot").arg(&root).args(&pre))?;
    println!("ExecStartPre: {}", pre_out.trim());

    // Start bootd as the unit does.
    let user = unit_values(&unit, "User").join("");
    anyhow::ensure!(user == "raftboot", "User={user}");
    let caps = unit_values(&unit, "AmbientCapabilities");
    let bounding = unit_values(&unit, "CapabilityBoundingSet");
    anyhow::ensure!(
        caps == bounding,
        "ambient {caps:?} != bounding {bounding:?}"
    );
    println!("unit capabilities: {caps:?}");
    let ns = Netns::new()?;
    let nnp = unit_values(&unit, "NoNewPrivileges") == ["yes"];
    anyhow::ensure!(nnp, "the unit does not set NoNewPrivileges=yes");
    let bootd = Bootd(start_bootd(&root, &ns, &user, &caps, nnp)?);
    let pid = bootd.0.id();
    let status = wait::until(
        "the packaged bootd to lead and hold the VIP",
        Duration::from_secs(60),
        || {
            let out = ns
                .cmd("chroot")
                .arg(&root)
                .args([
                    "bootctl",
                    "--api",
                    "10.77.0.11:7200",
                    "--token-file",
                    "/etc/raftboot/admin.token",
                    "--json",
                    "status",
                ])
                .output()
                .map_err(|e| e.to_string())?;
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)
                .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stderr)))?;
            if v["leader"] == 1 && v["vip_holder"] == 1 {
                Ok(v)
            } else {
                Err(v.to_string())
            }
        },
    );
    let log = std::fs::read_to_string(root.join("tmp/bootd.log")).unwrap_or_default();
    let status = status.with_context(|| format!("bootd log:\n{log}"))?;
    println!(
        "packaged bootctl status: leader {} vip {} held by {}",
        status["leader"], status["vip"], status["vip_holder"]
    );
    // It runs as the unit's user, and wrote its state into the data dir.
    let proc_status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let uid_line = proc_status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap_or("");
    anyhow::ensure!(
        uid_line.split_whitespace().nth(1) == Some(uid.to_string().as_str()),
        "bootd runs as {uid_line}, not uid {uid}"
    );
    anyhow::ensure!(
        root.join("var/lib/raftboot/sled").exists(),
        "no state in the data dir"
    );
    for port in [
        "0.0.0.0:67",
        "0.0.0.0:69",
        "0.0.0.0:80",
        "0.0.0.0:111",
        "0.0.0.0:2049",
    ] {
        anyhow::ensure!(
            log.contains(port),
            "bootd did not report listening on {port}:\n{log}"
        );
    }
    drop(bootd);

    // Without CAP_SYS_ADMIN the VIP namespace cannot be made: a clear error, exit 1.
    let fewer: Vec<String> = caps
        .iter()
        .filter(|c| *c != "CAP_SYS_ADMIN")
        .cloned()
        .collect();
    anyhow::ensure!(
        fewer.len() + 1 == caps.len(),
        "the unit lacks CAP_SYS_ADMIN: {caps:?}"
    );
    let mut child = Bootd(start_bootd(&root, &ns, &user, &fewer, nnp)?);
    let st = wait::until(
        "bootd without CAP_SYS_ADMIN to exit",
        Duration::from_secs(30),
        || {
            child
                .0
                .try_wait()
                .map_err(|e| e.to_string())?
                .ok_or("still running".to_string())
        },
    )?;
    let log = std::fs::read_to_string(root.join("tmp/bootd.log")).unwrap_or_default();
    println!(
        "without CAP_SYS_ADMIN: {st}: {}",
        log.lines().last().unwrap_or("")
    );
    anyhow::ensure!(!st.success(), "bootd ran without CAP_SYS_ADMIN");
    anyhow::ensure!(log.contains("CAP_SYS_ADMIN"), "unclear error: {log}");
    drop(ns);

    // Reinstalling (dpkg's upgrade path) keeps the user, the state and the operator's
    // choice: a unit disabled with systemctl stays disabled.
    run_ok(
        Command::new("chroot")
            .arg(&root)
            .args(["systemctl", "disable", "bootd.service"]),
    )?;
    anyhow::ensure!(
        wants.symlink_metadata().is_err(),
        "systemctl disable left the unit enabled"
    );
    run_ok(
        Command::new("chroot")
            .arg(&root)
            .args(["dpkg", "-i", "/tmp/raftboot.deb"]),
    )?;
    anyhow::ensure!(
        passwd_entry(&root, "raftboot")?.map(|e| e.0) == Some(uid),
        "the user changed on reinstall"
    );
    anyhow::ensure!(
        root.join("var/lib/raftboot/sled").exists(),
        "state lost on reinstall"
    );
    anyhow::ensure!(
        wants.symlink_metadata().is_err(),
        "reinstall re-enabled a disabled unit"
    );

    // Purge: user, data dir and enablement go; the config dir (secrets) stays.
    run_ok(
        Command::new("chroot")
            .arg(&root)
            .args(["dpkg", "--purge", "raftboot"]),
    )?;
    anyhow::ensure!(
        passwd_entry(&root, "raftboot")?.is_none(),
        "user left after purge"
    );
    anyhow::ensure!(
        !root.join("var/lib/raftboot").exists(),
        "data dir left after purge"
    );
    anyhow::ensure!(
        wants.symlink_metadata().is_err(),
        "unit still enabled after purge"
    );
    anyhow::ensure!(
        !root.join("usr/bin/bootd").exists(),
        "bootd left after purge"
    );
    Ok(())
}
