//! `GET /v1/boots`: the boot stages this node served to each machine (its
//! [`crate::bootfiles::BootTracker`], fed by TFTP and HTTP boot on the node address and the
//! VIP). Empty on a witness.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;

use super::types::{BootStageView, BootView};
use super::{AppState, Authed};

pub async fn list(_: Authed, State(st): State<Arc<AppState>>) -> Json<Vec<BootView>> {
    let Some(files) = &st.boot_files else {
        return Json(Vec::new());
    };
    let views = files
        .tracker()
        .snapshot()
        .into_iter()
        .map(|(key, rec)| BootView {
            machine: key.to_string(),
            last_addr: rec.last_addr.map(|a| a.to_string()),
            last_ms: rec.last_ms,
            stages: rec
                .stages
                .into_iter()
                .map(|(stage, s)| BootStageView {
                    stage: stage.as_str().to_string(),
                    first_ms: s.first_ms,
                    last_ms: s.last_ms,
                    count: s.count,
                    last_path: s.last_path,
                })
                .collect(),
        })
        .collect();
    Json(views)
}
