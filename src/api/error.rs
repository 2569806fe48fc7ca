//! The admin API's error type: one kind per failure an operator must tell apart, mapped to
//! an HTTP status and a JSON body bootctl turns into one clear line.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::types::ApiErrorBody;
use crate::writer::WriteError;

/// A failed admin API call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not authorized")]
    Unauthorized,
    /// A valid token whose scope does not allow the call.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("no leader")]
    NoLeader,
    #[error("refused: {0}")]
    Rejected(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::NoLeader => ApiError::NoLeader,
            WriteError::Unreachable(m) => ApiError::Unavailable(m),
            WriteError::Failed(m) => ApiError::Unavailable(m),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = match &self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::NoLeader => (StatusCode::SERVICE_UNAVAILABLE, "no_leader"),
            ApiError::Rejected(_) => (StatusCode::CONFLICT, "rejected"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        };
        let body = ApiErrorBody {
            error: kind.to_string(),
            message: self.to_string(),
        };
        (status, Json(body)).into_response()
    }
}
