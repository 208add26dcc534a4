//! Settling reports in groups: every delivery task hands what became of its report
//! (taken, or refused for good) to one settler, which writes all that arrived
//! meanwhile in one store transaction. A commit waits for the disk, so one per report
//! would cap delivery at the disk's commit rate; grouped, the panel's pace decides.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::{Settled, Store, StoreError};

/// Who hears that a report is settled.
enum Reply {
    /// A task waiting for it (a report with more of its attempt's after it).
    Wait(oneshot::Sender<Result<(), StoreError>>),
    /// Nobody: the attempt's last report; the attempt is busy until it is written.
    Release(String),
}

type Request = (Settled, Reply);

/// Why a report could not be settled.
#[derive(Debug, thiserror::Error)]
pub(super) enum SettleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the delivery is stopping")]
    Stopped,
}

/// The handle delivery tasks settle their reports through.
pub(super) struct Settler {
    tx: mpsc::UnboundedSender<Request>,
    /// Attempts whose last report is delivered but not yet written as such: the
    /// worker must not send it again meanwhile.
    busy: Arc<Mutex<HashSet<String>>>,
}

impl Settler {
    /// The settler's task ends once every handle is dropped.
    pub(super) fn spawn(store: Arc<Store>) -> (Settler, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Request>();
        let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
        let released = Arc::clone(&busy);
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                write(&store, batch, &released).await;
            }
        });
        (Settler { tx, busy }, task)
    }

    /// Records what became of one report, with the others settled meanwhile.
    pub(super) async fn settle(&self, settled: Settled) -> Result<(), SettleError> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send((settled, Reply::Wait(reply))).is_err() {
            return Err(SettleError::Stopped);
        }
        Ok(answer.await.map_err(|_| SettleError::Stopped)??)
    }

    /// Records what became of `attempt`'s last report without waiting: its place in
    /// flight frees at once, and the attempt stays `busy` until it is written.
    pub(super) fn settle_later(
        &self,
        settled: Settled,
        attempt: String,
    ) -> Result<(), SettleError> {
        lock(&self.busy).insert(attempt.clone());
        if self
            .tx
            .send((settled, Reply::Release(attempt.clone())))
            .is_err()
        {
            lock(&self.busy).remove(&attempt);
            return Err(SettleError::Stopped);
        }
        Ok(())
    }

    /// The attempts whose last report waits to be written as settled, now.
    pub(super) fn busy(&self) -> HashSet<String> {
        lock(&self.busy).clone()
    }
}

fn lock(busy: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    // A panic while holding it leaves a plain set: still usable.
    busy.lock().unwrap_or_else(|e| e.into_inner())
}

/// One transaction for the batch; if it fails, each on its own, so each learns its own
/// report's fate (and one bad record holds up no other). An attempt released whose
/// report could not be written is free again: the report is sent again (same key).
async fn write(store: &Arc<Store>, batch: Vec<Request>, busy: &Mutex<HashSet<String>>) {
    let (settled, replies): (Vec<Settled>, Vec<Reply>) = batch.into_iter().unzip();
    let now = super::worker::now_ms();
    let all = {
        let (store, settled) = (Arc::clone(store), settled.clone());
        tokio::task::spawn_blocking(move || store.outbox_settle(&settled, now)).await
    };
    let results: Vec<Result<(), StoreError>> = match all {
        Ok(Ok(())) => settled.iter().map(|_| Ok(())).collect(),
        _ => {
            let mut each = Vec::new();
            for s in settled {
                let store = Arc::clone(store);
                let one = tokio::task::spawn_blocking(move || store.outbox_settle(&[s], now));
                each.push(one.await.unwrap_or_else(|e| Err(StoreError::TaskFailed(e))));
            }
            each
        }
    };
    for (result, reply) in results.into_iter().zip(replies) {
        match reply {
            Reply::Wait(tx) => {
                let _ = tx.send(result);
            }
            Reply::Release(attempt) => {
                if let Err(e) = result {
                    tracing::error!(error = %e, %attempt, "cannot settle a report: it goes again");
                }
                lock(busy).remove(&attempt);
            }
        }
    }
}
