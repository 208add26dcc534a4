//! Leads, DNC lists and attempts over the API, for the commands while the daemon holds
//! the store: import a CSV (streamed to a temporary file), list, recycle, cancel; add to
//! and list DNC lists; list and export attempts (CSV streamed page by page).

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::extract::{Json, Path, Query};
use super::{ApiError, ApiState, ErrorBody, blocking};
use crate::leads::import::{ImportFailure, import_file};
use crate::store::{AttemptView, DncEntry, DncScope, LeadRecord, StoreError};

/// A page of a listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// The last id (of a lead) or sequence number (of an attempt) of the previous page;
    /// 0 for the first page.
    #[serde(default)]
    pub after: u64,
    /// How many at most (up to 10,000).
    #[serde(default = "default_limit")]
    #[param(default = 1000, maximum = 10000)]
    pub limit: usize,
}

fn default_limit() -> usize {
    1000
}

/// `GET /api/campaigns/{name}/leads`: a page of a campaign's leads, by id.
#[utoipa::path(
    get,
    path = "/api/campaigns/{name}/leads",
    tag = "leads",
    operation_id = "list_leads",
    params(("name" = String, Path, description = "The campaign's name"), Page),
    responses(
        (status = 200, description = "The leads after `after`, by id", body = Vec<LeadRecord>),
        (status = 404, description = "No such campaign", body = ErrorBody),
    )
)]
pub async fn leads(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<LeadRecord>>, ApiError> {
    let store = s.store.clone();
    let limit = page.limit.min(10_000);
    Ok(Json(
        blocking(move || {
            store.campaign(&name)?;
            store.leads(&name, page.after, limit)
        })
        .await?,
    ))
}

/// How to read an uploaded lead file.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Region (ISO 3166: `IR`, `US`) for numbers written without a country code; the
    /// campaign's own by default.
    pub region: Option<String>,
}

/// What an import did; `errors_csv` is the error report when rows were rejected (its
/// first `MAX_INLINE_ERRORS` bytes, cut at a line, when `errors_truncated`).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportView {
    pub added: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub seconds: f64,
    pub errors_csv: Option<String>,
    #[serde(default)]
    pub errors_truncated: bool,
}

/// Largest lead file accepted through the API.
pub const MAX_UPLOAD_BYTES: u64 = 4 << 30;
/// Most bytes of the error report sent back in the answer.
pub const MAX_INLINE_ERRORS: usize = 16 << 20;

/// A folder of its own for one upload, next to the store (not in a temporary folder
/// that may live in memory), removed when dropped, also when the request is cancelled.
struct UploadDir(std::path::PathBuf);

impl UploadDir {
    fn create(store: &std::path::Path) -> std::io::Result<UploadDir> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let parent = store
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = parent.join(format!(".dialflow-upload-{}-{n}", std::process::id()));
            // `create_dir`, not `create_dir_all`: two uploads never share a folder.
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(UploadDir(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for UploadDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `POST /api/campaigns/{name}/leads?region=IR`: import a CSV of leads (the body, up
/// to 4 GiB).
#[utoipa::path(
    post,
    path = "/api/campaigns/{name}/leads",
    tag = "leads",
    operation_id = "import_leads",
    params(("name" = String, Path, description = "The campaign's name"), ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "The lead file: a header row with a `phone` column, then one lead a row",
        example = json!("phone,name\n09120000000,Sara\n")),
    responses(
        (status = 200, description = "What the import did, with the rejected rows' report", body = ImportView),
        (status = 400, description = "A file that cannot be read as leads", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
        (status = 413, description = "A file over 4 GiB", body = ErrorBody),
    )
)]
pub async fn import(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<ImportQuery>,
    body: Body,
) -> Result<Json<ImportView>, ApiError> {
    let store = s.store.clone();
    let n = name.clone();
    let record = blocking(move || store.campaign(&n)).await?;
    let region = q.region.unwrap_or(record.settings.region);
    // The body goes to a file first: the reader streams from it, and a big upload never
    // sits in memory.
    let store_path = s.store.path().to_path_buf();
    let dir = tokio::task::spawn_blocking(move || UploadDir::create(&store_path))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
    let (file, errors) = (dir.0.join("leads.csv"), dir.0.join("errors.csv"));
    save_upload(body, &file).await?;
    let store = s.store.clone();
    let (f, e) = (file.clone(), errors.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        let report = import_file(
            &store,
            &name,
            &f,
            &region,
            &e,
            super::wall_now_ms,
            |_, _| {},
        )?;
        let (errors_csv, errors_truncated) = read_errors(&e)?;
        Ok::<_, ImportFailure>(ImportView {
            added: report.added,
            duplicates: report.duplicates,
            rejected: report.rejected,
            seconds: report.seconds,
            errors_csv,
            errors_truncated,
        })
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    drop(dir);
    match outcome {
        Ok(view) => Ok(Json(view)),
        Err(ImportFailure::Store(e)) => Err(e.into()),
        Err(ImportFailure::Partial { error, added }) => {
            let kind = error.kind();
            let message = ImportFailure::Partial { error, added }.to_string();
            Err(ApiError::of_kind(kind, message))
        }
        Err(failure @ ImportFailure::Io { .. }) => Err(ApiError::internal(failure.to_string())),
        Err(ImportFailure::File(message)) => Err(ApiError::bad_request(
            message.replace(&file.display().to_string(), "the uploaded file"),
        )),
    }
}

/// Writes the request body to `file`, refusing more than `MAX_UPLOAD_BYTES`.
async fn save_upload(body: Body, file: &std::path::Path) -> Result<(), ApiError> {
    use tokio::io::AsyncWriteExt as _;
    let mut out = tokio::fs::File::create(file)
        .await
        .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk: Bytes =
            chunk.map_err(|e| ApiError::bad_request(format!("the upload broke off: {e}")))?;
        received += chunk.len() as u64;
        if received > MAX_UPLOAD_BYTES {
            return Err(ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the lead file is larger than {} GiB: split it, or import it with the daemon stopped",
                    MAX_UPLOAD_BYTES >> 30
                ),
            ));
        }
        out.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
    }
    out.flush()
        .await
        .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))
}

