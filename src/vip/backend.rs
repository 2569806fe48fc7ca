//! What claiming and releasing the VIP do. `VipBackend` has two implementations: the
//! recording fake used by unit tests, and the Linux backend (macvlan in a network namespace
//! only bootd holds) that arrives with the namespace test harness.

/// Claims and releases the VIP.
pub trait VipBackend: Send {
    /// Add the address and announce it (gratuitous ARP).
    fn claim(&mut self) -> Result<(), String>;
    /// Remove the address.
    fn release(&mut self) -> Result<(), String>;
    /// While holding: renew the backstop lease until `valid_for` from now, the instant the
    /// hold rule would stop allowing the hold (`ZERO`: not holding). See
    /// [`super::lease_guard`].
    fn renew(&mut self, _valid_for: std::time::Duration) {}
    /// True (once) when the backstop took the VIP down because no renewal came in time.
    fn lease_expired(&mut self) -> bool {
        false
    }
}

/// A backend that only records what it was asked to do.
#[derive(Debug, Default, Clone)]
pub struct RecordingBackend {
    pub events: Vec<&'static str>,
    pub fail_claims: bool,
    /// The last lease renewal asked for.
    pub last_renewal: Option<std::time::Duration>,
    /// Report an expired lease at the next check (then clear).
    pub expire_next: bool,
}

impl VipBackend for RecordingBackend {
    fn claim(&mut self) -> Result<(), String> {
        self.events.push("claim");
        if self.fail_claims {
            Err("claim refused (test)".into())
        } else {
            Ok(())
        }
    }
    fn release(&mut self) -> Result<(), String> {
        self.events.push("release");
        Ok(())
    }
    fn renew(&mut self, valid_for: std::time::Duration) {
        self.last_renewal = Some(valid_for);
    }
    fn lease_expired(&mut self) -> bool {
        std::mem::take(&mut self.expire_next)
    }
}
