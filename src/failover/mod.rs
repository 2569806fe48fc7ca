//! Planned failover (`bootctl failover [--to NODE] [--drill]`): the leader yields so another
//! boot server takes over leadership and the VIP, without ever two VIP holders.
//!
//! [`plan`] decides (pure) who takes over and who holds still; [`orchestrator`] is the
//! leader's thin I/O loop (election holds over the peer network, the VIP controller's
//! yield, the target's campaign); [`timeline`] turns the nodes' recorded facts and the
//! drill's probe results into the timeline `--drill` prints, each step against a budget
//! (pure); [`render`] prints it.

pub mod orchestrator;
pub mod plan;
pub mod render;
pub mod timeline;

pub use orchestrator::{Failover, FailoverError, FailoverStats};
pub use plan::{plan, Member, Plan, PlanError};
