//! The API's OpenAPI 3.1 description, served at `GET /api/openapi.json` (behind the
//! token, as every route but the health probes). It is not written by hand: each
//! handler carries its `#[utoipa::path]`, and `super::router` registers every route
//! with utoipa-axum's `routes!`, so the routes served and the operations described come
//! from the same registration. This module adds what no single handler knows: the
//! security schemes, which operations need them (every protected one; a change made
//! through a dashboard session also needs the CSRF header), the 401/403 answers of the
//! token check, and the `{"error": …}` answer every `/api/` operation may give.

use std::sync::Arc;

use axum::Extension;
use utoipa::openapi::path::{HttpMethod, Operation, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Components, OpenApi, Ref, RefOr, Response as ApiResponse};

use super::ErrorBody;
use super::auth::{COOKIE, CSRF_HEADER};

/// The names the document gives its security schemes and shared answers.
const BEARER: &str = "bearer";
const SESSION: &str = "session";
const CSRF: &str = "csrf";
const UNAUTHORIZED: &str = "Unauthorized";
const FORBIDDEN: &str = "Forbidden";
const ERROR: &str = "Error";

/// The document's frame: its title, the shared `ErrorBody` schema and the tags.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "dialflow",
        description = "The HTTP API of `dialflow run`: campaigns, leads, DNC lists, attempts, \
the report outbox, dialing and scenario reloads. JSON in and out; a refusal is \
`{\"error\": \"...\"}` with its status. Every route but `/healthz`, `/readyz`, \
`/api/login`, `/api/logout` and the dashboard's page `/` needs a bearer token (admin, or read: `GET` only) or a \
dashboard session cookie (whose changes also carry `X-CSRF-Token`). The routes under `/api/agent/` act as one \
agent and take only that agent's token (or a session logged in with it), which may use nothing else."
    ),
    components(schemas(ErrorBody, crate::desk::AgentNotice)),
    tags(
        (name = "probes", description = "Health and readiness, open to probes"),
        (name = "session", description = "The dashboard's login and session"),
        (name = "dashboard", description = "The dashboard's page and its live data"),
        (name = "daemon", description = "The daemon: status, dialing, reloads, this document"),
        (name = "campaigns", description = "Campaigns and their state changes"),
        (name = "leads", description = "Leads, attempts and DNC lists"),
        (name = "outbox", description = "Reports waiting for the panel, and parked ones"),
        (name = "scenarios", description = "The scenario versions served"),
        (name = "reports", description = "Agents', campaigns' and leads' reports over a time range"),
        (name = "agent", description = "One agent's own routes, with that agent's token: state, calls, dispositions"),
        (name = "agents", description = "A supervisor's hand on the agents (an admin's token): breaks, log-outs"),
    )
)]
pub struct ApiDoc;

/// The whole document: the open routes' operations as they are, the protected ones
/// with their security and the token check's answers.
pub fn assemble(open: OpenApi, mut protected: OpenApi) -> OpenApi {
    for item in protected.paths.paths.values_mut() {
        for (method, operation) in operations(item) {
            secure(method, operation);
            // Every protected route refuses in the API's shape (`/metrics` too).
            may_refuse(operation);
        }
    }
    protected.merge(open);
    for (path, item) in protected.paths.paths.iter_mut() {
        if path.starts_with("/api/") {
            for (_, operation) in operations(item) {
                may_refuse(operation);
            }
        }
    }
    add_components(protected.components.get_or_insert_with(Components::new));
    protected
}

/// Every operation of a path, with its method.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (HttpMethod, &mut Operation)> {
    [
        (HttpMethod::Get, item.get.as_mut()),
        (HttpMethod::Put, item.put.as_mut()),
        (HttpMethod::Post, item.post.as_mut()),
        (HttpMethod::Delete, item.delete.as_mut()),
        (HttpMethod::Options, item.options.as_mut()),
        (HttpMethod::Head, item.head.as_mut()),
        (HttpMethod::Patch, item.patch.as_mut()),
        (HttpMethod::Trace, item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|o| (method, o)))
}

/// Whether a request of `method` changes something (as `auth` decides it).
fn changes(method: &HttpMethod) -> bool {
    !matches!(
        method,
        HttpMethod::Get | HttpMethod::Head | HttpMethod::Options
    )
}

/// A protected operation: a bearer token or a session (with the CSRF header for a
/// change), 401 without them, and 403 for a token of the wrong kind (an agent's
/// outside `/api/agent/`, another inside it), a reader's change or a session's change
/// without the CSRF header: every operation may refuse some valid token.
fn secure(method: HttpMethod, operation: &mut Operation) {
    let session = if changes(&method) {
        SecurityRequirement::new(SESSION, Vec::<String>::new()).add(CSRF, Vec::<String>::new())
    } else {
        SecurityRequirement::new(SESSION, Vec::<String>::new())
    };
    operation.security = Some(vec![
        SecurityRequirement::new(BEARER, Vec::<String>::new()),
        session,
    ]);
    let responses = &mut operation.responses.responses;
    responses.insert("401".into(), response_ref(UNAUTHORIZED));
    responses.insert("403".into(), response_ref(FORBIDDEN));
}

/// Any other refusal of a protected or `/api/` operation (a malformed body, a fault
/// of the store, …) is the API's `{"error": …}`.
fn may_refuse(operation: &mut Operation) {
    operation
        .responses
        .responses
        .entry("default".into())
        .or_insert_with(|| response_ref(ERROR));
}

fn response_ref(name: &str) -> RefOr<ApiResponse> {
    RefOr::Ref(Ref::from_response_name(name))
}

/// The security schemes and the shared answers.
fn add_components(components: &mut Components) {
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some(
            "An admin token (everything but `/api/agent/`), a read token (`GET` only, \
             not `/api/agent/`) or an agent's token (`/api/agent/` only, as that agent): \
             `Authorization: Bearer TOKEN`.",
        ))
        .build();
    components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
    components.add_security_scheme(
        SESSION,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            COOKIE,
            "The dashboard's session, set by `POST /api/login` (HttpOnly, SameSite=Strict).",
        ))),
    );
    components.add_security_scheme(
        CSRF,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            CSRF_HEADER,
            "The session's CSRF token (from `POST /api/login` or `GET /api/session`), \
             sent with every change made through a session.",
        ))),
    );
    for (name, description) in [
        (
            UNAUTHORIZED,
            "No valid credentials: no token, a wrong one, or a session that is over \
             (with `WWW-Authenticate: Bearer`).",
        ),
        (
            FORBIDDEN,
            "Valid credentials that may not do this: a read token's change, an agent's \
             token outside `/api/agent/`, another token on `/api/agent/`, or a \
             session's change without its `X-CSRF-Token`.",
        ),
        (
            ERROR,
            "The request was refused or failed; the body says why.",
        ),
    ] {
        components
            .responses
            .insert(name.into(), RefOr::T(error_response(description)));
    }
}

/// An answer whose body is the API's `{"error": …}`.
fn error_response(description: &str) -> ApiResponse {
    utoipa::openapi::ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// The document, made once when the router is built.
#[derive(Clone)]
pub struct Document(pub Arc<OpenApi>);

/// `GET /api/openapi.json`: this API's OpenAPI 3.1 description.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "daemon",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = serde_json::Value))
)]
pub async fn serve(Extension(document): Extension<Document>) -> axum::Json<Arc<OpenApi>> {
    axum::Json(document.0)
}
