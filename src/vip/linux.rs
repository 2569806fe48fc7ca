//! The Linux VIP backend. At start-up ([`MacvlanBackend::prepare`]) a macvlan (bridge mode)
//! is created on the configured interface in the node's namespace and moved into the
//! [`VipNamespace`], where it stays down and without an address. Claiming gives it the VIP,
//! brings it up and sends gratuitous ARPs (two short commands instead of five, so the claim
//! costs a few milliseconds); releasing deletes the macvlan (the next claim creates it
//! again). The namespace holding it dies with the process, so does the VIP.

use super::backend::VipBackend;
use super::netns::VipNamespace;

/// Claims the VIP on a macvlan inside this process's VIP namespace.
pub struct MacvlanBackend {
    pub ns: std::sync::Arc<VipNamespace>,
    pub parent: String,
    pub link: String,
    pub vip: std::net::Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<std::net::Ipv4Addr>,
    /// The macvlan exists in the VIP namespace (down, no address).
    pub prepared: bool,
    /// The backstop that takes the VIP down if this process stops renewing
    /// ([`super::lease_guard`]); `None` if it could not be started.
    pub guard: Option<super::lease_guard::LeaseGuard>,
}

fn host(args: &[&str]) -> Result<(), String> {
    super::netns::run_command(args)
}

impl MacvlanBackend {
    /// Remove a leftover macvlan of ours from the host namespace (a claim interrupted
    /// between creating and moving it).
    pub fn clean_host(&self) {
        let _ = host(&["ip", "link", "del", &self.link]);
    }

    /// Create the macvlan and move it into the VIP namespace, down and without an address,
    /// so a later claim only adds the address and brings it up.
    pub fn prepare(&mut self) -> Result<(), String> {
        self.clean_host();
        let _ = self.ns.run(&["ip", "link", "del", &self.link]);
        host(&[
            "ip",
            "link",
            "add",
            &self.link,
            "link",
            &self.parent,
            "type",
            "macvlan",
            "mode",
            "bridge",
        ])?;
        if let Err(e) = host(&[
            "ip",
            "link",
            "set",
            &self.link,
            "netns",
            &self.ns.tid.to_string(),
        ]) {
            self.clean_host();
            return Err(e);
        }
        self.prepared = true;
        Ok(())
    }
}

impl VipBackend for MacvlanBackend {
    fn claim(&mut self) -> Result<(), String> {
        if !self.prepared {
            self.prepare()?;
        }
        let cidr = format!("{}/{}", self.vip, self.prefix);
        self.ns
            .run(&["ip", "addr", "replace", &cidr, "dev", &self.link])?;
        self.ns.run(&["ip", "link", "set", &self.link, "up"])?;
        if let Some(gw) = self.gateway {
            let _ = self
                .ns
                .run(&["ip", "route", "replace", "default", "via", &gw.to_string()]);
        }
        // Gratuitous ARP so switches and clients learn the new holder's MAC at once, sent
        // by a thread of ours (a helper process would outlive a killed bootd).
        match self.ns.file() {
            Ok(f) => super::garp::announce(f, self.link.clone(), self.vip, 3),
            Err(e) => tracing::warn!(error = %e, "gratuitous ARP skipped"),
        }
        Ok(())
    }

    fn renew(&mut self, valid_for: std::time::Duration) {
        if let Some(g) = &mut self.guard {
            if let Err(e) = g.renew(valid_for) {
                tracing::error!(error = %e, "VIP lease guard gone; a stopped bootd would keep the VIP");
                self.guard = None;
            }
        }
    }

    fn lease_expired(&mut self) -> bool {
        self.guard.as_ref().is_some_and(|g| g.take_expired())
    }

    fn release(&mut self) -> Result<(), String> {
        self.prepared = false;
        self.ns.run(&["ip", "link", "del", &self.link])?;
        // Ready for the next claim; a failure here only makes that claim slower.
        if let Err(e) = self.prepare() {
            tracing::warn!(error = %e, "re-creating the VIP macvlan after a release");
        }
        Ok(())
    }
}
