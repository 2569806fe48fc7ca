//! The Linux VIP backend: claiming creates a macvlan (bridge mode) on the configured
//! interface in the node's namespace, moves it into the [`VipNamespace`], gives it the VIP,
//! brings it up and sends gratuitous ARPs; releasing deletes the macvlan. The namespace
//! holding it dies with the process, so does the VIP.

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
}

impl VipBackend for MacvlanBackend {
    fn claim(&mut self) -> Result<(), String> {
        self.clean_host();
        let tid = self.ns.tid.to_string();
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
        if let Err(e) = host(&["ip", "link", "set", &self.link, "netns", &tid]) {
            self.clean_host();
            return Err(e);
        }
        let cidr = format!("{}/{}", self.vip, self.prefix);
        self.ns
            .run(&["ip", "addr", "add", &cidr, "dev", &self.link])?;
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

    fn release(&mut self) -> Result<(), String> {
        self.ns.run(&["ip", "link", "del", &self.link])
    }
}
