//! Admin API for images and blobs: which blobs this node lacks, blob upload (verified
//! against its digest), image registration (only when every blob is here), listing with
//! per-node readiness, activation (only when a majority of boot servers is ready),
//! rollback, removal and local garbage collection.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use raftboot_raft::state::{Image, Readiness};
use raftboot_raft::{Command, NodeId, Response};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::handlers::{commit, note};
use super::{Admin, AppState, Authed};
use crate::cas::{BlobStore, CasError, Digest};
use crate::images::gc::GcReport;

type St = State<Arc<AppState>>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestList {
    pub digests: Vec<Digest>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterImage {
    pub name: String,
    pub manifest: Digest,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActivateImage {
    pub group: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GcRequest {
    pub grace_secs: u64,
}

/// One image with where it is ready.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageView {
    pub image: Image,
    pub readiness: Vec<(NodeId, Readiness)>,
    /// Boot servers (non-witness members) and how many are ready.
    pub replicas: usize,
    pub ready: usize,
    pub active_in: Vec<String>,
}

fn store(st: &AppState) -> Result<Arc<BlobStore>, ApiError> {
    st.store.clone().ok_or_else(|| {
        ApiError::Invalid(format!(
            "node {} is a witness and stores no images",
            st.node_name
        ))
    })
}

fn cas_err(e: CasError) -> ApiError {
    match e {
        CasError::DigestMismatch { .. } => ApiError::Invalid(e.to_string()),
        other => ApiError::Unavailable(other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
}

pub async fn missing(
    _: Admin,
    State(st): St,
    Json(req): Json<DigestList>,
) -> Result<Json<DigestList>, ApiError> {
    let s = store(&st)?;
    let digests = req.digests.into_iter().filter(|d| !s.contains(d)).collect();
    Ok(Json(DigestList { digests }))
}

pub async fn put_blob(
    _: Admin,
    State(st): St,
    Path(digest): Path<String>,
    body: Bytes,
) -> Result<Json<()>, ApiError> {
    let d: Digest = digest
        .parse()
        .map_err(|e| ApiError::Invalid(format!("{e}")))?;
    let s = store(&st)?;
    blocking(move || s.put_verified(d, &body).map_err(cas_err)).await?;
    Ok(Json(()))
}

pub async fn register(
    who: Admin,
    State(st): St,
    Json(req): Json<RegisterImage>,
) -> Result<Json<Image>, ApiError> {
    let s = store(&st)?;
    let manifest = req.manifest;
    // Only a complete image is registered: an interrupted upload leaves nothing behind but
    // unreferenced blobs (collected by gc after the grace period).
    let missing = blocking(move || {
        if !s.contains(&manifest) {
            return Ok(vec![manifest]);
        }
        let m = crate::images::load_manifest(&s, &manifest)
            .map_err(|e| ApiError::Invalid(e.to_string()))?;
        Ok(m.blobs()
            .into_iter()
            .filter(|d| !s.contains(d))
            .collect::<Vec<_>>())
    })
    .await?;
    if !missing.is_empty() {
        return Err(ApiError::Invalid(format!(
            "{} blobs of image {} are not uploaded to this node yet",
            missing.len(),
            req.name
        )));
    }
    let cmd = Command::RegisterImage {
        name: req.name.clone(),
        manifest: manifest.to_string(),
        size: req.size,
    };
    match commit(&st, &who, cmd).await? {
        Response::Image(img) => Ok(Json(img)),
        other => Err(ApiError::Unavailable(format!("unexpected {other:?}"))),
    }
}

/// Every image with its readiness, as this node sees the replicated state.
pub fn image_views(st: &AppState) -> Vec<ImageView> {
    let replicas: Vec<NodeId> = {
        let m = st.raft.metrics().borrow().membership_config.clone();
        m.membership()
            .nodes()
            .filter(|(_, n)| !n.witness)
            .map(|(id, _)| *id)
            .collect()
    };
    let g = st.shared.read();
    g.state
        .images
        .values()
        .map(|img| {
            let readiness: Vec<(NodeId, Readiness)> = g
                .state
                .readiness
                .get(&img.name)
                .map(|m| m.iter().map(|(k, v)| (*k, v.clone())).collect())
                .unwrap_or_default();
            let ready = readiness
                .iter()
                .filter(|(id, r)| r.ready && replicas.contains(id))
                .count();
            let active_in = g
                .state
                .groups
                .values()
                .filter(|gr| gr.active_image.as_deref() == Some(img.name.as_str()))
                .map(|gr| gr.name.clone())
                .collect();
            ImageView {
                image: img.clone(),
                readiness,
                replicas: replicas.len(),
                ready,
                active_in,
            }
        })
        .collect()
}

pub async fn list(_: Authed, State(st): St) -> Json<Vec<ImageView>> {
    Json(image_views(&st))
}

pub async fn activate(
    who: Admin,
    State(st): St,
    Path(name): Path<String>,
    Json(req): Json<ActivateImage>,
) -> Result<Json<()>, ApiError> {
    let view = image_views(&st)
        .into_iter()
        .find(|v| v.image.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no image {name}")))?;
    let majority = view.replicas / 2 + 1;
    if view.ready < majority {
        return Err(ApiError::Rejected(format!(
            "image {name} is ready on {} of {} boot servers; activation needs {majority}",
            view.ready, view.replicas
        )));
    }
    let cmd = Command::ActivateImage {
        group: req.group,
        image: name,
    };
    commit(&st, &who, cmd).await?;
    Ok(Json(()))
}

pub async fn rollback(
    who: Admin,
    State(st): St,
    Path(group): Path<String>,
) -> Result<Json<()>, ApiError> {
    commit(&st, &who, Command::RollbackGroup { group }).await?;
    Ok(Json(()))
}

pub async fn remove(
    who: Admin,
    State(st): St,
    Path(name): Path<String>,
) -> Result<Json<()>, ApiError> {
    commit(&st, &who, Command::RemoveImage { name }).await?;
    Ok(Json(()))
}

pub async fn gc(
    who: Admin,
    State(st): St,
    Json(req): Json<GcRequest>,
) -> Result<Json<GcReport>, ApiError> {
    let s = store(&st)?;
    let manifests: Vec<Digest> = st
        .shared
        .read()
        .state
        .images
        .values()
        .filter_map(|i| i.manifest.parse().ok())
        .collect();
    let grace = Duration::from_secs(req.grace_secs);
    let r = blocking(move || crate::images::gc::collect(&s, &manifests, grace).map_err(cas_err))
        .await?;
    note(
        &st,
        &who,
        "image_gc",
        format!("grace {}s: {r:?}", req.grace_secs),
    )
    .await;
    Ok(Json(r))
}
