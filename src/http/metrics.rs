//! `GET /metrics`: the Prometheus text of `crate::metrics`, behind the token check like
//! every route (a read-only token may scrape it; Prometheus sends it with
//! `authorization: {credentials: …}` in its scrape config). What is a state rather
//! than a count (live calls, Asterisk's distress, the outbox, the agents' and
//! campaigns' KPIs of `kpis.rs`) is read here, at the scrape, so the hot path never
//! pays for it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiState};
use crate::metrics::{self, OutboxSample, Sample};
use crate::store::{Store, StoreError};

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "daemon",
    operation_id = "metrics",
    responses((status = 200, description = "The Prometheus text format: calls, ARI latency, reconnects, distress, classification, outbox, deliveries, reloads, store commits, agents by state and occupancy, campaigns' drop rates, ASA and AHT", content_type = "text/plain", body = String))
)]
pub(super) async fn scrape(State(s): State<ApiState>) -> Result<Response, ApiError> {
    let sample = sample(&s).await;
    let m = metrics::global();
    m.set_sample(&sample);
    let text = m.encode().map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(([(CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}

/// What the runtime and the store say now.
async fn sample(s: &ApiState) -> Sample {
    let mut sample = Sample::default();
    // The outbox's times are on the campaigns' clock, the runtime's wall time.
    let now_ms = match &s.runtime {
        Some(runtime) => {
            sample.live_calls = Some(runtime.live_calls());
            sample.connected = Some(runtime.is_connected());
            sample.distress = Some(runtime.distress());
            sample.ceiling = runtime.backoff_metrics().ceiling;
            runtime.clock().wall_ms()
        }
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    };
    let store = Arc::clone(&s.store);
    let desk = s.desk.clone();
    let reasons = s.agents.break_reasons.clone();
    let read = move || {
        let kpis = super::kpis::read(&store, desk.as_deref(), &reasons, now_ms);
        (outbox(&store, now_ms), kpis)
    };
    let (outbox, kpis) = match tokio::task::spawn_blocking(read).await {
        Ok(read) => read,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the store read failed");
            return sample;
        }
    };
    // The rest is still worth serving; what could not be read keeps its last values.
    match outbox {
        Ok(outbox) => sample.outbox = Some(outbox),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the outbox"),
    }
    match kpis {
        Ok(kpis) => sample.kpis = Some(kpis),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the KPIs"),
    }
    sample
}

fn outbox(store: &Store, now_ms: u64) -> Result<OutboxSample, StoreError> {
    let counts = store.outbox_counts()?;
    let oldest = store.outbox_oldest_ms()?;
    Ok(OutboxSample {
        pending: counts.pending,
        parked: counts.parked,
        oldest_age: Duration::from_millis(oldest.map_or(0, |at| now_ms.saturating_sub(at))),
    })
}
