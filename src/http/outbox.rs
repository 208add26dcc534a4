//! The report outbox over the API: the reports waiting, the parked ones (with the
//! panel's answer), and a retry that puts parked reports back in line.

use axum::extract::State;
use serde::Deserialize;

use super::data::Count;
use super::extract::{Json, Query};
use super::{ApiError, ApiState, blocking};
use crate::store::{OutboxEntry, ParkedReport};

#[derive(Debug, Deserialize)]
pub struct Listing {
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_limit() -> usize {
    100
}

/// `GET /api/outbox`: the reports waiting, oldest first.
pub async fn pending(
    State(s): State<ApiState>,
    Query(q): Query<Listing>,
) -> Result<Json<Vec<OutboxEntry>>, ApiError> {
    let store = s.store.clone();
    let limit = q.limit.min(10_000);
    Ok(Json(blocking(move || store.outbox(0, limit)).await?))
}

/// `GET /api/outbox/parked`: the reports the panel refused, oldest first.
pub async fn parked(
    State(s): State<ApiState>,
    Query(q): Query<Listing>,
) -> Result<Json<Vec<ParkedReport>>, ApiError> {
    let store = s.store.clone();
    let limit = q.limit.min(10_000);
    Ok(Json(blocking(move || store.parked_reports(limit)).await?))
}

/// Which parked reports to retry: one by its sequence number, or all.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default)]
    pub all_parked: bool,
}

/// `POST /api/outbox/retry`: parked reports back in the outbox.
pub async fn retry(
    State(s): State<ApiState>,
    Json(retry): Json<Retry>,
) -> Result<Json<Count>, ApiError> {
    let seq = match (retry.seq, retry.all_parked) {
        (Some(seq), false) => Some(seq),
        (None, true) => None,
        _ => {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "give either `seq` or `all_parked: true`",
            ));
        }
    };
    let store = s.store.clone();
    let count = blocking(move || store.retry_parked(seq)).await? as u64;
    Ok(Json(Count { count }))
}
