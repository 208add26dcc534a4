//! The dashboard's lead table (seed 003): a page of a campaign's leads, each with its
//! latest finished attempt, and the actions on one lead: recycle (dial again, or reset
//! to a fresh round) and delete (not while the campaign runs). Ignoring a lead is the
//! existing cancel by number.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::data::Page;
use super::extract::{Json, Path, Query};
use super::{ApiError, ApiState, ErrorBody, blocking};
use crate::store::{LeadRecord, LeadRow};

/// `GET /api/campaigns/{name}/lead-rows`.
#[utoipa::path(
    get,
    path = "/api/campaigns/{name}/lead-rows",
    tag = "leads",
    operation_id = "lead_rows",
    params(("name" = String, Path, description = "The campaign's name"), Page),
    responses(
        (status = 200, description = "The leads after `after`, by id, each with its latest finished attempt", body = Vec<LeadRow>),
        (status = 404, description = "No such campaign", body = ErrorBody),
    )
)]
pub async fn list(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<LeadRow>>, ApiError> {
    let store = s.store.clone();
    let limit = page.limit.min(10_000);
    let rows = blocking(move || {
        store.campaign(&name)?;
        store.lead_rows(&name, page.after, limit)
    })
    .await?;
    Ok(Json(rows))
}

/// How to recycle one lead.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecycleOne {
    /// Start a fresh round (attempts and results cleared) rather than one more attempt
    /// of this round (which counts against `max_attempts`).
    #[serde(default)]
    pub reset: bool,
}

/// `POST /api/campaigns/{name}/leads/{id}/recycle`.
#[utoipa::path(
    post,
    path = "/api/campaigns/{name}/leads/{id}/recycle",
    tag = "leads",
    operation_id = "recycle_lead",
    params(
        ("name" = String, Path, description = "The campaign's name"),
        ("id" = u64, Path, description = "The lead's id"),
    ),
    request_body(content = RecycleOne, example = json!({"reset": false})),
    responses(
        (status = 200, description = "The lead, waiting to be dialed", body = LeadRecord),
        (status = 400, description = "A lead on the DNC list, waiting already, or on a call", body = ErrorBody),
        (status = 404, description = "No such campaign or lead", body = ErrorBody),
    )
)]
pub async fn recycle(
    State(s): State<ApiState>,
    Path((name, id)): Path<(String, u64)>,
    Json(how): Json<RecycleOne>,
) -> Result<Json<LeadRecord>, ApiError> {
    let store = s.store.clone();
    let now = super::wall_now_ms();
    let lead = blocking(move || store.recycle_lead(&name, id, how.reset, now)).await?;
    s.campaigns_changed();
    Ok(Json(lead))
}

/// `DELETE /api/campaigns/{name}/leads/{id}`.
#[utoipa::path(
    delete,
    path = "/api/campaigns/{name}/leads/{id}",
    tag = "leads",
    operation_id = "delete_lead",
    params(
        ("name" = String, Path, description = "The campaign's name"),
        ("id" = u64, Path, description = "The lead's id"),
    ),
    responses(
        (status = 204, description = "Deleted (its attempts stay, as history)"),
        (status = 400, description = "The lead is on a call", body = ErrorBody),
        (status = 404, description = "No such campaign or lead", body = ErrorBody),
        (status = 409, description = "The campaign is running: pause or stop it first", body = ErrorBody),
    )
)]
pub async fn delete(
    State(s): State<ApiState>,
    Path((name, id)): Path<(String, u64)>,
) -> Result<StatusCode, ApiError> {
    let store = s.store.clone();
    blocking(move || store.delete_lead(&name, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
