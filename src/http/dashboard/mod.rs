//! The dashboard, served from the binary: `GET /` answers the page to a browser with a
//! live session (an admin's or a reader's), else the login page with a 401 (so even the page's shell is not shown
//! without a token). `GET /agent` is an agent's own page, on the same terms for an
//! agent's session: their state and breaks, the call put through to them with its lead
//! and script, and the wrap-up form (`agent.html`, over the agent API and its
//! WebSocket). Plain HTML, CSS and JavaScript, no CDN: it works offline. The page
//! reads `/api/session` for its CSRF token and `/api/stream` (server-sent events) for
//! live snapshots; its buttons call the same API as the commands.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::ApiState;
use super::auth::{Role, session_cookie};

const DASHBOARD: &str = include_str!("dashboard.html");
const LOGIN: &str = include_str!("login.html");
const AGENT: &str = include_str!("agent.html");

/// `GET /`.
#[utoipa::path(
    get,
    path = "/",
    tag = "dashboard",
    operation_id = "dashboard",
    responses(
        (status = 200, description = "The dashboard, to a browser with a live session", content_type = "text/html", body = String),
        (status = 303, description = "To `/agent`, for an agent's session"),
        (status = 401, description = "The login page, without a session", content_type = "text/html", body = String),
    )
)]
pub async fn page(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    secured(match session_role(&s, &headers) {
        // An agent's session may use nothing the dashboard shows: their own page.
        Some(Role::Agent) => Redirect::to("/agent").into_response(),
        Some(_) => Html(DASHBOARD).into_response(),
        None => (StatusCode::UNAUTHORIZED, Html(LOGIN)).into_response(),
    })
}

/// `GET /agent`.
#[utoipa::path(
    get,
    path = "/agent",
    tag = "dashboard",
    operation_id = "agent_page",
    responses(
        (status = 200, description = "The agent's page, to a browser with an agent's session", content_type = "text/html", body = String),
        (status = 401, description = "The login page, without an agent's session", content_type = "text/html", body = String),
    )
)]
pub async fn agent_page(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    secured(if session_role(&s, &headers) == Some(Role::Agent) {
        Html(AGENT).into_response()
    } else {
        (StatusCode::UNAUTHORIZED, Html(LOGIN)).into_response()
    })
}

/// The role of the live session the request's cookie names, if any.
fn session_role(s: &ApiState, headers: &HeaderMap) -> Option<Role> {
    session_cookie(headers)
        .and_then(|id| s.auth.sessions().find(&id))
        .map(|session| session.role)
}

/// A page with the headers every page gets.
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    // Its own scripts and styles only (and its own WebSocket), no framing by another site.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    response
}
