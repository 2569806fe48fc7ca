//! Bounded waiting for a condition: poll until it holds or the deadline passes.

use std::time::{Duration, Instant};

/// Poll `cond` every `every` until it returns `Some`, or fail after `timeout` with `what`
/// and the last observation.
pub fn until<T>(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> Result<T, String>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    let mut last = String::from("never checked");
    let every = Duration::from_millis(50);
    while start.elapsed() < timeout {
        match cond() {
            Ok(v) => return Ok(v),
            Err(e) => last = e,
        }
        std::thread::sleep(every);
    }
    anyhow::bail!("timed out after {timeout:?} waiting for {what}; last: {last}")
}
