//! A supervisor's hand on the agents (an admin's token or session, seed 002's phase 4):
//! send an agent to a break, or log them out of the desk. Each goes through the desk
//! under the same rules as the agent's own (`core::agents`): a break asked for during a
//! call is taken when its wrap-up ends, and nobody is logged out with a call or a
//! wrap-up pending (409), so no customer is left on a line nobody holds. Who did what
//! is logged.

use axum::Extension;
use axum::extract::State;

use super::agent::AgentView;
use super::agent::state::{BreakRequest, act_on, break_for};
use super::auth::Caller;
use super::extract::{Json, Path};
use super::{ApiError, ApiState, ErrorBody};
use crate::core::agents::AgentEvent;

/// `POST /api/agents/{id}/break`.
#[utoipa::path(
    post,
    path = "/api/agents/{id}/break",
    tag = "agents",
    operation_id = "supervise_break",
    params(("id" = String, Path, description = "The agent")),
    request_body = BreakRequest,
    responses(
        (status = 200, description = "On the break now, or `break_after` set when on a call", body = AgentView),
        (status = 400, description = "Not one of the configured break reasons", body = ErrorBody),
        (status = 404, description = "No such agent", body = ErrorBody),
        (status = 409, description = "Offline: nothing to break from", body = ErrorBody),
        (status = 503, description = "No agent desk behind this API", body = ErrorBody),
    )
)]
pub async fn send_to_break(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(request): Json<BreakRequest>,
) -> Result<Json<AgentView>, ApiError> {
    let event = break_for(&s, &request)?;
    tracing::info!(supervisor = %caller.name, agent = %id, reason = %request.reason, "a supervisor sends an agent to a break");
    act_on(&s, id, event).await
}

/// `POST /api/agents/{id}/logout`.
#[utoipa::path(
    post,
    path = "/api/agents/{id}/logout",
    tag = "agents",
    operation_id = "supervise_logout",
    params(("id" = String, Path, description = "The agent")),
    responses(
        (status = 200, description = "Logged out of the desk", body = AgentView),
        (status = 404, description = "No such agent", body = ErrorBody),
        (status = 409, description = "Offline already, or a call or wrap-up pending", body = ErrorBody),
        (status = 503, description = "No agent desk behind this API", body = ErrorBody),
    )
)]
pub async fn log_out(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    tracing::info!(supervisor = %caller.name, agent = %id, "a supervisor logs an agent out");
    act_on(&s, id, AgentEvent::Logout).await
}
