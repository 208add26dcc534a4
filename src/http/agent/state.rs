//! An agent's own state: `GET /api/agent/me`, and login, ready, break and logout, each
//! applied by the desk under `core::agents`' rules (409 when the state forbids it).

use axum::Extension;
use axum::extract::State;
use serde::Deserialize;

use super::{AgentView, agent_of, desk_of, on_desk};
use crate::core::agents::AgentEvent;
use crate::http::auth::Caller;
use crate::http::extract::Json;
use crate::http::{ApiError, ApiState, ErrorBody};

/// `GET /api/agent/me`: the agent the token is.
#[utoipa::path(
    get,
    path = "/api/agent/me",
    tag = "agent",
    operation_id = "agent_me",
    responses(
        (status = 200, description = "The agent: state, since when, queues, campaigns, a break asked for, the call held", body = AgentView),
        (status = 404, description = "No agent of the token's name", body = ErrorBody),
        (status = 503, description = "No agent desk behind this API", body = ErrorBody),
    )
)]
pub async fn me(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<AgentView>, ApiError> {
    let agent = agent_of(&caller)?;
    let desk = desk_of(s.desk.as_ref())?;
    let record = on_desk(desk, agent, |desk, id| {
        desk.agent(id)
            .ok_or_else(|| crate::desk::DeskError::NoAgent(id.to_string()))
    })
    .await?;
    Ok(Json(record.into()))
}

/// Applies an agent's own `event` through the desk.
async fn act(
    s: &ApiState,
    caller: &Caller,
    event: AgentEvent,
) -> Result<Json<AgentView>, ApiError> {
    act_on(s, agent_of(caller)?, event).await
}

/// Applies `event` to `agent` through the desk (their own, or a supervisor's), and
/// shows them as they are after it.
pub(crate) async fn act_on(
    s: &ApiState,
    agent: String,
    event: AgentEvent,
) -> Result<Json<AgentView>, ApiError> {
    let desk = desk_of(s.desk.as_ref())?;
    let record = on_desk(desk, agent, move |desk, id| {
        let acted = desk.act(id, event)?;
        // As they are now: being ready may have handed them a waiting call at once.
        Ok(desk.agent(id).unwrap_or(acted))
    })
    .await?;
    Ok(Json(record.into()))
}

/// `POST /api/agent/login`: logged in, on a `not_ready` break until they are ready.
#[utoipa::path(
    post,
    path = "/api/agent/login",
    tag = "agent",
    operation_id = "agent_login",
    responses(
        (status = 200, description = "Logged in (`break:not_ready`)", body = AgentView),
        (status = 404, description = "No agent of the token's name", body = ErrorBody),
        (status = 409, description = "Logged in already", body = ErrorBody),
        (status = 503, description = "No agent desk behind this API", body = ErrorBody),
    )
)]
pub async fn login(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<AgentView>, ApiError> {
    act(&s, &caller, AgentEvent::Login).await
}

/// `POST /api/agent/ready`: available for calls (from a break, or after login).
#[utoipa::path(
    post,
    path = "/api/agent/ready",
    tag = "agent",
    operation_id = "agent_ready",
    responses(
        (status = 200, description = "Available", body = AgentView),
        (status = 404, description = "No agent of the token's name", body = ErrorBody),
        (status = 409, description = "Not on a break (offline, or busy with a call)", body = ErrorBody),
        (status = 503, description = "No agent desk behind this API", body = ErrorBody),
    )
)]
pub async fn ready(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<AgentView>, ApiError> {
    act(&s, &caller, AgentEvent::Ready).await
}

/// A break and its reason.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "lunch"}))]
pub struct BreakRequest {
    /// One of the configured `agents.break_reasons`.
    pub reason: String,
}

/// `POST /api/agent/break`: a break now, or, during a call, once its wrap-up ends.
#[utoipa::path(
    post,
    path = "/api/agent/break",
    tag = "agent",
    operation_id = "agent_break",
    request_body = BreakRequest,
    responses(
        (status = 200, description = "On the break (`break:REASON`), or `break_after` set during a call", body = AgentView),
        (status = 400, description = "Not one of the configured break reasons", body = ErrorBody),
        (status = 404, description = "No agent of the token's name", body = ErrorBody),
        (status = 409, description = "Offline: log in first", body = ErrorBody),
        (status = 503, description = "No agent desk behind this API", body = ErrorBody),
    )
)]
pub async fn take_break(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Json(request): Json<BreakRequest>,
) -> Result<Json<AgentView>, ApiError> {
    let event = break_for(&s, &request)?;
    act(&s, &caller, event).await
}

/// The break `request` asks for, if its reason is one of the configured ones (400).
pub(crate) fn break_for(s: &ApiState, request: &BreakRequest) -> Result<AgentEvent, ApiError> {
    let reason = request.reason.trim().to_string();
    if !s.agents.allows_break(&reason) {
        return Err(ApiError::bad_request(format!(
            "`{reason}` is not a break reason: one of {}",
            s.agents.break_reasons.join(", ")
        )));
    }
    Ok(AgentEvent::Break { reason })
}

/// `POST /api/agent/logout`: offline (not with a call or a wrap-up pending).
#[utoipa::path(
    post,
    path = "/api/agent/logout",
    tag = "agent",
    operation_id = "agent_logout",
    responses(
        (status = 200, description = "Offline", body = AgentView),
        (status = 404, description = "No agent of the token's name", body = ErrorBody),
        (status = 409, description = "A call or its wrap-up is pending, or offline already", body = ErrorBody),
        (status = 503, description = "No agent desk behind this API", body = ErrorBody),
    )
)]
pub async fn logout(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<AgentView>, ApiError> {
    act(&s, &caller, AgentEvent::Logout).await
}

/// What an agent's screen offers them to choose from.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AgentOptions {
    /// The configured `agents.break_reasons`, in order.
    pub break_reasons: Vec<String>,
    /// The campaigns they may dial for (their own list, or every campaign when they
    /// have none), by name.
    pub campaigns: Vec<String>,
}

/// `GET /api/agent/options`: the break reasons an agent may give and the campaigns they
/// may dial for. (A call's dispositions come with the call, `GET /api/agent/call`:
/// they are its campaign's.)
#[utoipa::path(
    get,
    path = "/api/agent/options",
    tag = "agent",
    operation_id = "agent_options",
    responses(
        (status = 200, description = "The break reasons and the campaigns to dial for", body = AgentOptions),
        (status = 404, description = "No agent of the token's name", body = ErrorBody),
        (status = 503, description = "No agent desk behind this API", body = ErrorBody),
    )
)]
pub async fn options(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<AgentOptions>, ApiError> {
    let agent = agent_of(&caller)?;
    let desk = desk_of(s.desk.as_ref())?;
    let own = on_desk(desk, agent, |desk, id| {
        desk.agent(id)
            .map(|record| record.campaigns)
            .ok_or_else(|| crate::desk::DeskError::NoAgent(id.to_string()))
    })
    .await?;
    let campaigns = if own.is_empty() {
        let store = s.store.clone();
        let all = crate::http::blocking(move || store.campaigns()).await?;
        all.into_iter().map(|c| c.name).collect()
    } else {
        own
    };
    Ok(Json(AgentOptions {
        break_reasons: s.agents.break_reasons.clone(),
        campaigns,
    }))
}
