//! The delivery loop: reads the outbox in order, hands each attempt's reports to one
//! task (so they go in order), keeps up to `panel.concurrency` such tasks at once, and
//! each task tries its reports until the panel takes or refuses them. What becomes of
//! them is written by the settler, in groups; an attempt whose last report waits for
//! that write is skipped by the reads, so no report is sent twice by the worker itself.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::payload::ReportBody;
use super::post::{Target, until_settled};
use super::settle::Settler;
use super::sign::idempotency_key;
use crate::config::PanelConfig;
use crate::core::delivery::{Answer, Verdict, verdict};
use crate::metrics::{self, DeliveryOutcome};
use crate::store::{OutboxEntry, Settled, Store};

/// How often the outbox is looked at while nothing is in flight.
const POLL: Duration = Duration::from_millis(20);
/// Reports read from the outbox at a time.
const SCAN: usize = 512;
/// The wait after the store failed, before trying again.
const STORE_RETRY: Duration = Duration::from_secs(1);

pub(super) struct Worker {
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
    /// The settler's task: it ends once the last task holding `shared` has.
    settling: JoinHandle<()>,
}

/// What every attempt's task needs.
struct Shared {
    store: Arc<Store>,
    panel: PanelConfig,
    client: reqwest::Client,
    settler: Settler,
}

impl Worker {
    pub(super) fn new(
        store: Arc<Store>,
        panel: PanelConfig,
        client: reqwest::Client,
        stopped: watch::Receiver<bool>,
    ) -> Worker {
        let (settler, settling) = Settler::spawn(Arc::clone(&store));
        let shared = Arc::new(Shared {
            store,
            panel,
            client,
            settler,
        });
        Worker {
            shared,
            stopped,
            settling,
        }
    }

    pub(super) async fn run(mut self) {
        let mut tasks: JoinSet<String> = JoinSet::new();
        let mut in_flight: HashSet<String> = HashSet::new();
        while !*self.stopped.borrow() {
            let room = self
                .shared
                .panel
                .concurrency
                .saturating_sub(in_flight.len());
            if room > 0 {
                for batch in self.due(&in_flight, room).await {
                    in_flight.insert(batch[0].attempt.clone());
                    let shared = Arc::clone(&self.shared);
                    tasks.spawn(deliver_attempt(shared, batch, self.stopped.clone()));
                }
            }
            tokio::select! {
                _ = self.stopped.changed() => {}
                Some(done) = tasks.join_next() => {
                    if let Ok(attempt) = done {
                        in_flight.remove(&attempt);
                    }
                }
                () = tokio::time::sleep(POLL) => {}
            }
            // Every task that has finished meanwhile: one read of the outbox refills
            // all their places.
            while let Some(done) = tasks.try_join_next() {
                if let Ok(attempt) = done {
                    in_flight.remove(&attempt);
                }
            }
        }
        // Tasks still waiting to retry stop at once: their reports stay in the outbox.
        tasks.shutdown().await;
        // What was settled is written before the worker reports itself stopped.
        drop(self.shared);
        let _ = self.settling.await;
    }

    /// Up to `room` attempts' reports, in outbox order, of attempts not busy.
    async fn due(&self, in_flight: &HashSet<String>, room: usize) -> Vec<Vec<OutboxEntry>> {
        // Which attempts are busy is taken before the outbox is read: an attempt whose
        // last report is written as settled after this is skipped (it goes at the next
        // look), never seen free beside a read from before that write.
        let mut busy = self.shared.settler.busy();
        busy.extend(in_flight.iter().cloned());
        // The head of the outbox is mostly what is in flight: read past it and a few
        // reports for each free place, not a whole scan (each entry read is decoded);
        // the whole scan only when that found too little.
        let limit = ((busy.len() + room) * 4).clamp(16, SCAN);
        let entries = self.read(limit).await;
        let full = entries.len() == limit;
        let groups = group_by_attempt(entries, &busy, room);
        if groups.len() == room || !full || limit == SCAN {
            return groups;
        }
        group_by_attempt(self.read(SCAN).await, &busy, room)
    }

