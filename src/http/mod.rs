//! The HTTP API `dialflow run` serves: campaign control while the daemon holds the store
//! (redb allows one process per file, so the `campaign` commands come through here then).
//! Handlers call the same store operations as the commands; the dialer sees the changes
//! at its next refresh. JSON in and out; errors are `{"error": "..."}` with a status.

mod agent;
pub mod auth;
mod campaigns;
mod dashboard;
mod data;
mod extract;
mod flow;
mod kpis;
mod lead_rows;
pub mod live;
mod login;
mod metrics;
mod openapi;
mod outbox;
mod reports;
mod supervise;
mod versions;

pub use agent::AgentView;
pub use campaigns::{CampaignView, ScenarioServed};
pub use data::{Count, ImportView, MAX_INLINE_ERRORS, MAX_UPLOAD_BYTES};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use serde::Serialize;
use tokio::sync::watch;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use extract::Json;

use crate::control::{Control, Controller};
use crate::scenario_set::SharedScenarios;
use crate::store::{ErrorKind, Store, StoreError};

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<Store>,
    /// The scenarios the daemon serves: a campaign can start only with one of them.
    pub scenarios: SharedScenarios,
    /// The daemon's controls (`None` when the API runs without a daemon, in tests).
    pub control: Option<Controller>,
    /// The calls' runtime (`None` without a daemon): readiness, live calls.
    pub runtime: Option<crate::runtime::Runtime>,
    /// Who may call (every route but the health probes and the login).
    pub auth: Arc<auth::Auth>,
    /// The live snapshots every open dashboard shares.
    pub feed: Arc<live::LiveFeed>,
    /// The agents' desk (`None` when no daemon serves agents: the agent routes answer
    /// 503).
    pub desk: Option<Arc<crate::desk::Desk>>,
    /// What every agent may do (the break reasons).
    pub agents: Arc<crate::config::AgentsConfig>,
}

impl ApiState {
    /// The API over `store` alone, for `auth`'s tokens: no daemon behind it until
    /// `with_control` and `with_runtime` give it one.
    pub fn new(store: Arc<Store>, scenarios: SharedScenarios, auth: auth::Auth) -> Self {
        ApiState {
            store,
            scenarios,
            control: None,
            runtime: None,
            auth: Arc::new(auth),
            feed: Arc::default(),
            desk: None,
            agents: Arc::default(),
        }
    }

    pub fn with_desk(mut self, desk: Arc<crate::desk::Desk>) -> Self {
        self.desk = Some(desk);
        self
    }

    pub fn with_agents_config(mut self, agents: crate::config::AgentsConfig) -> Self {
        self.agents = Arc::new(agents);
        self
    }

    pub fn with_control(mut self, control: Controller) -> Self {
        self.control = Some(control);
        self
    }

    pub fn with_runtime(mut self, runtime: crate::runtime::Runtime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Tells the dialer a campaign changed, so it acts on it now.
    pub(crate) fn campaigns_changed(&self) {
        if let Some(control) = &self.control {
            let _ = control.send(Control::CampaignsChanged);
        }
    }

    fn controller(&self) -> Result<&Controller, ApiError> {
        self.control.as_ref().ok_or_else(|| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no daemon behind this API")
        })
    }
}

/// The API: the open routes and the protected ones (behind the token check, their
/// fallbacks too), each registered with its documentation, and the document they make
/// served at `/api/openapi.json`.
pub fn router(state: ApiState) -> Router {
    let (open, open_doc) = open_routes().split_for_parts();
    let (protected, protected_doc) = protected_routes().split_for_parts();
    let document = openapi::Document(Arc::new(openapi::assemble(open_doc, protected_doc)));
    let guard = axum::middleware::from_fn_with_state(Arc::clone(&state.auth), auth::require);
    protected
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(Extension(document))
        .layer(guard)
        .merge(open)
        .with_state(state)
}

/// The API's OpenAPI document, as `GET /api/openapi.json` serves it.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, open) = open_routes().split_for_parts();
    let (_, protected) = protected_routes().split_for_parts();
    openapi::assemble(open, protected)
}

/// The routes without a token: the health probes and the way in and out.
fn open_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(dashboard::page))
        .routes(routes!(dashboard::agent_page))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(login::login))
        .routes(routes!(login::logout))
}

