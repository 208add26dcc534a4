//! The scenario versions over the API: the latest of each scenario, one scenario's
//! history, and a version found by its hash with the exact texts it was made from.

use axum::extract::State;
use axum::http::StatusCode;

use super::extract::{Json, Path};
use super::{ApiError, ApiState, ErrorBody, blocking};
use crate::store::{ScenarioVersion, VersionTexts};

/// `GET /api/scenario-versions`: the latest version of every scenario.
#[utoipa::path(
    get,
    path = "/api/scenario-versions",
    tag = "scenarios",
    operation_id = "latest_versions",
    responses((status = 200, description = "The latest version of each scenario", body = Vec<ScenarioVersion>))
)]
pub async fn latest(State(s): State<ApiState>) -> Result<Json<Vec<ScenarioVersion>>, ApiError> {
    let store = s.store.clone();
    Ok(Json(blocking(move || store.latest_versions()).await?))
}

/// `GET /api/scenario-versions/{name}`: every version of one scenario, oldest first.
#[utoipa::path(
    get,
    path = "/api/scenario-versions/{name}",
    tag = "scenarios",
    operation_id = "scenario_history",
    params(("name" = String, Path, description = "The scenario's name (its file stem)")),
    responses((status = 200, description = "Its versions, oldest first (none for a name never served)", body = Vec<ScenarioVersion>))
)]
pub async fn history(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<ScenarioVersion>>, ApiError> {
    let store = s.store.clone();
    Ok(Json(
        blocking(move || store.scenario_versions(&name)).await?,
    ))
}

/// `GET /api/scenario-texts/{hash}`: the version a hash (or its first digits, as an
/// attempt shows it) names, with its texts; 404 when none or several match.
#[utoipa::path(
    get,
    path = "/api/scenario-texts/{hash}",
    tag = "scenarios",
    operation_id = "scenario_texts",
    params(("hash" = String, Path, description = "A version's content hash, or its first digits")),
    responses(
        (status = 200, description = "The version with its files' texts", body = VersionTexts),
        (status = 404, description = "No single version has that hash", body = ErrorBody),
    )
)]
pub async fn by_hash(
    State(s): State<ApiState>,
    Path(hash): Path<String>,
) -> Result<Json<VersionTexts>, ApiError> {
    let store = s.store.clone();
    let found = blocking(move || store.version_with_texts(&hash)).await?;
    found.map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no single scenario version has that hash",
        )
    })
}
