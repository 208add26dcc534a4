//! The dashboard's login: `POST /api/login` trades a token for a session cookie
//! (HttpOnly, SameSite=Strict) and answers the session's CSRF token, which the page
//! sends back in `X-CSRF-Token` with every change; `GET /api/session` says who is
//! logged in (and the CSRF token again, for a reloaded page); `POST /api/logout` ends
//! it. Login and logout are open: one is the way in, the other only closes the session
//! its own cookie names (a read-only session may log out too).

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::auth::{COOKIE, Caller, Refusal, Role, SESSION_TTL, session_cookie};
use super::extract::Json;
use super::{ApiError, ApiState, ErrorBody};

/// A token to trade for a session.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// An admin's, a reader's or an agent's token (the session gets its role).
    token: String,
}

/// What the page learns of its session.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    role: Role,
    /// The token's name.
    name: String,
    /// To send back as `X-CSRF-Token` with every change (absent for bearer callers).
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf: Option<String>,
}

/// `POST /api/login`: a token traded for a session cookie (open: the way in).
#[utoipa::path(
    post,
    path = "/api/login",
    tag = "session",
    operation_id = "login",
    request_body = Login,
    responses(
        (status = 200, description = "The session: its cookie in `Set-Cookie` (HttpOnly, SameSite=Strict), its CSRF token in the body", body = SessionView,
            headers(("set-cookie" = String, description = "The session cookie"))),
        (status = 401, description = "The token is not valid", body = ErrorBody),
    )
)]
pub async fn login(State(s): State<ApiState>, Json(login): Json<Login>) -> Response {
    let Some((role, name)) = s.auth.tokens().check(login.token.trim()) else {
        tracing::info!("dashboard login refused: the token is not valid");
        return Refusal::BadToken.into_response();
    };
    let name = name.to_string();
    let (id, session) = match s.auth.sessions().open(role, &name) {
        Ok(opened) => opened,
        Err(e) => return ApiError::internal(e.to_string()).into_response(),
    };
    tracing::info!(token = %name, ?role, "dashboard login");
    let cookie = cookie::Cookie::build((COOKIE, id))
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .path("/")
        .max_age(cookie::time::Duration::seconds(SESSION_TTL.as_secs() as i64))
        .build();
    let view = SessionView {
        role,
        name,
        csrf: Some(session.csrf),
    };
    with_cookie(Json(view).into_response(), &cookie)
}

/// `GET /api/session`: who the request comes from (and a session's CSRF token again,
/// for a reloaded page).
#[utoipa::path(
    get,
    path = "/api/session",
    tag = "session",
    operation_id = "session",
    responses((status = 200, description = "The caller's role and token name", body = SessionView))
)]
pub async fn show(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Json<SessionView> {
    let csrf = session_cookie(&headers)
        .and_then(|id| s.auth.sessions().find(&id))
        .map(|session| session.csrf);
    Json(SessionView {
        role: caller.role,
        name: caller.name,
        csrf: csrf.filter(|_| caller.session),
    })
}

/// `POST /api/logout`: ends the session its cookie names and clears the cookie (open:
/// without a session there is nothing to end).
#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "session",
    operation_id = "logout",
    responses(
        (status = 204, description = "The session is over and its cookie cleared",
            headers(("set-cookie" = String, description = "The cookie, cleared"))),
        (status = 401, description = "No live session to end (its cookie is cleared all the same)", body = ErrorBody),
    )
)]
pub async fn logout(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    // Like every route, it answers 401 to a caller without valid credentials: here a
    // live session, the only thing it can end.
    let live = session_cookie(&headers).filter(|id| s.auth.sessions().find(id).is_some());
    let answer = match &live {
        Some(id) => {
            s.auth.sessions().close(id);
            StatusCode::NO_CONTENT.into_response()
        }
        None => Refusal::SessionOver.into_response(),
    };
    let mut gone = cookie::Cookie::build((COOKIE, ""))
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .path("/")
        .build();
    gone.make_removal();
    with_cookie(answer, &gone)
}

fn with_cookie(mut response: Response, cookie: &cookie::Cookie<'_>) -> Response {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
