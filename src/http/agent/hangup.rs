//! `POST /api/agent/hangup`: the agent ends the call they are on from their screen.
//! The call's own task ends it (`Runtime::end_call_for_agent`), as it would if the
//! agent's phone hung up: a rung agent's leg and the customer are hung up, a nailed
//! agent's leg stays for their next call; the result stands (`connected_to_operator`)
//! and the desk puts the agent in wrap-up.

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use tokio::sync::broadcast;

use super::{AgentView, agent_of, desk_of, on_desk};
use crate::core::agents::AgentState;
use crate::desk::{AgentNotice, DeskError, NoticeKind};
use crate::http::auth::Caller;
use crate::http::extract::Json;
use crate::http::{ApiError, ApiState, ErrorBody};

/// How long the answer waits for the desk to see the call end, so it can show the
/// agent in their wrap-up. The call ends whether or not it is seen by then.
const END_WAIT: Duration = Duration::from_secs(3);

/// `POST /api/agent/hangup`.
#[utoipa::path(
    post,
    path = "/api/agent/hangup",
    tag = "agent",
    operation_id = "agent_hangup",
    responses(
        (status = 200, description = "The call is ended; the agent as they are after it (in wrap-up once the call's end is seen)", body = AgentView),
        (status = 404, description = "No agent of the token's name", body = ErrorBody),
        (status = 409, description = "The agent is not on a call (reserved for one not yet bridged, in wrap-up, free), or the call ended meanwhile", body = ErrorBody),
        (status = 503, description = "No agent desk, or no calls' runtime, behind this API", body = ErrorBody),
    )
)]
pub async fn hangup(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<AgentView>, ApiError> {
    let agent = agent_of(&caller)?;
    let desk = desk_of(s.desk.as_ref())?;
    let record = on_desk(desk.clone(), agent.clone(), |desk, id| {
        desk.agent(id).ok_or_else(|| DeskError::NoAgent(id.into()))
    })
    .await?;
    let AgentState::OnCall { attempt } = &record.agent.state else {
        return Err(conflict(format!(
            "agent `{agent}` is {}: only a call they are on can be hung up",
            record.agent.state.name()
        )));
    };
    let runtime = s.runtime.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no calls' runtime behind this API: nothing to hang up",
        )
    })?;
    // Listening before the call is told, so its end cannot be missed.
    let notices = desk.subscribe();
    if !runtime.end_call_for_agent(attempt) {
        return Err(conflict(format!("the call {attempt} has ended already")));
    }
    if !ended(notices, &agent, attempt).await {
        tracing::warn!(%agent, %attempt, "a hung-up call's end not seen in time");
    }
    let after = on_desk(desk, agent, |desk, id| {
        desk.agent(id).ok_or_else(|| DeskError::NoAgent(id.into()))
    })
    .await?;
    Ok(Json(after.into()))
}

/// Waits up to `END_WAIT` for the desk's notice that `agent`'s call `attempt` ended.
async fn ended(mut notices: broadcast::Receiver<AgentNotice>, agent: &str, attempt: &str) -> bool {
    let wait = async {
        loop {
            match notices.recv().await {
                Ok(n) if n.agent == agent && n.kind == ended_kind(attempt) => return true,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return false,
            }
        }
    };
    tokio::time::timeout(END_WAIT, wait).await.unwrap_or(false)
}

fn ended_kind(attempt: &str) -> NoticeKind {
    NoticeKind::Ended {
        attempt: attempt.to_string(),
    }
}

fn conflict(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, message)
}
