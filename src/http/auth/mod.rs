//! Who may use the API: every route but `/healthz`, `/readyz` and the login itself
//! wants a bearer token (`Authorization: Bearer …`) or a dashboard session cookie;
//! a read-only token may only `GET`; an agent's token (or a session logged in with
//! one) may use the routes under `/api/agent/` and its own session (`GET
//! /api/session`) and nothing else, and those routes,
//! which act as the agent the caller is, take no other token. Refusals are 401 (no valid credentials, with
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

impl Caller {
    /// The agent this caller is, for an agent's token (its name is the agent's id).
    pub fn agent_id(&self) -> Option<&str> {
        (self.role == Role::Agent).then_some(self.name.as_str())
    }
}

/// Where an agent's own routes live: the only ones an agent token may use.
pub const AGENT_PREFIX: &str = "/api/agent/";

/// The caller's own session (`GET`), open to every role.
const OWN_SESSION: &str = "/api/session";

/// Whether `path` is one of the agent routes.
pub fn is_agent_path(path: &str) -> bool {
    path.starts_with(AGENT_PREFIX)
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NoCredentials,
    BadToken,
    SessionOver,
    NoCsrf,
    ReadOnly,
    /// An agent's token outside `/api/agent/`.
    AgentOnly,
    /// Another token on `/api/agent/`, whose routes act as the caller's agent.
    NotAnAgent,
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
            Refusal::AgentOnly => (
                StatusCode::FORBIDDEN,
                "an agent's token may only use the agent routes under /api/agent/",
            ),
            Refusal::NotAnAgent => (
                StatusCode::FORBIDDEN,
                "these routes act as an agent: use the agent's own token",
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

    /// Who sent a request of `method` for `path` with `headers`, if they may.
    /// Agents' tokens and sessions reach the agent routes and their own session only.
    pub fn admit(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<Caller, Refusal> {
        let caller = self.identify(method, headers)?;
        // Every role reads its own session (name, role, CSRF token): the agent's page
        // needs it as the dashboard does.
        if path == OWN_SESSION && method == Method::GET {
            return Ok(caller);
        }
        match (caller.role, is_agent_path(path)) {
            (Role::Agent, true) | (Role::Admin, false) => Ok(caller),
            (Role::Read, false) if !changes(method) => Ok(caller),
            (Role::Read, false) => Err(Refusal::ReadOnly),
            (Role::Agent, false) => Err(Refusal::AgentOnly),
            (Role::Admin | Role::Read, true) => Err(Refusal::NotAnAgent),
        }
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
    match auth.admit(request.method(), request.uri().path(), request.headers()) {
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
    const AGENT: &str = "agent-token-0123456789abcdef";

    fn auth() -> Auth {
        let tokens = TokenSet::given([
            ("ops", Role::Admin, ADMIN),
            ("grafana", Role::Read, READ),
            ("ali", Role::Agent, AGENT),
        ]);
        Auth::new(tokens.unwrap())
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
        let admit = |m: Method, h: &[(&'static str, &str)]| {
            auth.admit(&m, "/api/campaigns", &headers(h))
                .map(|c| c.role)
        };
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
    fn an_agent_s_token_is_for_the_agent_routes_and_they_for_it_alone() {
        let auth = auth();
        let admit = |m: Method, path: &str, token: &str| {
            let h = format!("Bearer {token}");
            auth.admit(&m, path, &headers(&[("authorization", &h)]))
        };
        let ali = admit(Method::POST, "/api/agent/ready", AGENT).unwrap();
        assert_eq!((ali.role, ali.agent_id()), (Role::Agent, Some("ali")));
        assert!(admit(Method::GET, "/api/agent/me", AGENT).is_ok());
        for path in ["/api/campaigns", "/api/agent", "/api/agents", "/metrics"] {
            assert_eq!(
                admit(Method::GET, path, AGENT).err(),
                Some(Refusal::AgentOnly),
                "{path}"
            );
        }
        for token in [ADMIN, READ] {
            for method in [Method::GET, Method::POST] {
                let refused = admit(method, "/api/agent/me", token).err();
                assert_eq!(refused, Some(Refusal::NotAnAgent));
            }
        }
        let admin = admit(Method::GET, "/api/campaigns", ADMIN).unwrap();
        assert_eq!(admin.agent_id(), None);
    }

    #[test]
    fn a_session_cookie_admits_and_its_changes_need_the_csrf_header() {
        let auth = auth();
        let admit = |m: Method, h: &HeaderMap| auth.admit(&m, "/api/campaigns", h);
        let (id, session) = auth.sessions().open(Role::Admin, "ops").unwrap();
        let cookie = format!("theme=dark; {COOKIE}={id}");
        let get = admit(Method::GET, &headers(&[("cookie", &cookie)]));
        assert!(get.is_ok_and(|c| c.session));
        let post = admit(Method::POST, &headers(&[("cookie", &cookie)]));
        assert_eq!(post.err(), Some(Refusal::NoCsrf));
        let wrong = admit(
            Method::POST,
            &headers(&[("cookie", &cookie), (CSRF_HEADER, "x")]),
        );
        assert_eq!(wrong.err(), Some(Refusal::NoCsrf));
        let right = admit(
            Method::POST,
            &headers(&[("cookie", &cookie), (CSRF_HEADER, &session.csrf)]),
        );
        assert!(right.is_ok());
        auth.sessions().close(&id);
        let over = admit(Method::GET, &headers(&[("cookie", &cookie)]));
        assert_eq!(over.err(), Some(Refusal::SessionOver));
    }

    #[test]
    fn an_agent_s_session_acts_as_the_agent_its_changes_with_the_csrf_header() {
        let auth = auth();
        let (id, session) = auth.sessions().open(Role::Agent, "ali").unwrap();
        let cookie = format!("{COOKIE}={id}");
        let path = "/api/agent/ready";
        let bare = auth.admit(&Method::POST, path, &headers(&[("cookie", &cookie)]));
        assert_eq!(bare.err(), Some(Refusal::NoCsrf));
        let with_csrf = headers(&[("cookie", &cookie), (CSRF_HEADER, &session.csrf)]);
        let ali = auth.admit(&Method::POST, path, &with_csrf).unwrap();
        assert_eq!(ali.agent_id(), Some("ali"));
        let elsewhere = auth.admit(&Method::GET, "/api/status", &with_csrf);
        assert_eq!(elsewhere.err(), Some(Refusal::AgentOnly));
    }
}