    /// The first `limit` reports of the outbox (none when the store fails: logged,
    /// after a pause).
    async fn read(&self, limit: usize) -> Vec<OutboxEntry> {
        let store = Arc::clone(&self.shared.store);
        match tokio::task::spawn_blocking(move || store.outbox(0, limit)).await {
            Ok(Ok(entries)) => entries,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot read the outbox");
                tokio::time::sleep(STORE_RETRY).await;
                Vec::new()
            }
            Err(_) => Vec::new(),
        }
    }
}

/// The entries grouped by attempt in the order each attempt first appears, skipping
/// busy attempts (in flight, or their last report not yet written as settled), at
/// most `room` groups.
fn group_by_attempt(
    entries: Vec<OutboxEntry>,
    busy: &HashSet<String>,
    room: usize,
) -> Vec<Vec<OutboxEntry>> {
    let mut groups: Vec<Vec<OutboxEntry>> = Vec::new();
    for entry in entries {
        if busy.contains(&entry.attempt) {
            continue;
        }
        let open = groups.len() < room;
        match groups.iter_mut().find(|g| g[0].attempt == entry.attempt) {
            Some(group) => group.push(entry),
            None if open => groups.push(vec![entry]),
            None => {}
        }
    }
    groups
}

/// Delivers one attempt's reports in order; returns the attempt once each is
/// delivered or parked (or the worker stops).
async fn deliver_attempt(
    shared: Arc<Shared>,
    batch: Vec<OutboxEntry>,
    mut stopped: watch::Receiver<bool>,
) -> String {
    let attempt = batch[0].attempt.clone();
    let mut queue: VecDeque<OutboxEntry> = batch.into();
    while let Some(entry) = queue.pop_front() {
        loop {
            let send = || send(&shared, &entry);
            let Some((outcome, answer, text)) = until_settled(send, &mut stopped).await else {
                return attempt;
            };
            let settled = settled(&entry, outcome, answer, text);
            if queue.is_empty() {
                // The attempt's last: written in the background, its place freed now.
                let _ = shared.settler.settle_later(settled, attempt.clone());
                return attempt;
            }
            match shared.settler.settle(settled).await {
                Ok(()) => break,
                Err(e) => {
                    // Sent again after the pause: the key makes it safe.
                    tracing::error!(error = %e, seq = entry.seq, "cannot settle a report");
                    tokio::select! {
                        _ = stopped.changed() => return attempt,
                        () = tokio::time::sleep(STORE_RETRY) => {}
                    }
                }
            }
        }
    }
    attempt
}

/// What becomes of a report the panel took (it leaves the outbox) or refused for good
/// (it is parked), for the settler to write.
fn settled(entry: &OutboxEntry, outcome: Verdict, answer: Answer, text: String) -> Settled {
    let seq = entry.seq;
    let code = match answer {
        Answer::Status { code, .. } => code,
        Answer::Unreachable => 0,
    };
    if outcome == Verdict::Park {
        tracing::warn!(seq, attempt = %entry.attempt, status = code, answer = %text,
            "the panel refused a report: parked");
    }
    let counted = match outcome {
        Verdict::Park => DeliveryOutcome::Parked,
        _ => DeliveryOutcome::Delivered,
    };
    metrics::global().delivered(counted, 1);
    match outcome {
        Verdict::Park => Settled::Parked {
            seq,
            status: code,
            answer: text,
        },
        _ => Settled::Delivered(seq),
    }
}

/// One POST of a report: the panel's answer, and the start of its body.
async fn send(shared: &Shared, entry: &OutboxEntry) -> (Answer, String) {
    let body = ReportBody::new(entry, shared.panel.include_custom_fields).to_json();
    let key = idempotency_key(&entry.attempt, &entry.status);
    let target = Target {
        client: &shared.client,
        url: &shared.panel.url,
        secret: shared.panel.secret.as_deref(),
    };
    let (answer, text) = target.post(&key, body).await;
    // Judged as `until_settled` will judge it (the count of failures only sets the wait).
    if matches!(verdict(answer, 1, 0.0), Verdict::Retry(_)) {
        metrics::global().delivered(DeliveryOutcome::Retried, 1);
    }
    (answer, text)
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
