//! One producer of live snapshots for every open dashboard: a task, started by the
//! first subscriber, makes a snapshot every `EVERY` and publishes its JSON when it
//! differs from the last; it stops once nobody listens. Subscribers get the latest
//! JSON, skipping any they were too slow for (a dashboard wants now, not history).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::super::ApiState;

/// How often the snapshot is looked at: at most four updates a second.
pub const EVERY: Duration = Duration::from_millis(250);

/// The shared producer (one per API).
#[derive(Default)]
pub struct LiveFeed {
    /// The latest snapshot's JSON, while the producer runs.
    current: Mutex<Option<watch::Sender<Arc<String>>>>,
}

/// One dashboard's view of the feed.
pub struct Updates {
    rx: watch::Receiver<Arc<String>>,
    first: bool,
}

impl Updates {
    /// The latest snapshot (at once the first time, then when it changes); `None` once
    /// the producer stopped (the daemon is stopping).
    pub async fn next(&mut self) -> Option<Arc<String>> {
        if !std::mem::take(&mut self.first) {
            self.rx.changed().await.ok()?;
        }
        let text = self.rx.borrow_and_update().clone();
        if text.is_empty() {
            // Nothing made yet: wait for the first snapshot.
            self.rx.changed().await.ok()?;
            return Some(self.rx.borrow_and_update().clone());
        }
        Some(text)
    }
}

impl LiveFeed {
    /// Listens to the feed, starting its producer if none runs.
    pub fn subscribe(&self, state: &ApiState) -> Updates {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = current.as_ref().filter(|tx| !tx.is_closed()) {
            return Updates {
                rx: tx.subscribe(),
                first: true,
            };
        }
        let (tx, rx) = watch::channel(Arc::new(String::new()));
        *current = Some(tx.clone());
        tokio::spawn(produce(tx, state.clone()));
        Updates { rx, first: true }
    }
}

/// Makes snapshots while anyone listens.
async fn produce(tx: watch::Sender<Arc<String>>, state: ApiState) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        if tx.receiver_count() == 0 {
            return;
        }
        let json = match super::snapshot(&state).await {
            Ok(snapshot) => serde_json::to_string(&snapshot).unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = ?e, "no live snapshot for the dashboards");
                continue;
            }
        };
        tx.send_if_modified(|last| {
            let changed = **last != json;
            if changed {
                *last = Arc::new(json);
            }
            changed
        });
    }
}
