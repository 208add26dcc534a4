//! Running many calls at once with a concurrency limit and a rate: `run --scenario`, the
//! end-to-end tests and the runtime benchmark. Starts are paced as a campaign's are
//! (the same `Pacer`), so a distressed Asterisk gets fewer new calls, or none, until it
//! recovers.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{CallOutcome, Runtime};
use crate::ari::translate::Deployment;
use crate::core::call::{CallSetup, Lead};
use crate::core::campaign::pacing::{Allowance, Pacer, PacingLimits, distress_factor};
use crate::core::scenario::Scenario;

/// One call to make: who, and the dial strings to reach them (and their operators).
#[derive(Debug, Clone)]
pub struct PlannedCall {
    pub attempt_id: String,
    pub lead: Lead,
    pub deployment: Deployment,
}

/// How fast calls start: at most `max_concurrent` in flight, and starts spread at
/// `per_second` (unlimited when not finite or not positive). Spreading matters: a
/// thousand originates in one millisecond is a load no dialer sends, and the calls it
/// starts stay in lockstep, so every later step arrives as a burst too. Both limits
/// shrink while Asterisk is in distress, as a campaign's do (`core::campaign::pacing`).
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

    /// The same limits as a campaign's pacing: at least one call at once, and an
    /// unusable rate taken as no rate limit.
    fn limits(&self) -> PacingLimits {
        let per_second = if self.per_second.is_finite() && self.per_second > 0.0 {
            self.per_second
        } else {
            f64::INFINITY
        };
        PacingLimits {
            max_concurrent: u32::try_from(self.max_concurrent.max(1)).unwrap_or(u32::MAX),
            max_per_second: per_second,
            min_interval_ms: 0,
        }
    }
}

/// How often a held batch looks at Asterisk's distress again: as it fades, more calls
/// may start before any call ends.
const RECHECK: Duration = Duration::from_millis(50);

/// Places every call as `pace` allows, and fewer while Asterisk is in distress (or the
/// event stream is down); `on_done` sees each outcome as it finishes. Outcomes come
/// back in completion order. Once `stop` turns true no new call starts; the calls in
/// progress go on to their end.
pub async fn run_all(
    runtime: &Runtime,
    scenario: Arc<Scenario>,
    calls: Vec<PlannedCall>,
    pace: Pace,
    mut stop: watch::Receiver<bool>,
    mut on_done: impl FnMut(&CallOutcome),
) -> Vec<CallOutcome> {
    let mut pacer = Pacer::new(pace.limits());
    let mut set = JoinSet::new();
    let mut outcomes = Vec::with_capacity(calls.len());
    let mut done = |outcome: CallOutcome, outcomes: &mut Vec<CallOutcome>| {
        on_done(&outcome);
        outcomes.push(outcome);
    };
    let first = Instant::now();
    let mut waiting = calls.into_iter().peekable();
    while waiting.peek().is_some() && !*stop.borrow() {
        let now_ms = u64::try_from(first.elapsed().as_millis()).unwrap_or(u64::MAX);
        let in_flight = u32::try_from(set.len()).unwrap_or(u32::MAX);
        // Whether time alone can free a start: not when only a call's end can (full
        // health, under the ceiling); a held batch would otherwise wake every `RECHECK`
        // for nothing, which is most of a quiet run's wake-ups.
        let (allowance, time_frees) = if runtime.is_connected() {
            let pacing = runtime.pacing();
            let allowance = pacer.allowance(now_ms, in_flight, &pacing.distress);
            let healthy = distress_factor(&pacing.distress) >= 1.0 && pacing.room() > 0;
            let allowance = Allowance {
                start: allowance.start.min(pacing.room()),
                ..allowance
            };
            (allowance, !healthy || allowance.next_check_ms.is_some())
        } else {
            let held = Allowance {
                start: 0,
                next_check_ms: None,
            };
            (held, true)
        };
        for call in waiting.by_ref().take(allowance.start as usize) {
            pacer.started(now_ms);
            set.spawn(place(runtime.clone(), Arc::clone(&scenario), call));
        }
        if allowance.start > 0 {
            continue;
        }
        let wait = allowance
            .next_check_ms
            .map_or(RECHECK, |at| {
                Duration::from_millis(at.saturating_sub(now_ms))
            })
            .min(RECHECK);
        tokio::select! {
            Some(ended) = set.join_next(), if !set.is_empty() => {
                if let Ok(outcome) = ended {
                    done(outcome, &mut outcomes);
                }
            }
            () = tokio::time::sleep(wait), if time_frees || set.is_empty() => {}
            () = stopping(&mut stop) => break,
        }
    }
    while let Some(ended) = set.join_next().await {
        if let Ok(outcome) = ended {
            done(outcome, &mut outcomes);
        }
    }
    outcomes
}

/// One call, run to its end.
async fn place(runtime: Runtime, scenario: Arc<Scenario>, call: PlannedCall) -> CallOutcome {
    let setup = CallSetup {
        attempt_id: call.attempt_id,
        lead: call.lead,
        attempt: 1,
        ring_timeout_ms: None,
        safe_harbor: None,
    };
    let metrics = crate::metrics::global();
    metrics.call_started(NUMBERS);
    let outcome = runtime.call(scenario, setup, call.deployment).await;
    let summary = &outcome.summary;
    metrics.call_ended(NUMBERS, &summary.result, &summary.status);
    outcome
}

/// The campaign label of calls dialed from the command line, which have none.
const NUMBERS: &str = "(numbers)";

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
    fn a_pace_becomes_campaign_limits() {
        let pace = Pace {
            max_concurrent: 10,
            per_second: 400.0,
        };
        assert_eq!(
            pace.limits(),
            PacingLimits {
                max_concurrent: 10,
                max_per_second: 400.0,
                min_interval_ms: 0
            }
        );
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let limits = Pace {
                max_concurrent: 0,
                per_second: rate,
            }
            .limits();
            assert_eq!(limits.max_per_second, f64::INFINITY, "{rate}");
            assert_eq!(limits.max_concurrent, 1, "never none at all");
        }
    }
}
