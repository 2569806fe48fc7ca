//! `GET /v1/boots`: this node's boot tracker (which stages of which machine's boot it served
//! and when), with host names from the replicated host table.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;

use super::types::{BootStageView, BootView, NodeBoots};
use super::{AppState, Authed};
use crate::bootfiles::{BootKey, BootRecord};

/// Turn one tracker record into its API form (stages ordered by first sight).
pub fn view(key: &BootKey, rec: &BootRecord, host: Option<String>) -> BootView {
    let mut stages: Vec<BootStageView> = rec
        .stages
        .iter()
        .map(|(stage, s)| BootStageView {
            stage: stage.as_str().to_string(),
            first_ms: s.first_ms,
            last_ms: s.last_ms,
            count: s.count,
            last_path: s.last_path.clone(),
        })
        .collect();
    stages.sort_by(|a, b| a.first_ms.cmp(&b.first_ms).then(a.stage.cmp(&b.stage)));
    BootView {
        key: key.to_string(),
        host,
        last_addr: rec.last_addr.map(|a| a.to_string()),
        last_ms: rec.last_ms,
        stages,
    }
}

/// `GET /v1/boots?newest=N`: only the N machines seen most recently (all without it).
#[derive(Debug, Default, serde::Deserialize)]
pub struct BootsQuery {
    pub newest: Option<usize>,
}

/// This node's tracker records, with host names; with `newest`, only the machines seen
/// most recently.
pub fn local(st: &AppState, newest: Option<usize>) -> NodeBoots {
    let mut records = st.boots.as_ref().map(|t| t.snapshot()).unwrap_or_default();
    if let Some(n) = newest {
        records.sort_by_key(|(_, r)| std::cmp::Reverse(r.last_ms));
        records.truncate(n);
    }
    let boots = {
        let data = st.shared.read();
        records
            .iter()
            .map(|(k, r)| {
                let host = match k {
                    BootKey::Mac(m) => data.state.hosts.get(m).map(|h| h.name.clone()),
                    BootKey::Ip(_) => None,
                };
                view(k, r, host)
            })
            .collect()
    };
    NodeBoots {
        id: st.raft.metrics().borrow().id,
        name: st.node_name.clone(),
        boots,
    }
}

pub async fn list(
    _: Authed,
    State(st): State<Arc<AppState>>,
    Query(q): Query<BootsQuery>,
) -> Json<NodeBoots> {
    Json(local(&st, q.newest))
}
