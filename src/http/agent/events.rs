//! `GET /api/agent/events`: a WebSocket that pushes an agent their own notices from the
//! desk (state changes; a call assigned, answered, ended) as JSON, never another
//! agent's. The first message is the state they are in now, so a screen opened (or
//! reconnected) mid-call starts right; a listener that falls behind the desk's backlog
//! is sent its state again rather than a gap it cannot see. A browser's upgrade from
//! another site (its `Origin` is not this server) is refused: WebSockets have no CORS,
//! and the session cookie would otherwise let any page the agent opens read their
//! notices.

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;

use super::{agent_of, desk_of, on_desk};
use crate::desk::{AgentNotice, Desk, NoticeKind};
use crate::http::auth::Caller;
use crate::http::{ApiError, ApiState, ErrorBody};
use std::sync::Arc;

/// `GET /api/agent/events`.
#[utoipa::path(
    get,
    path = "/api/agent/events",
    tag = "agent",
    operation_id = "agent_events",
    responses(
        (status = 101, description = "A WebSocket of the agent's own notices, each a JSON text message shaped as `AgentNotice`; the first is the agent's state now"),
        (status = 400, description = "Not a WebSocket upgrade", body = ErrorBody),
        (status = 403, description = "From a page of another site (`Origin`)", body = ErrorBody),
        (status = 404, description = "No agent of the token's name", body = ErrorBody),
        (status = 426, description = "The connection cannot be upgraded", body = ErrorBody),
        (status = 503, description = "No agent desk behind this API", body = ErrorBody),
    )
)]
pub async fn events(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let agent = agent_of(&caller)?;
    if !same_origin(&headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "a WebSocket from another site's page: open it from this server's pages",
        ));
    }
    let desk = desk_of(s.desk.as_ref())?;
    // Known before the upgrade, so an unknown agent is a 404, not a socket that closes.
    on_desk(Arc::clone(&desk), agent.clone(), |_, _| Ok(())).await?;
    let upgrade = upgrade.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    Ok(upgrade
        .on_upgrade(move |socket| push(socket, desk, agent))
        .into_response())
}

/// Whether a browser's `Origin` names this server (`Host`); a client that sends none (not
/// a browser page) passes.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// The agent's state now, as a notice (at the time they entered it).
fn current(desk: &Desk, agent: &str) -> Option<AgentNotice> {
    let record = desk.agent(agent)?;
    let attempt = super::AgentView::from(record.clone()).attempt;
    Some(AgentNotice {
        agent: agent.to_string(),
        at_ms: record.agent.since_ms,
        kind: NoticeKind::State {
            state: record.agent.state.name(),
            attempt,
        },
    })
}

/// Sends `agent`'s notices until either side is done.
async fn push(mut socket: WebSocket, desk: Arc<Desk>, agent: String) {
    // Subscribed before the state is read: a change in between is sent, not lost.
    let mut notices = desk.subscribe();
    if !send(&mut socket, current(&desk, &agent)).await {
        return;
    }
    loop {
        tokio::select! {
            notice = notices.recv() => {
                let next = match notice {
                    Ok(n) if n.agent == agent => Some(n),
                    Ok(_) => continue,
                    // Fell behind: what was missed is summed up by the state now.
                    Err(RecvError::Lagged(_)) => current(&desk, &agent),
                    Err(RecvError::Closed) => break,
                };
                if !send(&mut socket, next).await {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                // The agent's side says nothing we act on; pings are answered by axum.
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

/// Sends one notice as JSON; false once the socket is gone.
async fn send(socket: &mut WebSocket, notice: Option<AgentNotice>) -> bool {
    let Some(notice) = notice else {
        return true;
    };
    match serde_json::to_string(&notice) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "an agent notice that does not serialize");
            true
        }
    }
}
