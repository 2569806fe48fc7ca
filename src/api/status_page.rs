//! The live status page: `GET /status` serves a static HTML page (plus its script and style
//! sheet, embedded in the binary, no build step) and `GET /v1/overview` the one JSON document
//! the page polls every second: the cluster status `bootctl status` shows (members, roles,
//! leader, term, lag, the VIP holder and its last moves), the images with per-node readiness
//! (`bootctl image list`) and each machine's last boot timeline (`bootctl boots`).
//!
//! The page itself carries no data, so it is served without a token; the script reads the
//! token from the URL fragment (`/status#token=...`, never sent to the server, so it never
//! reaches a log) and sends it as a Bearer header on `/v1/overview`, which needs the token
//! like every `/v1` call. The node serving the page asks the other members over their admin
//! API (short timeouts, in parallel); a member that does not answer is shown with its error.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::images::{image_views, ImageView};
use super::types::{NodeBoots, NodeStatus};
use super::{AppState, Authed};
use crate::ctl::boots::{merge, Timeline};
use crate::ctl::client::AdminClient;
use crate::ctl::commands::{assemble, last_moves, ClusterStatus};
use crate::vip::moves::VipEvent;

const PAGE: &str = include_str!("assets/status.html");
const SCRIPT: &str = include_str!("assets/status.js");
const STYLE: &str = include_str!("assets/status.css");

/// Machines shown on the page (the most recently seen ones).
pub const BOOTS_SHOWN: usize = 20;
/// VIP moves shown on the page (the newest, across all nodes).
pub const MOVES_SHOWN: usize = 12;
/// Per-member call budget of the fan-out.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const CALL_TIMEOUT: Duration = Duration::from_millis(1500);

/// What `GET /v1/overview` returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Overview {
    /// The node that assembled this document.
    pub served_by: u64,
    /// Its wall clock when it did, ms since the epoch.
    pub generated_ms: u64,
    pub status: ClusterStatus,
    /// The newest VIP events across all nodes, oldest first: (node, event).
    pub vip_moves: Vec<(u64, VipEvent)>,
    pub images: Vec<ImageView>,
    /// The most recently seen machines' timelines, newest last.
    pub boots: Vec<Timeline>,
    /// Boot servers whose boot records could not be read: (name, reason).
    pub boots_unreachable: Vec<(String, String)>,
}

/// The page's routes: `/status`, its two assets, and `/v1/overview`.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/status", get(page))
        .route("/status/app.js", get(script))
        .route("/status/app.css", get(style))
        .route("/v1/overview", get(overview))
}

/// Headers every asset gets: no caching, no sniffing, no referrer (the fragment never
/// leaves the browser anyway), and a policy that allows only this origin's script, style
/// and JSON.
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                 img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        ],
        body,
    )
}

async fn page() -> impl IntoResponse {
    asset("text/html; charset=utf-8", PAGE)
}