/// The error report, if any: at most `MAX_INLINE_ERRORS` bytes of it, cut after a whole
/// line, and whether it was cut.
fn read_errors(path: &std::path::Path) -> Result<(Option<String>, bool), ImportFailure> {
    use std::io::Read as _;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, false)),
        Err(e) => return Err(ImportFailure::io("read", path)(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_INLINE_ERRORS as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(ImportFailure::io("read", path))?;
    let truncated = bytes.len() > MAX_INLINE_ERRORS;
    if truncated {
        bytes.truncate(MAX_INLINE_ERRORS);
        let whole_lines = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        bytes.truncate(whole_lines);
    }
    Ok((
        Some(String::from_utf8_lossy(&bytes).into_owned()),
        truncated,
    ))
}

/// Which finished leads to dial again.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RecycleBody {
    /// Only the leads whose last result is one of these (every finished lead when empty).
    #[serde(default)]
    pub results: Vec<String>,
}

/// How many things a change touched.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Count {
    pub count: u64,
}

/// `POST /api/campaigns/{name}/leads/recycle`: finished leads back in line, as a new
/// round.
#[utoipa::path(
    post,
    path = "/api/campaigns/{name}/leads/recycle",
    tag = "leads",
    operation_id = "recycle_leads",
    params(("name" = String, Path, description = "The campaign's name")),
    request_body(content = RecycleBody, example = json!({"results": ["busy"]})),
    responses(
        (status = 200, description = "How many leads were recycled", body = Count),
        (status = 404, description = "No such campaign", body = ErrorBody),
    )
)]
pub async fn recycle(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Json(body): Json<RecycleBody>,
) -> Result<Json<Count>, ApiError> {
    let store = s.store.clone();
    let count = blocking(move || store.recycle(&name, &body.results, super::wall_now_ms())).await?;
    Ok(Json(Count { count }))
}

/// Which pending leads to cancel.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CancelBody {
    /// One number (E.164), or every pending lead when absent.
    pub phone: Option<String>,
}

/// `POST /api/campaigns/{name}/leads/cancel`: pending leads taken out.
#[utoipa::path(
    post,
    path = "/api/campaigns/{name}/leads/cancel",
    tag = "leads",
    operation_id = "cancel_leads",
    params(("name" = String, Path, description = "The campaign's name")),
    request_body(content = CancelBody, example = json!({"phone": "+989120000000"})),
    responses(
        (status = 200, description = "How many leads were cancelled", body = Count),
        (status = 404, description = "No such campaign", body = ErrorBody),
    )
)]
pub async fn cancel(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Json(body): Json<CancelBody>,
) -> Result<Json<Count>, ApiError> {
    let store = s.store.clone();
    let count = blocking(move || store.cancel_leads(&name, body.phone.as_deref())).await?;
    Ok(Json(Count { count }))
}

