//! What claiming and releasing the VIP do. `VipBackend` has two implementations: the
//! recording fake used by unit tests, and the Linux backend (macvlan in a network namespace
//! only bootd holds) that arrives with the namespace test harness.

/// Claims and releases the VIP.
pub trait VipBackend: Send {
    /// Add the address and announce it (gratuitous ARP).
    fn claim(&mut self) -> Result<(), String>;
    /// Remove the address.
    fn release(&mut self) -> Result<(), String>;
}

/// A backend that only records what it was asked to do.
#[derive(Debug, Default, Clone)]
pub struct RecordingBackend {
    pub events: Vec<&'static str>,
    pub fail_claims: bool,
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
}