async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> impl IntoResponse {
    asset("text/css; charset=utf-8", STYLE)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What one other member answered (status, and boot records unless it is a witness).
struct Answer {
    status: Result<NodeStatus, String>,
    boots: Option<Result<NodeBoots, String>>,
}

/// Ask every other member for its status and boot records, one thread per member.
fn fan_out(
    first: &NodeStatus,
    token: &str,
    ca_file: Option<&std::path::Path>,
) -> Vec<Option<Answer>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = first
            .members
            .iter()
            .map(|m| {
                (m.id != first.id).then(|| {
                    let c = AdminClient::with_timeouts(
                        vec![m.admin_addr.clone()],
                        token.to_string(),
                        CONNECT_TIMEOUT,
                        CALL_TIMEOUT,
                    );
                    let c = match ca_file {
                        Some(ca) => c.with_ca(ca),
                        None => Ok(c),
                    };
                    let witness = m.witness;
                    s.spawn(move || {
                        let c = match c {
                            Ok(c) => c,
                            Err(e) => {
                                return Answer {
                                    status: Err(e.to_string()),
                                    boots: None,
                                }
                            }
                        };
                        let status = c.get::<NodeStatus>("/v1/status").map_err(|e| e.to_string());
                        let boots = (!witness).then(|| {
                            c.get::<NodeBoots>(&format!("/v1/boots?newest={BOOTS_SHOWN}"))
                                .map_err(|e| e.to_string())
                        });
                        Answer { status, boots }
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.map(|h| {
                    h.join().unwrap_or_else(|_| Answer {
                        status: Err("status call panicked".into()),
                        boots: None,
                    })
                })
            })
            .collect()
    })
}

/// Put this node's own view and the members' answers together (pure).
fn build(
    me: NodeStatus,
    my_boots: Option<NodeBoots>,
    images: Vec<ImageView>,
    answers: Vec<Option<Answer>>,
    generated_ms: u64,
) -> Overview {
    let mut statuses = Vec::new();
    let mut boots: Vec<NodeBoots> = my_boots.into_iter().collect();
    let mut boots_unreachable = Vec::new();
    for (m, a) in me.members.iter().zip(answers) {
        match a {
            None => statuses.push(Ok(me.clone())),
            Some(a) => {
                statuses.push(a.status);
                match a.boots {
                    Some(Ok(b)) => boots.push(b),
                    Some(Err(e)) => boots_unreachable.push((m.name.clone(), e)),
                    None => {}
                }
            }
        }
    }
    let status = assemble(&me, statuses);
    let vip_moves = last_moves(&status, MOVES_SHOWN);
    let mut machines = merge(&boots, None);
    let skip = machines.len().saturating_sub(BOOTS_SHOWN);
    let machines = machines.split_off(skip);
    Overview {
        served_by: me.id,
        generated_ms,
        status,
        vip_moves,
        images,
        boots: machines,
        boots_unreachable,
    }
}

/// `GET /v1/overview`: everything the status page shows, in one document.
pub async fn overview(
    _: Authed,
    State(st): State<Arc<AppState>>,
) -> Result<Json<Overview>, ApiError> {
    let me = super::handlers::node_status(&st);
    let my_boots = st
        .boots
        .is_some()
        .then(|| super::boots::local(&st, Some(BOOTS_SHOWN)));
    let images = image_views(&st);
    let token = st.token.clone();
    let ca = st.ca_file.clone();
    let doc = tokio::task::spawn_blocking(move || {
        let answers = fan_out(&me, &token, ca.as_deref());
        build(me, my_boots, images, answers, now_ms())
    })
    .await
    .map_err(|e| ApiError::Unavailable(format!("overview: {e}")))?;
    Ok(Json(doc))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::api::types::{BootStageView, BootView, MemberInfo};
    use crate::vip::moves::VipEventKind;

    fn member(id: u64, witness: bool) -> MemberInfo {
        MemberInfo {
            id,
            name: format!("node{id}"),
            peer_addr: format!("127.0.0.1:{}", 7100 + id),
            admin_addr: format!("127.0.0.1:{}", 7200 + id),
            voter: true,
            witness,
        }
    }

    fn status(id: u64, leader: Option<u64>, term: u64, applied: u64) -> NodeStatus {
        NodeStatus {
            id,
            name: format!("node{id}"),
            cluster: "t".into(),
            server_state: if leader == Some(id) {
                "Leader"
            } else {
                "Follower"
            }
            .into(),
            term,
            leader,
            last_log_index: Some(applied),
            applied_index: Some(applied),
            snapshot_index: None,
            state_digest: "d".into(),
            members: vec![member(1, false), member(2, false), member(3, true)],
            replication: Default::default(),
            millis_since_quorum_ack: None,
            vip: Some("10.0.0.10/24".into()),
            vip_holder: (leader == Some(id)).then_some(id),
            vip_events: vec![VipEvent {
                at_ms: 1000 + id,
                term,
                kind: VipEventKind::Elected,
            }],
            lan: None,
            snapshots_installed: 0,
            hosts: 0,
            leases: 0,
        }
    }

    fn boots(id: u64, key: &str, first_ms: u64) -> NodeBoots {
        NodeBoots {
            id,
            name: format!("node{id}"),
            boots: vec![BootView {
                key: key.into(),
                host: None,
                last_addr: None,
                last_ms: first_ms,
                stages: vec![BootStageView {
                    stage: "loader".into(),
                    first_ms,
                    last_ms: first_ms,
                    count: 1,
                    last_path: "pxelinux.0".into(),
                }],
            }],
        }
    }

    #[test]
    fn overview_names_the_leader_the_holder_and_unreachable_members() {
        // Node 1 serves the page; node 2 leads (term 5) and holds the VIP; the witness 3
        // does not answer.
        let me = status(1, Some(2), 5, 40);
        let answers = vec![
            None,
            Some(Answer {
                status: Ok(status(2, Some(2), 5, 42)),
                boots: Some(Ok(boots(2, "52:54:00:00:00:02", 2000))),
            }),
            Some(Answer {
                status: Err("cluster unreachable".into()),
                boots: None,
            }),
        ];
        let o = build(
            me,
            Some(boots(1, "52:54:00:00:00:01", 1000)),
            vec![],
            answers,
            7,
        );
        assert_eq!(o.served_by, 1);
        assert_eq!(o.generated_ms, 7);
        assert_eq!(o.status.leader, Some(2));
        assert_eq!(o.status.term, 5);
        assert_eq!(o.status.vip_holder, Some(2));
        let lags: Vec<Option<u64>> = o.status.nodes.iter().map(|n| n.lag).collect();
        assert_eq!(lags, vec![Some(2), Some(0), None]);
        assert_eq!(
            o.status.nodes[2].error.as_deref(),
            Some("cluster unreachable")
        );
        // Both answering nodes' VIP events, oldest first.
        let moves: Vec<u64> = o.vip_moves.iter().map(|(id, _)| *id).collect();
        assert_eq!(moves, vec![1, 2]);
        // Both boot servers' machines, the most recent last.
        let keys: Vec<&str> = o.boots.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, vec!["52:54:00:00:00:01", "52:54:00:00:00:02"]);
        assert!(o.boots_unreachable.is_empty());
    }

    #[test]
    fn overview_keeps_only_the_newest_machines() {
        let me = status(1, Some(1), 2, 10);
        let many = NodeBoots {
            id: 1,
            name: "node1".into(),
            boots: (0..(BOOTS_SHOWN as u64 + 5))
                .map(|i| boots(1, &format!("10.0.0.{i}"), 100 + i).boots.remove(0))
                .collect(),
        };
        let answers = vec![
            None,
            Some(Answer {
                status: Ok(status(2, Some(1), 2, 10)),
                boots: Some(Err("timed out".into())),
            }),
            Some(Answer {
                status: Ok(status(3, Some(1), 2, 10)),
                boots: None,
            }),
        ];
        let o = build(me, Some(many), vec![], answers, 0);
        assert_eq!(o.boots.len(), BOOTS_SHOWN);
        assert_eq!(
            o.boots.last().unwrap().key,
            format!("10.0.0.{}", BOOTS_SHOWN + 4)
        );
        assert_eq!(
            o.boots_unreachable,
            vec![("node2".to_string(), "timed out".to_string())]
        );
    }

    #[test]
    fn assets_are_embedded_and_reference_each_other() {
        assert!(PAGE.contains("/status/app.js"));
        assert!(PAGE.contains("/status/app.css"));
        assert!(SCRIPT.contains("/v1/overview"));
        // The token is read from the fragment, never from the query string.
        assert!(SCRIPT.contains("location.hash"));
        assert!(!SCRIPT.contains("location.search"));
        // Data is put into the page as text, never parsed as HTML.
        assert!(!SCRIPT.contains("innerHTML"));
    }
}
