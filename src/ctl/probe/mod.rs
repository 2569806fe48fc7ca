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

/// A probe's good answer: when, and what it showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub at_ms: u64,
    pub detail: String,
}

/// Run `attempt` until it succeeds or `deadline` passes (an attempt is never started after
/// the deadline). Returns the answer, or the last error.
pub fn retry(
    deadline: Instant,
    pause: Duration,
    mut attempt: impl FnMut() -> Result<String, String>,
) -> Result<Answer, String> {
    let mut last = "never tried".to_string();
    while Instant::now() < deadline {
        match attempt() {
            Ok(detail) => {
                return Ok(Answer {
                    at_ms: raftboot_raft::peer::wall_clock_ms(),
                    detail,
                })
            }
            Err(e) => last = e,
        }
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
    }
    Err(last)
}
