//! The report outbox over the API: the reports waiting, the parked ones (with the
//! panel's answer), and a retry that puts parked reports back in line.

use axum::extract::State;
use serde::Deserialize;

use super::data::Count;
use super::extract::{Json, Query};
use super::{ApiError, ApiState, ErrorBody, blocking};
use crate::store::{OutboxEntry, ParkedReport};

/// How much of a listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Listing {
    /// How many at most (up to 10,000).
    #[serde(default = "default_limit")]
    #[param(default = 100, maximum = 10000)]
    pub limit: usize,
}

fn default_limit() -> usize {
    100
}

/// `GET /api/outbox`: the reports waiting, oldest first.
#[utoipa::path(
    get,
    path = "/api/outbox",
    tag = "outbox",
    operation_id = "list_outbox",
    params(Listing),
    responses((status = 200, description = "The reports waiting for the panel", body = Vec<OutboxEntry>))
)]
pub async fn pending(
    State(s): State<ApiState>,
    Query(q): Query<Listing>,
) -> Result<Json<Vec<OutboxEntry>>, ApiError> {
    let store = s.store.clone();
    let limit = q.limit.min(10_000);
    Ok(Json(blocking(move || store.outbox(0, limit)).await?))
}

/// `GET /api/outbox/parked`: the reports the panel refused, oldest first.
#[utoipa::path(
    get,
    path = "/api/outbox/parked",
    tag = "outbox",
    operation_id = "list_parked",
    params(Listing),
    responses((status = 200, description = "The parked reports, with the panel's answers", body = Vec<ParkedReport>))
)]
pub async fn parked(
    State(s): State<ApiState>,
    Query(q): Query<Listing>,
) -> Result<Json<Vec<ParkedReport>>, ApiError> {
    let store = s.store.clone();
    let limit = q.limit.min(10_000);
    Ok(Json(blocking(move || store.parked_reports(limit)).await?))
}

/// Which parked reports to retry: one by its sequence number, or all.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default)]
    pub all_parked: bool,
}

/// `POST /api/outbox/retry`: parked reports back in the outbox.
#[utoipa::path(
    post,
    path = "/api/outbox/retry",
    tag = "outbox",
    operation_id = "retry_parked",
    request_body(content = Retry, example = json!({"all_parked": true})),
    responses(
        (status = 200, description = "How many reports are back in line", body = Count),
        (status = 422, description = "Neither or both of `seq` and `all_parked`", body = ErrorBody),
    )
)]
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
