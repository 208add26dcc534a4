//! Who may use the API: every route but `/healthz`, `/readyz` and the login itself
//! wants a bearer token (`Authorization: Bearer …`) or a dashboard session cookie;
//! a read-only token may only `GET`. Refusals are 401 (no valid credentials, with
//! `WWW-Authenticate: Bearer`) or 403 (valid, but not allowed this), in the API's
//! `{"error": …}` shape, and never echo what was presented.

mod session;
mod tokens;

pub use session::{COOKIE, CSRF_HEADER, SESSION_TTL, Sessions};
pub use tokens::{
    ADMIN_TOKENS_ENV, COMMAND_TOKEN_ENV, MIN_TOKEN_LEN, Origin, READ_TOKENS_ENV, Role, TokenError,
    TokenSet, command_token, generated_token_file, new_token,
};

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// The tokens and the sessions, shared by the middleware and the login routes.
pub struct Auth {
    tokens: TokenSet,
    sessions: Sessions,
}

/// Who made a request, once admitted (in the request's extensions).
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: Role,
    /// The token's name (for the log; never the token).
    pub name: String,
    /// Through a dashboard session (then changes carry the CSRF token).
    pub session: bool,
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NoCredentials,
    BadToken,
    SessionOver,
    NoCsrf,
    ReadOnly,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Refusal::NoCredentials => (
                StatusCode::UNAUTHORIZED,
                "a token is needed: send `Authorization: Bearer TOKEN`, or log in",
            ),
            Refusal::BadToken => (StatusCode::UNAUTHORIZED, "the token is not valid"),
            Refusal::SessionOver => (
                StatusCode::UNAUTHORIZED,
                "the session is over: log in again",
            ),
            Refusal::NoCsrf => (
                StatusCode::FORBIDDEN,
                "a change from the dashboard must carry its X-CSRF-Token header",
            ),
            Refusal::ReadOnly => (
                StatusCode::FORBIDDEN,
                "this token may only read: a change needs an admin token",
            ),
        };
        let mut response = ApiError::new(status, message).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"dialflow\""),
            );
        }
        response
    }
}

impl Auth {
    pub fn new(tokens: TokenSet) -> Auth {
        Auth {
            tokens,
            sessions: Sessions::default(),
        }
    }

    pub fn tokens(&self) -> &TokenSet {
        &self.tokens
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Who sent a request of `method` with `headers`, if they may.
    pub fn admit(&self, method: &Method, headers: &HeaderMap) -> Result<Caller, Refusal> {
        let caller = self.identify(method, headers)?;
        if changes(method) && !caller.role.may_change() {
            return Err(Refusal::ReadOnly);
        }
        Ok(caller)
    }

    fn identify(&self, method: &Method, headers: &HeaderMap) -> Result<Caller, Refusal> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let token = bearer(value).ok_or(Refusal::BadToken)?;
            let (role, name) = self.tokens.check(token).ok_or(Refusal::BadToken)?;
            return Ok(Caller {
                role,
                name: name.to_string(),
                session: false,
            });
        }
        let id = session_cookie(headers).ok_or(Refusal::NoCredentials)?;
        let session = self.sessions.find(&id).ok_or(Refusal::SessionOver)?;
        if changes(method) {
            let csrf = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !csrf.is_some_and(|c| session.csrf_matches(c)) {
                return Err(Refusal::NoCsrf);
            }
        }
        Ok(Caller {
            role: session.role,
            name: session.token_name,
            session: true,
        })
    }
}

/// Whether a request of `method` changes something (what a read-only token may not).
fn changes(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The token of `Bearer TOKEN` (the scheme in any case).
fn bearer(value: &HeaderValue) -> Option<&str> {
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The session cookie's value, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
}

/// The middleware in front of every protected route.
pub async fn require(State(auth): State<Arc<Auth>>, mut request: Request, next: Next) -> Response {
    match auth.admit(request.method(), request.headers()) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(refusal) => {
            tracing::debug!(method = %request.method(), path = %request.uri().path(), ?refusal, "API request refused");
            refusal.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "admin-token-0123456789abcdef";
    const READ: &str = "read-token-0123456789abcdef";

    fn auth() -> Auth {
        let env = |k: &str| match k {
            ADMIN_TOKENS_ENV => Some(ADMIN.to_string()),
            READ_TOKENS_ENV => Some(READ.to_string()),
            _ => None,
        };
        Auth::new(TokenSet::configured(env, None).unwrap())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn bearer_tokens_are_checked_and_roles_enforced() {
        let auth = auth();
        let admit =
            |m: Method, h: &[(&'static str, &str)]| auth.admit(&m, &headers(h)).map(|c| c.role);
        assert_eq!(admit(Method::GET, &[]), Err(Refusal::NoCredentials));
        assert_eq!(
            admit(Method::GET, &[("authorization", "Bearer nope")]),
            Err(Refusal::BadToken)
        );
        assert_eq!(
            admit(Method::GET, &[("authorization", ADMIN)]),
            Err(Refusal::BadToken)
        );
        let read = format!("bearer {READ}");
        assert_eq!(
            admit(Method::GET, &[("authorization", &read)]),
            Ok(Role::Read)
        );
        assert_eq!(
            admit(Method::POST, &[("authorization", &read)]),
            Err(Refusal::ReadOnly)
        );
        let admin = format!("Bearer {ADMIN}");
        assert_eq!(
            admit(Method::DELETE, &[("authorization", &admin)]),
            Ok(Role::Admin)
        );
    }

    #[test]
    fn a_session_cookie_admits_and_its_changes_need_the_csrf_header() {
        let auth = auth();
        let (id, session) = auth.sessions().open(Role::Admin, "ops").unwrap();
        let cookie = format!("theme=dark; {COOKIE}={id}");
        let get = auth.admit(&Method::GET, &headers(&[("cookie", &cookie)]));
        assert!(get.is_ok_and(|c| c.session));
        let post = auth.admit(&Method::POST, &headers(&[("cookie", &cookie)]));
        assert_eq!(post.err(), Some(Refusal::NoCsrf));
        let wrong = auth.admit(
            &Method::POST,
            &headers(&[("cookie", &cookie), (CSRF_HEADER, "x")]),
        );
        assert_eq!(wrong.err(), Some(Refusal::NoCsrf));
        let right = auth.admit(
            &Method::POST,
            &headers(&[("cookie", &cookie), (CSRF_HEADER, &session.csrf)]),
        );
        assert!(right.is_ok());
        auth.sessions().close(&id);
        let over = auth.admit(&Method::GET, &headers(&[("cookie", &cookie)]));
        assert_eq!(over.err(), Some(Refusal::SessionOver));
    }
}