/// Every route behind the token check. Only `routes!` registers one here, so each is
/// in the document (`tests/openapi.rs` holds the source to it).
fn protected_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(openapi::serve))
        .routes(routes!(login::show))
        .routes(routes!(status))
        .routes(routes!(live::live))
        .routes(routes!(live::stream))
        .routes(routes!(flow::show))
        .routes(routes!(metrics::scrape))
        .routes(routes!(campaigns::list, campaigns::create))
        .routes(routes!(campaigns::show, campaigns::update))
        .routes(routes!(campaigns::act))
        .merge(
            // A lead file may be large: `data::save_upload` bounds it as it streams.
            OpenApiRouter::new()
                .routes(routes!(data::leads, data::import))
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .routes(routes!(data::recycle))
        .routes(routes!(lead_rows::list))
        .routes(routes!(lead_rows::recycle))
        .routes(routes!(lead_rows::delete))
        .routes(routes!(data::cancel))
        .routes(routes!(data::attempts))
        .routes(routes!(data::attempts_csv))
        .routes(routes!(data::dnc_list, data::dnc_add))
        .routes(routes!(outbox::pending))
        .routes(routes!(outbox::parked))
        .routes(routes!(outbox::retry))
        .routes(routes!(pause_dialing))
        .routes(routes!(resume_dialing))
        .routes(routes!(reload))
        .routes(routes!(versions::latest))
        .routes(routes!(versions::history))
        .routes(routes!(versions::by_hash))
        .routes(routes!(agent::state::me))
        .routes(routes!(agent::state::options))
        .routes(routes!(agent::state::login))
        .routes(routes!(agent::state::ready))
        .routes(routes!(agent::state::take_break))
        .routes(routes!(agent::state::logout))
        .routes(routes!(agent::events::events))
        .routes(routes!(agent::disposition::dispose))
        .routes(routes!(agent::call::current))
        .routes(routes!(agent::hangup::hangup))
        .routes(routes!(agent::dialing::dial))
        .routes(routes!(agent::dialing::preview))
        .routes(routes!(supervise::send_to_break))
        .routes(routes!(supervise::log_out))
        .routes(routes!(reports::agents))
        .routes(routes!(reports::campaign))
        .routes(routes!(reports::lead))
}

