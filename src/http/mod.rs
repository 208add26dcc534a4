//! The HTTP API `dialflow run` serves: campaign control while the daemon holds the store
//! (redb allows one process per file, so the `campaign` commands come through here then).
//! Handlers call the same store operations as the commands; the dialer sees the changes
//! at its next refresh. JSON in and out; errors are `{"error": "..."}` with a status.

mod campaigns;
mod data;

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
use crate::store::{Store, StoreError};

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<Store>,
    /// The scenarios the daemon serves: a campaign can start only with one of them.
    pub scenarios: SharedScenarios,
    /// The daemon's controls (`None` when the API runs without a daemon, in tests).
    pub control: Option<Controller>,
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
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "no daemon behind this API".into(),
            )
        })
    }
}

pub fn router(state: ApiState) -> Router {
    Router::new()
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
        .route("/api/dialing/pause", post(pause_dialing))
        .route("/api/dialing/resume", post(resume_dialing))
        .route("/api/reload", post(reload))
        .with_state(state)
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
        .reload()
        .await
        .map_err(stopped)?
        .map_err(|e| reload_refused(&e))?;
    let scenarios: serde_json::Map<String, serde_json::Value> = reloaded
        .scenarios
        .into_iter()
        .map(|(name, hash)| (name, hash.into()))
        .collect();
    Ok(axum::Json(serde_json::json!({ "scenarios": scenarios })))
}

/// A folder that does not compile is the request's problem (422, with the
/// diagnostics); one dialflow cannot read, or a run without a folder, is not.
fn reload_refused(e: &crate::control::ReloadError) -> ApiError {
    use crate::control::ReloadError;
    let status = match e {
        ReloadError::DoesNotCompile(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ReloadError::NoFolder => StatusCode::CONFLICT,
        ReloadError::Folder(_) | ReloadError::Task(_) => {
            tracing::error!("reload: {e}");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    ApiError(status, e.to_string())
}

fn stopped(e: crate::control::Stopped) -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
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

/// Binds the configured address (`None` when it is off).
pub async fn bind(listen: &str) -> Result<Option<tokio::net::TcpListener>, String> {
    if listen.is_empty() {
        return Ok(None);
    }
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| format!("listen: `{listen}` is not an address"))?;
    tokio::net::TcpListener::bind(addr)
        .await
        .map(Some)
        .map_err(|e| format!("cannot serve the HTTP API on {listen}: {e}"))
}

/// An API error: a status and a message.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

/// The status a store error answers with.
fn status_of(e: &StoreError) -> StatusCode {
    match e {
        StoreError::NoCampaign(_) => StatusCode::NOT_FOUND,
        StoreError::CampaignExists(_) | StoreError::BadTransition { .. } => StatusCode::CONFLICT,
        StoreError::Invalid(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(status_of(&e), e.to_string())
    }
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, message.into())
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, message.into())
    }
}

/// Runs a store operation on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(ApiError::from)
}
