//! The HTTP API `dialflow run` serves: campaign control while the daemon holds the store
//! (redb allows one process per file, so the `campaign` commands come through here then).
//! Handlers call the same store operations as the commands; the dialer sees the changes
//! at its next refresh. JSON in and out; errors are `{"error": "..."}` with a status.

pub mod auth;
mod campaigns;
mod data;
mod extract;
mod login;
mod metrics;
mod outbox;
mod versions;

pub use campaigns::CampaignView;
pub use data::{Count, ImportView, MAX_INLINE_ERRORS, MAX_UPLOAD_BYTES};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::watch;

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
}

impl ApiState {
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

pub fn router(state: ApiState) -> Router {
    let open = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/login", post(login::login))
        .route("/api/logout", post(login::logout))
        .with_state(state.clone());
    let guard = axum::middleware::from_fn_with_state(Arc::clone(&state.auth), auth::require);
    protected(state).layer(guard).merge(open)
}

/// Every route behind the token check (the fallbacks too: an unknown path tells
/// nothing to a caller without a token).
fn protected(state: ApiState) -> Router {
    Router::new()
        .route("/api/session", get(login::show))
        .route("/api/status", get(status))
        .route(
            "/api/campaigns",
            get(campaigns::list).post(campaigns::create),
        )
        .route(
            "/api/campaigns/{name}",
            get(campaigns::show).put(campaigns::update),
        )
        .route("/api/campaigns/{name}/{action}", post(campaigns::act))
        .route(
            "/api/campaigns/{name}/leads",
            get(data::leads)
                .post(data::import)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/api/campaigns/{name}/leads/recycle", post(data::recycle))
        .route("/api/campaigns/{name}/leads/cancel", post(data::cancel))
        .route("/api/campaigns/{name}/attempts", get(data::attempts))
        .route(
            "/api/campaigns/{name}/attempts.csv",
            get(data::attempts_csv),
        )
        .route("/api/dnc", get(data::dnc_list).post(data::dnc_add))
        .route("/api/outbox", get(outbox::pending))
        .route("/api/outbox/parked", get(outbox::parked))
        .route("/api/outbox/retry", post(outbox::retry))
        .route("/api/dialing/pause", post(pause_dialing))
        .route("/api/dialing/resume", post(resume_dialing))
        .route("/api/reload", post(reload))
        .route("/api/scenario-versions", get(versions::latest))
        .route("/api/scenario-versions/{name}", get(versions::history))
        .route("/api/scenario-texts/{hash}", get(versions::by_hash))
        .route("/metrics", get(metrics::scrape))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .with_state(state)
}

/// `GET /healthz`: the process answers (open, for probes).
async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz` (open, for probes): 200 once the store is open and Asterisk's event
/// stream is connected, else 503 saying which is missing.
async fn readyz(axum::extract::State(s): axum::extract::State<ApiState>) -> Response {
    match &s.runtime {
        Some(runtime) if !runtime.is_connected() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: Asterisk's event stream is not connected\n",
        )
            .into_response(),
        _ => "ready\n".into_response(),
    }
}

/// `GET /api/status`: which store this daemon holds (commands check it is theirs).
async fn status(
    axum::extract::State(s): axum::extract::State<ApiState>,
) -> axum::Json<serde_json::Value> {
    let store =
        std::fs::canonicalize(s.store.path()).unwrap_or_else(|_| s.store.path().to_path_buf());
    let paused = s.control.as_ref().is_some_and(Controller::is_paused);
    axum::Json(serde_json::json!({
        "store": store.display().to_string(),
        "version": env!("CARGO_PKG_VERSION"),
        "dialing": if paused { "paused" } else { "on" },
        "last_reload": s.control.as_ref().and_then(Controller::last_reload),
    }))
}

/// `POST /api/dialing/pause`: no new call on any campaign (their states stay); calls
/// on the line go on.
async fn pause_dialing(
    axum::extract::State(s): axum::extract::State<ApiState>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    steer(&s, Control::Pause)
}

/// `POST /api/dialing/resume`: dial again after a pause.
async fn resume_dialing(
    axum::extract::State(s): axum::extract::State<ApiState>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    steer(&s, Control::Resume)
}

fn steer(s: &ApiState, control: Control) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let pausing = matches!(control, Control::Pause);
    s.controller()?.send(control).map_err(stopped)?;
    Ok(axum::Json(serde_json::json!({
        "dialing": if pausing { "paused" } else { "on" },
    })))
}

/// `POST /api/reload`: compile the scenarios folder again and serve it, or (422) say
/// why nothing changed.
async fn reload(
    axum::extract::State(s): axum::extract::State<ApiState>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let reloaded = s
        .controller()?
        .reload(crate::control::Trigger::Api)
        .await
        .map_err(stopped)?
        .map_err(|e| reload_refused(&e))?;
    let scenarios: serde_json::Map<String, serde_json::Value> = reloaded
        .scenarios
        .into_iter()
        .map(|(name, hash)| (name, hash.into()))
        .collect();
    Ok(axum::Json(
        serde_json::json!({ "scenarios": scenarios, "kept": reloaded.kept }),
    ))
}

/// A folder that does not compile is the request's problem (422, with the
/// diagnostics); one dialflow cannot read, or a run without a folder, is not.
fn reload_refused(e: &crate::control::ReloadError) -> ApiError {
    use crate::control::ReloadError;
    match e {
        ReloadError::DoesNotCompile(_) => {
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
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
