//! The failover drill's service probes, run from the host bootctl runs on: each asks the
//! VIP (or, for DHCP, the VIP's subnet) the way a booting machine would, retrying until a
//! good answer or a deadline. Codecs are pure functions; the socket loops are thin.
//!
//! [`dhcp`]: a DHCPINFORM broadcast on the VIP's subnet, answered by exactly the expected
//! node. [`tftp`]: a whole small file read from the VIP. [`nfs`]: the portmapper on the
//! VIP names the NFS port, and NFS NULL answers there.

pub mod dhcp;
pub mod nfs;
pub mod tftp;

use std::time::{Duration, Instant};

/// A probe's good answer: when it arrived, and what it showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub at_ms: u64,
    pub detail: String,
}

impl Answer {
    /// An answer that arrived just now.
    pub fn now(detail: String) -> Answer {
        Answer {
            at_ms: raftboot_raft::peer::wall_clock_ms(),
            detail,
        }
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No (good) answer yet: try again.
    Retry(String),
    /// A wrong answer (e.g. a second DHCP server): the probe fails now.
    Fatal(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Retry(s)
    }
}

/// Run `attempt` until it succeeds, fails fatally, or `deadline` passes (an attempt is
/// never started after the deadline). Returns the answer, or the last error.
pub fn retry(
    deadline: Instant,
    pause: Duration,
    mut attempt: impl FnMut() -> Result<Answer, Failure>,
) -> Result<Answer, String> {
    let mut last = "never tried".to_string();
    while Instant::now() < deadline {
        match attempt() {
            Ok(answer) => return Ok(answer),
            Err(Failure::Retry(e)) => last = e,
            Err(Failure::Fatal(e)) => return Err(e),
        }
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_stops_on_success_fatal_or_deadline() {
        let far = Instant::now() + Duration::from_secs(5);
        let mut n = 0;
        let r = retry(far, Duration::ZERO, || {
            n += 1;
            if n < 3 {
                Err(Failure::Retry(format!("try {n}")))
            } else {
                Ok(Answer::now("yes".into()))
            }
        });
        assert_eq!(r.map(|a| a.detail), Ok("yes".to_string()));
        let r = retry(far, Duration::ZERO, || {
            Err(Failure::Fatal("two servers".into()))
        });
        assert_eq!(r, Err("two servers".to_string()));
        let past = Instant::now();
        assert_eq!(
            retry(past, Duration::ZERO, || Ok(Answer::now("never".into()))),
            Err("never tried".to_string())
        );
    }
}
