//! The scenario versions over the API: the latest of each scenario, one scenario's
//! history, and a version found by its hash with the exact texts it was made from.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::extract::Json;
use super::{ApiError, ApiState, blocking};
use crate::store::{ScenarioVersion, VersionTexts};

/// `GET /api/scenario-versions`: the latest version of every scenario.
pub async fn latest(State(s): State<ApiState>) -> Result<Json<Vec<ScenarioVersion>>, ApiError> {
    let store = s.store.clone();
    Ok(Json(blocking(move || store.latest_versions()).await?))
}

/// `GET /api/scenario-versions/{name}`: every version of one scenario, oldest first.
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
