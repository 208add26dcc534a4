//! The reports over the API (`crate::reports`), for a reader's token: per agent, per
//! campaign and per lead, each over a time range (`from`, `to`: RFC 3339 or a date;
//! by default everything up to now). `dialflow report` asks here while the daemon
//! holds the store.

use axum::extract::State;
use serde::Deserialize;

use super::extract::{Json, Path, Query};
use super::{ApiError, ApiState, ErrorBody, wall_now_ms};
use crate::reports::{self, AgentsReport, CampaignReport, LeadReport, Range, ReportError};

/// A report's time range.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// From (RFC 3339, or a date: its midnight UTC); default: the beginning.
    pub from: Option<String>,
    /// To, not included (default and at most: now).
    pub to: Option<String>,
}

impl RangeQuery {
    fn range(&self) -> Result<Range, ApiError> {
        Range::parse(self.from.as_deref(), self.to.as_deref(), wall_now_ms()).map_err(refused)
    }
}

/// A report that cannot be made: a bad range is the caller's 400, the store's by kind.
fn refused(e: ReportError) -> ApiError {
    match e {
        ReportError::Store(e) => e.into(),
        other => ApiError::bad_request(other.to_string()),
    }
}

/// Runs a report on the blocking pool (it reads the store).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ReportError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("a report's task failed: {e}")))?
        .map_err(refused)
}

/// `GET /api/reports/agents`.
#[utoipa::path(
    get,
    path = "/api/reports/agents",
    tag = "reports",
    operation_id = "report_agents",
    params(RangeQuery),
    responses(
        (status = 200, description = "Each agent's login, wait, talk, wrap-up and pause time, calls and occupancy in the range", body = AgentsReport),
        (status = 400, description = "A time that cannot be read, or an empty range", body = ErrorBody),
    )
)]
pub async fn agents(
    State(s): State<ApiState>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<AgentsReport>, ApiError> {
    let range = q.range()?;
    let store = s.store.clone();
    Ok(Json(
        blocking(move || reports::agents(&store, range)).await?,
    ))
}

/// `GET /api/reports/campaigns/{name}`.
#[utoipa::path(
    get,
    path = "/api/reports/campaigns/{name}",
    tag = "reports",
    operation_id = "report_campaign",
    params(("name" = String, Path, description = "The campaign's name"), RangeQuery),
    responses(
        (status = 200, description = "The campaign's attempts started in the range: answered, handle time, speed of answer, drops, statuses, dispositions", body = CampaignReport),
        (status = 400, description = "A time that cannot be read, or an empty range", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
    )
)]
pub async fn campaign(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<CampaignReport>, ApiError> {
    let range = q.range()?;
    let store = s.store.clone();
    Ok(Json(
        blocking(move || reports::campaign(&store, &name, range)).await?,
    ))
}

/// `GET /api/reports/leads/{id}`.
#[utoipa::path(
    get,
    path = "/api/reports/leads/{id}",
    tag = "reports",
    operation_id = "report_lead",
    params(("id" = u64, Path, description = "The lead's id")),
    responses(
        (status = 200, description = "The lead and every attempt it had, with its result, disposition and notes", body = LeadReport),
        (status = 400, description = "Not a lead id", body = ErrorBody),
        (status = 404, description = "No such lead", body = ErrorBody),
    )
)]
pub async fn lead(
    State(s): State<ApiState>,
    Path(id): Path<u64>,
) -> Result<Json<LeadReport>, ApiError> {
    let store = s.store.clone();
    Ok(Json(blocking(move || reports::lead(&store, id)).await?))
}
