//! [`Browser`]: a real headless Chromium (Debian's `chromium` + `chromium-driver`) driven
//! over the W3C WebDriver protocol with a tiny ureq client, all inside one network namespace
//! of a [`Lan`] (chromedriver listens on that namespace's loopback; the page it loads is on
//! the LAN). The chromedriver process is started by PID and killed by PID on drop, with the
//! browser it started; the profile lives in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use crate::lan::Lan;
use crate::wait;

/// chromedriver's port on the namespace's own loopback (private to that namespace).
const DRIVER_PORT: u16 = 9515;

/// Find a program on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// The flags every headless Chromium of the tests gets: no sandbox (tests run as root), no
/// GPU, no /dev/shm, and none of the background traffic a fresh profile starts.
pub fn chromium_flags(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(std::iter::once(format!(
        "--user-data-dir={}",
        profile.display()
    )))
    .collect()
}

/// One WebDriver session of a headless Chromium in a namespace.
pub struct Browser {
    lan: Arc<Lan>,
    ns: String,
    driver: Option<Child>,
    session: String,
    _profile: tempfile::TempDir,
}

/// One WebDriver call, run inside the namespace; the answer's `value`.
fn call(
    lan: &Lan,
    ns: &str,
    method: &'static str,
    path: String,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    lan.in_ns(ns, move || -> anyhow::Result<Value> {
        let url = format!("http://127.0.0.1:{DRIVER_PORT}{path}");
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build();
        let req = agent.request(method, &url);
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let v: Value = match res {
            Ok(r) => r.into_json()?,
            Err(ureq::Error::Status(code, r)) => {
                let text = r.into_string().unwrap_or_default();
                anyhow::bail!("WebDriver {method} {path}: HTTP {code}: {text}")
            }
            Err(e) => anyhow::bail!("WebDriver {method} {path}: {e}"),
        };
        Ok(v.get("value").cloned().unwrap_or(Value::Null))
    })?
}

impl Browser {
    /// Start chromedriver in namespace `ns` and open a headless Chromium session.
    pub fn start(lan: Arc<Lan>, ns: &str, width: u32, height: u32) -> anyhow::Result<Browser> {
        let driver = which("chromedriver")
            .context("chromedriver not found (Debian package chromium-driver)")?;
        let chromium = which("chromium").context("chromium not found (Debian package chromium)")?;
        let profile = tempfile::Builder::new()
            .prefix("raftboot-chromium-")
            .tempdir()?;
        let child = lan
            .cmd(ns, &driver.to_string_lossy())
            .arg(format!("--port={DRIVER_PORT}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?;
        let mut b = Browser {
            lan,
            ns: ns.to_string(),
            driver: Some(child),
            session: String::new(),
            _profile: profile,
        };
        wait::until(
            "chromedriver to be ready",
            Duration::from_secs(20),
            || match call(&b.lan, &b.ns, "GET", "/status".into(), None) {
                Ok(v) if v["ready"] == json!(true) => Ok(()),
                Ok(v) => Err(format!("not ready: {v}")),
                Err(e) => Err(e.to_string()),
            },
        )?;
        let mut args = chromium_flags(b._profile.path());
        args.push(format!("--window-size={width},{height}"));
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "goog:chromeOptions": {
                        "binary": chromium.to_string_lossy(),
                        "args": args,
                    }
                }
            }
        });
        let v = call(&b.lan, &b.ns, "POST", "/session".into(), Some(caps))?;
        b.session = v["sessionId"]
            .as_str()
            .context("WebDriver: no sessionId in the new session's answer")?
            .to_string();
        Ok(b)
    }

    /// Load `url` (waits for the page's load event).
    pub fn goto(&self, url: &str) -> anyhow::Result<()> {
        call(
            &self.lan,
            &self.ns,
            "POST",
            format!("/session/{}/url", self.session),
            Some(json!({ "url": url })),
        )?;
        Ok(())
    }

    /// Run `script` (a function body; `return` gives the answer) in the page.
    pub fn eval(&self, script: &str) -> anyhow::Result<Value> {
        call(
            &self.lan,
            &self.ns,
            "POST",
            format!("/session/{}/execute/sync", self.session),
            Some(json!({ "script": script, "args": [] })),
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = call(
                &self.lan,
                &self.ns,
                "DELETE",
                format!("/session/{}", self.session),
                None,
            );
        }
        if let Some(mut child) = self.driver.take() {
            // `ip netns exec` execs chromedriver in place: this PID is chromedriver's.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A one-shot screenshot with `chromium --headless --screenshot` inside namespace `ns`;
/// `budget_ms` of virtual time lets the page's script poll and render first.
pub fn screenshot(
    lan: &Lan,
    ns: &str,
    url: &str,
    out: &Path,
    (width, height): (u32, u32),
    budget_ms: u64,
) -> anyhow::Result<()> {
    let chromium = which("chromium").context("chromium not found (Debian package chromium)")?;
    let profile = tempfile::Builder::new()
        .prefix("raftboot-chromium-")
        .tempdir()?;
    let mut child = lan
        .cmd(ns, &chromium.to_string_lossy())
        .args(chromium_flags(profile.path()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg(format!("--screenshot={}", out.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("running chromium --screenshot")?;
    let status = wait::until(
        "chromium --screenshot to finish",
        Duration::from_secs(90),
        || match child.try_wait() {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err("still running".into()),
            Err(e) => Err(e.to_string()),
        },
    );
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    anyhow::ensure!(
        status.success() && out.exists(),
        "chromium --screenshot failed ({status})"
    );
    Ok(())
}