/// `GET /api/campaigns/{name}/attempts`: a page of a campaign's attempts, in order.
#[utoipa::path(
    get,
    path = "/api/campaigns/{name}/attempts",
    tag = "leads",
    operation_id = "list_attempts",
    params(("name" = String, Path, description = "The campaign's name"), Page),
    responses(
        (status = 200, description = "The attempts after sequence `after`", body = Vec<AttemptView>),
        (status = 404, description = "No such campaign", body = ErrorBody),
    )
)]
pub async fn attempts(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<AttemptView>>, ApiError> {
    let store = s.store.clone();
    let limit = page.limit.min(10_000);
    Ok(Json(
        blocking(move || {
            store.campaign(&name)?;
            store.attempts(&name, page.after, limit)
        })
        .await?,
    ))
}

/// `GET /api/campaigns/{name}/attempts.csv`: the export, streamed.
#[utoipa::path(
    get,
    path = "/api/campaigns/{name}/attempts.csv",
    tag = "leads",
    operation_id = "export_attempts",
    params(("name" = String, Path, description = "The campaign's name")),
    responses(
        (status = 200, description = "Every attempt as CSV", content_type = "text/csv", body = String),
        (status = 404, description = "No such campaign", body = ErrorBody),
    )
)]
pub async fn attempts_csv(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let store = s.store.clone();
    let n = name.clone();
    blocking(move || store.campaign(&n)).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let store = s.store.clone();
    tokio::task::spawn_blocking(move || {
        let sink = ChannelWriter {
            tx: tx.clone(),
            buffer: Vec::with_capacity(64 * 1024),
        };
        if let Err(e) = crate::export::attempts_csv(&store, &name, sink) {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let stream = tokio_stream_from(rx);
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The receiver as a stream of chunks.
fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Bytes written here go to the response in chunks of 64 KiB.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buffer));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the client went away"))
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

/// Numbers to put on a do-not-call list.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DncBody {
    /// E.164 numbers (the command normalises them).
    pub phones: Vec<String>,
    /// The campaign's own list, or the global one when absent.
    pub campaign: Option<String>,
    #[serde(default)]
    pub reason: String,
}

/// A page of a do-not-call list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DncQuery {
    /// The campaign's own list, or the global one when absent.
    pub campaign: Option<String>,
    /// The last number of the previous page.
    #[serde(default)]
    pub after: String,
    /// How many at most (up to 10,000).
    #[serde(default = "default_limit")]
    #[param(default = 1000, maximum = 10000)]
    pub limit: usize,
}

fn scope(campaign: Option<String>) -> DncScope {
    campaign.map_or(DncScope::Global, DncScope::Campaign)
}

/// `POST /api/dnc`: numbers on a do-not-call list.
#[utoipa::path(
    post,
    path = "/api/dnc",
    tag = "leads",
    operation_id = "add_dnc",
    request_body(content = DncBody, example = json!({"phones": ["+989120000000"], "reason": "asked"})),
    responses(
        (status = 200, description = "How many numbers were added", body = Count),
        (status = 400, description = "A number that is not E.164", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
    )
)]
pub async fn dnc_add(
    State(s): State<ApiState>,
    Json(body): Json<DncBody>,
) -> Result<Json<Count>, ApiError> {
    let store = s.store.clone();
    let count = blocking(move || {
        if let Some(c) = &body.campaign {
            store.campaign(c)?;
        }
        // Stored exactly as leads are (canonical E.164), or the list would never match:
        // `+98 0912…` and `+98912…` are one number.
        let mut phones = Vec::with_capacity(body.phones.len());
        for p in &body.phones {
            let canonical = p
                .starts_with('+')
                .then(|| crate::leads::normalize_phone(p, phonenumber::country::Id::IR).ok())
                .flatten()
                .ok_or_else(|| {
                    StoreError::BadInput(format!("`{p}` is not an E.164 number like +989121234567"))
                })?;
            phones.push(canonical);
        }
        store.add_dnc(
            &scope(body.campaign),
            &phones,
            &body.reason,
            super::wall_now_ms(),
        )
    })
    .await?;
    Ok(Json(Count { count }))
}

/// `GET /api/dnc`: a page of a do-not-call list, by number: `[number, entry]` pairs.
#[utoipa::path(
    get,
    path = "/api/dnc",
    tag = "leads",
    operation_id = "list_dnc",
    params(DncQuery),
    responses((status = 200, description = "The numbers after `after`, with when and why", body = Vec<(String, DncEntry)>))
)]
pub async fn dnc_list(
    State(s): State<ApiState>,
    Query(q): Query<DncQuery>,
) -> Result<Json<Vec<(String, DncEntry)>>, ApiError> {
    let store = s.store.clone();
    Ok(Json(
        blocking(move || -> Result<_, StoreError> {
            store.dnc_page(&scope(q.campaign), &q.after, q.limit.min(10_000))
        })
        .await?,
    ))
}
