//! Running many calls at once with a concurrency limit: what the demo and the end-to-end
//! tests use until the campaign dialer (with pacing, windows and retries) takes over.

use std::sync::Arc;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::{CallOutcome, Runtime};
use crate::ari::translate::Deployment;
use crate::core::call::{CallSetup, Lead};
use crate::core::scenario::Scenario;

/// One call to make: who, and the dial strings to reach them (and their operators).
#[derive(Debug, Clone)]
pub struct PlannedCall {
    pub attempt_id: String,
    pub lead: Lead,
    pub deployment: Deployment,
}

/// Places every call, at most `max_concurrent` at a time; `on_done` sees each outcome
/// as it finishes. Outcomes come back in completion order. Once `stop` turns true no
/// new call starts; the calls in progress go on to their end.
pub async fn run_all(
    runtime: &Runtime,
    scenario: Arc<Scenario>,
    calls: Vec<PlannedCall>,
    max_concurrent: usize,
    stop: watch::Receiver<bool>,
    mut on_done: impl FnMut(&CallOutcome),
) -> Vec<CallOutcome> {
    let slots = Arc::new(Semaphore::new(max_concurrent.max(1)));
    let mut set = JoinSet::new();
    let mut outcomes = Vec::with_capacity(calls.len());
    for call in calls {
        let mut stopped = stop.clone();
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => p.expect("the semaphore is never closed"),
            // A dropped sender means nobody will ever stop us: wait for a slot only.
            _ = async {
                if stopped.wait_for(|s| *s).await.is_err() {
                    std::future::pending::<()>().await;
                }
            } => break,
        };
        if *stop.borrow() {
            break;
        }
        while let Some(done) = set.try_join_next() {
            if let Ok(outcome) = done {
                on_done(&outcome);
                outcomes.push(outcome);
            }
        }
        let (runtime, scenario) = (runtime.clone(), Arc::clone(&scenario));
        set.spawn(async move {
            let setup = CallSetup {
                attempt_id: call.attempt_id,
                lead: call.lead,
                attempt: 1,
                ring_timeout_ms: None,
            };
            let outcome = runtime.call(scenario, setup, call.deployment).await;
            drop(permit);
            outcome
        });
    }
    while let Some(done) = set.join_next().await {
        if let Ok(outcome) = done {
            on_done(&outcome);
            outcomes.push(outcome);
        }
    }
    outcomes
}
