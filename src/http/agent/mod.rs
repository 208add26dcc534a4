//! The agent API: the routes under `/api/agent/`, each acting as the agent whose token
//! (or session) made the request, never another (`auth` admits only an agent's token
//! there). State changes go through the desk (`crate::desk::Desk`), never straight to
//! the store, so a call waiting for an agent is given one the moment they are free;
//! without a desk the routes answer 503.

pub mod call;
pub mod dialing;
pub mod disposition;
pub mod events;
pub mod hangup;
pub mod state;

use std::sync::Arc;

use axum::http::StatusCode;
use serde::Serialize;

use super::ApiError;
use super::auth::Caller;
use crate::core::agents::AgentState;
use crate::desk::{Desk, DeskError};
use crate::store::AgentRecord;

/// An agent as the agent API shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    pub id: String,
    pub name: String,
    /// `offline`, `available`, `reserved`, `on_call`, `wrap_up` or `break:REASON`.
    pub state: String,
    /// When they entered it (Unix ms).
    pub since_ms: u64,
    /// The queues (skills) they serve.
    pub queues: Vec<String>,
    /// The campaigns they may work (none: any).
    pub campaigns: Vec<String>,
    /// A break asked for during a call, taken once its wrap-up ends.
    pub break_after: Option<String>,
    /// The call they hold: reserved for, on, or wrapping up.
    pub attempt: Option<String>,
    /// When their wrap-up ends by itself (Unix ms), in wrap-up.
    pub wrap_up_until_ms: Option<u64>,
}

impl From<AgentRecord> for AgentView {
    fn from(r: AgentRecord) -> Self {
        let (attempt, wrap_up_until_ms) = match &r.agent.state {
            AgentState::Reserved { attempt } | AgentState::OnCall { attempt } => {
                (Some(attempt.clone()), None)
            }
            AgentState::WrapUp { attempt, until_ms } => (Some(attempt.clone()), Some(*until_ms)),
            _ => (None, None),
        };
        AgentView {
            state: r.agent.state.name(),
            id: r.agent.id,
            name: r.name,
            since_ms: r.agent.since_ms,
            queues: r.agent.queues,
            campaigns: r.campaigns,
            break_after: r.agent.break_after,
            attempt,
            wrap_up_until_ms,
        }
    }
}

/// The agent the request acts as. `auth` lets only an agent's token reach these
/// routes, so this refuses only if a route were mounted outside `/api/agent/`.
pub(crate) fn agent_of(caller: &Caller) -> Result<String, ApiError> {
    caller.agent_id().map(str::to_string).ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "these routes act as an agent: use the agent's own token",
        )
    })
}

/// The desk, or 503: without one nobody hands agents calls.
pub(crate) fn desk_of(desk: Option<&Arc<Desk>>) -> Result<Arc<Desk>, ApiError> {
    desk.cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no agent desk runs behind this API (the daemon serves agents when it dials for them)",
        )
    })
}

/// Now on the campaigns' clock: the runtime's (compressed in a demo), else the wall's.
/// Lead and callback times are on it, as the dialer compares them.
pub(crate) fn campaign_now(s: &super::ApiState) -> u64 {
    s.runtime
        .as_ref()
        .map_or_else(super::wall_now_ms, |r| r.clock().wall_ms())
}

/// A desk's refusal: the rules' is the agent's conflict (409), an unknown agent 404,
/// the store's by its kind.
pub(crate) fn desk_error(e: DeskError) -> ApiError {
    match e {
        DeskError::Rule(rule) => ApiError::new(StatusCode::CONFLICT, rule.to_string()),
        e @ DeskError::NotFree { .. } => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        DeskError::NoAgent(id) => ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no agent `{id}`: an admin adds the agent first"),
        ),
        DeskError::Store(store) => store.into(),
    }
}

/// Runs `f` on the desk on the blocking pool (the desk writes to the store), after
/// making sure the desk knows `agent` (one added since it opened is read in).
pub(crate) async fn on_desk<T: Send + 'static>(
    desk: Arc<Desk>,
    agent: String,
    f: impl FnOnce(&Desk, &str) -> Result<T, DeskError> + Send + 'static,
) -> Result<T, ApiError> {
    let run = move || {
        if desk.agent(&agent).is_none() {
            desk.refresh_agent(&agent)?;
        }
        f(&desk, &agent)
    };
    tokio::task::spawn_blocking(run)
        .await
        .map_err(|e| ApiError::internal(format!("the desk's task failed: {e}")))?
        .map_err(desk_error)
}
