//! The reports calls make while they are on, written to the store's outbox as they
//! come (a few at a time, one transaction each batch), so the panel hears of a
//! bridged call before it ends. A write that keeps failing is only logged: the call's
//! end writes every report the store does not have yet.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::runtime::{LiveReport, ReportSink};
use crate::store::{LiveReported, Store};

/// Tries of one batch before it is left to the calls' ends.
const TRIES: u32 = 3;
const RETRY: Duration = Duration::from_millis(200);

/// The sink calls send their live reports to, and the task writing them; the task
/// ends once every sender is dropped and what they sent is written.
pub(super) fn spawn(store: Arc<Store>) -> (ReportSink, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<LiveReport>();
    let task = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![record(first)];
            while let Ok(more) = rx.try_recv() {
                batch.push(record(more));
            }
            write(&store, batch).await;
        }
    });
    (tx, task)
}

fn record(live: LiveReport) -> LiveReported {
    LiveReported {
        attempt_id: live.attempt_id,
        status: live.report.status,
        result: live.report.result,
        transcript: live.report.transcript,
        at_ms: live.at_wall_ms,
        answered_ms: live.answered_wall_ms,
    }
}

async fn write(store: &Arc<Store>, batch: Vec<LiveReported>) {
    let batch = Arc::new(batch);
    for attempt in 1..=TRIES {
        let (store, items) = (Arc::clone(store), Arc::clone(&batch));
        match super::blocking(move || store.report_live(&items)).await {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, attempt, "cannot write reports made during calls")
            }
        }
        tokio::time::sleep(RETRY).await;
    }
    tracing::error!(
        reports = batch.len(),
        "reports made during calls not written: they go with the calls' ends"
    );
}