/// `GET /healthz`: the process answers (open, for probes).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "probes",
    operation_id = "healthz",
    responses((status = 200, description = "The process answers", content_type = "text/plain", body = String, example = "ok\n"))
)]
async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz` (open, for probes): 200 once the store is open and Asterisk's event
/// stream is connected, else 503 saying which is missing.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "probes",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready to call", content_type = "text/plain", body = String, example = "ready\n"),
        (status = 503, description = "Not ready, and why", content_type = "text/plain", body = String),
    )
)]
async fn readyz(State(s): State<ApiState>) -> Response {
    match &s.runtime {
        Some(runtime) if !runtime.is_connected() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: Asterisk's event stream is not connected\n",
        )
            .into_response(),
        _ => "ready\n".into_response(),
    }
}

/// Whether the daemon dials (`paused` by `POST /api/dialing/pause`).
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dialing {
    On,
    Paused,
}

/// Which store a daemon holds, and how it is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusView {
    /// The store's file (its canonical path).
    pub store: String,
    /// dialflow's version.
    pub version: String,
    pub dialing: Dialing,
    /// The latest reload, if there was one.
    pub last_reload: Option<crate::control::LastReload>,
    /// How the reloads went since the daemon started.
    pub reloads: Option<crate::control::ReloadCounts>,
}

/// `GET /api/status`: which store this daemon holds (commands check it is theirs).
#[utoipa::path(
    get,
    path = "/api/status",
    tag = "daemon",
    operation_id = "status",
    responses((status = 200, description = "The daemon's store, version, dialing and latest reload", body = StatusView))
)]
async fn status(State(s): State<ApiState>) -> Json<StatusView> {
    let store =
        std::fs::canonicalize(s.store.path()).unwrap_or_else(|_| s.store.path().to_path_buf());
    let paused = s.control.as_ref().is_some_and(Controller::is_paused);
    Json(StatusView {
        store: store.display().to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        dialing: if paused { Dialing::Paused } else { Dialing::On },
        last_reload: s.control.as_ref().and_then(Controller::last_reload),
        reloads: s.control.as_ref().map(Controller::reload_counts),
    })
}

/// Whether the daemon dials now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DialingView {
    pub dialing: Dialing,
}

/// `POST /api/dialing/pause`: no new call on any campaign (their states stay); calls
/// on the line go on.
#[utoipa::path(
    post,
    path = "/api/dialing/pause",
    tag = "daemon",
    operation_id = "pause_dialing",
    responses(
        (status = 200, description = "Dialing is paused", body = DialingView),
        (status = 503, description = "No daemon behind this API, or it has stopped", body = ErrorBody),
    )
)]
async fn pause_dialing(State(s): State<ApiState>) -> Result<Json<DialingView>, ApiError> {
    steer(&s, Control::Pause, Dialing::Paused)
}

/// `POST /api/dialing/resume`: dial again after a pause.
#[utoipa::path(
    post,
    path = "/api/dialing/resume",
    tag = "daemon",
    operation_id = "resume_dialing",
    responses(
        (status = 200, description = "Dialing is on", body = DialingView),
        (status = 503, description = "No daemon behind this API, or it has stopped", body = ErrorBody),
    )
)]
async fn resume_dialing(State(s): State<ApiState>) -> Result<Json<DialingView>, ApiError> {
    steer(&s, Control::Resume, Dialing::On)
}

fn steer(s: &ApiState, control: Control, dialing: Dialing) -> Result<Json<DialingView>, ApiError> {
    s.controller()?.send(control).map_err(stopped)?;
    Ok(Json(DialingView { dialing }))
}

/// What a reload serves from now on.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReloadView {
    /// Each scenario served, by name, with its content hash.
    pub scenarios: BTreeMap<String, String>,
    /// Scenarios whose file is gone, still served at their last good version.
    pub kept: Vec<String>,
}

/// `POST /api/reload`: compile the scenarios folder again and serve it, or (422) say
/// why nothing changed.
#[utoipa::path(
    post,
    path = "/api/reload",
    tag = "daemon",
    operation_id = "reload",
    responses(
        (status = 200, description = "The folder compiled and is served", body = ReloadView),
        (status = 422, description = "The folder does not compile: nothing changed (the diagnostics in `error`)", body = ErrorBody),
        (status = 409, description = "The daemon runs without a scenarios folder", body = ErrorBody),
        (status = 503, description = "No daemon behind this API, or it has stopped", body = ErrorBody),
    )
)]
async fn reload(State(s): State<ApiState>) -> Result<Json<ReloadView>, ApiError> {
    let reloaded = s
        .controller()?
        .reload(crate::control::Trigger::Api)
        .await
        .map_err(stopped)?
        .map_err(|e| reload_refused(&e))?;
    Ok(Json(ReloadView {
        scenarios: reloaded.scenarios.into_iter().collect(),
        kept: reloaded.kept,
    }))
}

/// A folder that does not compile is the request's problem (422, with the
/// diagnostics); one dialflow cannot read, or a run without a folder, is not.
fn reload_refused(e: &crate::control::ReloadError) -> ApiError {
    use crate::control::ReloadError;
    match e {
        ReloadError::DoesNotCompile { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        ReloadError::NoFolder => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        // Logged by `internal`.
        ReloadError::Folder(_) | ReloadError::Task(_) => ApiError::internal(e.to_string()),
    }
}

fn stopped(e: crate::control::Stopped) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

/// Serves the API on `listener` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
}

/// Why the API cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("listen: `{0}` is not an address")]
    BadAddress(String),
    #[error("cannot serve the HTTP API on {listen}: {source}")]
    Io {
        listen: String,
        source: std::io::Error,
    },
}

/// Binds the configured address (`None` when it is off).
pub async fn bind(listen: &str) -> Result<Option<tokio::net::TcpListener>, BindError> {
    if listen.is_empty() {
        return Ok(None);
    }
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| BindError::BadAddress(listen.to_string()))?;
    tokio::net::TcpListener::bind(addr)
        .await
        .map(Some)
        .map_err(|source| BindError::Io {
            listen: listen.to_string(),
            source,
        })
}

/// An API error: a status and a message, answered as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

/// The body of every refusal of the API.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What was wrong, for people.
    pub error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

/// The status a kind of store error answers with: the caller's mistake is a 4xx, a
/// fault of the store a 500 (never a 400: the request may well have been right).
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadInput => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict | ErrorKind::InUse => StatusCode::CONFLICT,
        ErrorKind::Io | ErrorKind::Corrupt | ErrorKind::Panicked | ErrorKind::Incompatible => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::of_kind(e.kind(), e.to_string())
    }
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A fault of the daemon's (the disk, a task that failed): logged, since the
    /// client can do nothing about it.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::error!(error = %message, "the API failed a request");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// A store error's `message`, at the status its kind calls for.
    pub fn of_kind(kind: ErrorKind, message: String) -> Self {
        if kind.is_fault() {
            ApiError::internal(message)
        } else {
            ApiError::new(status_of(kind), message)
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// Runs a store operation on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let outcome = tokio::task::spawn_blocking(f)
        .await
        .map_err(StoreError::TaskFailed)?;
    Ok(outcome?)
}

/// Now on the wall clock, in Unix milliseconds.
pub(crate) fn wall_now_ms() -> u64 {
    jiff::Timestamp::now().as_millisecond().max(0) as u64
}

/// Anything the router has no route or method for, in the API's shape too.
async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such API endpoint")
}

async fn no_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not take that method",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_of_the_store_is_a_500_and_a_mistake_a_4xx() {
        for (kind, status) in [
            (ErrorKind::BadInput, 400),
            (ErrorKind::NotFound, 404),
            (ErrorKind::Conflict, 409),
            (ErrorKind::InUse, 409),
            (ErrorKind::Incompatible, 500),
            (ErrorKind::Io, 500),
            (ErrorKind::Corrupt, 500),
            (ErrorKind::Panicked, 500),
        ] {
            assert_eq!(status_of(kind).as_u16(), status, "{kind:?}");
            assert_eq!(kind.is_fault(), status == 500, "{kind:?}");
        }
    }
}
