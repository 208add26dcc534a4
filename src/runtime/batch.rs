//! Running many calls at once with a concurrency limit: what the demo and the end-to-end
//! tests use until the campaign dialer (with pacing, windows and retries) takes over.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

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

/// How fast calls start: at most `max_concurrent` in flight, and starts spread evenly at
/// `per_second` (unlimited when not finite or not positive). Spreading matters: a
/// thousand originates in one millisecond is a load no dialer sends, and the calls it
/// starts stay in lockstep, so every later step arrives as a burst too.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub max_concurrent: usize,
    pub per_second: f64,
}

impl Pace {
    /// Only a concurrency limit: a new call starts as soon as a slot frees.
    pub fn concurrent(max_concurrent: usize) -> Self {
        Self {
            max_concurrent,
            per_second: f64::INFINITY,
        }
    }

    /// When the `index`th start (from 0) may happen, counted from the first.
    fn start_offset(&self, index: usize) -> Option<Duration> {
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return None;
        }
        Duration::try_from_secs_f64(index as f64 / self.per_second).ok()
    }
}

/// Places every call as `pace` allows; `on_done` sees each outcome as it finishes.
/// Outcomes come back in completion order. Once `stop` turns true no new call starts;
/// the calls in progress go on to their end.
pub async fn run_all(
    runtime: &Runtime,
    scenario: Arc<Scenario>,
    calls: Vec<PlannedCall>,
    pace: Pace,
    stop: watch::Receiver<bool>,
    mut on_done: impl FnMut(&CallOutcome),
) -> Vec<CallOutcome> {
    let slots = Arc::new(Semaphore::new(pace.max_concurrent.max(1)));
    let mut set = JoinSet::new();
    let mut outcomes = Vec::with_capacity(calls.len());
    let first = Instant::now();
    for (index, call) in calls.into_iter().enumerate() {
        if let Some(offset) = pace.start_offset(index) {
            // `checked_add`: an absurdly slow pace must not overflow the clock.
            if let Some(at) = first.checked_add(offset) {
                let mut stopped = stop.clone();
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = stopping(&mut stopped) => break,
                }
            }
        }
        let mut stopped = stop.clone();
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => p.expect("the semaphore is never closed"),
            // A dropped sender means nobody will ever stop us: wait for a slot only.
            () = stopping(&mut stopped) => break,
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

/// Completes once `stop` turns true; never, if nobody can stop us any more (a dropped
/// sender).
async fn stopping(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: dropped here, not in a `select!`.
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_spread_at_the_rate() {
        let pace = Pace {
            max_concurrent: 10,
            per_second: 400.0,
        };
        assert_eq!(pace.start_offset(0), Some(Duration::ZERO));
        assert_eq!(pace.start_offset(400), Some(Duration::from_secs(1)));
        assert_eq!(pace.start_offset(2), Some(Duration::from_millis(5)));
    }

    #[test]
    fn an_unlimited_rate_never_waits() {
        assert_eq!(Pace::concurrent(5).start_offset(1_000), None);
        for rate in [0.0, -1.0, f64::NAN] {
            let pace = Pace {
                max_concurrent: 5,
                per_second: rate,
            };
            assert_eq!(pace.start_offset(3), None, "{rate}");
        }
    }
}
