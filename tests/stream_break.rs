//! The event stream breaks under load and no call is lost: hundreds of calls are up
//! against the simulator, its WebSockets are dropped (the events of the gap are lost,
//! as with Asterisk), and the channel list answers slowly and fails twice. Every call
//! still ends with the result its customer gives, the ones whose prompt or recording
//! ended in the gap and the ones answered in it included. A stream that stays down
//! holds the calls' timers only so long.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dialflow::ari::translate::Deployment;
use dialflow::core::call::Lead;
use dialflow::runtime::batch::{self, Pace, PlannedCall};
use dialflow::sim::server::{self, Faults, SimHandle};

mod common;
use common::{Classify, scenario, sim_config};

/// Customers who answer, and the result each gives through the Salehi flow.
const CUSTOMERS: &[(&str, &str)] = &[
    ("yes", "connected_to_operator"),
    ("no", "not_interested"),
    ("number", "connected_to_operator"),
    ("unknown", "unknown"),
    ("silent", "hangup"),
];

/// Call time runs this many times faster than real time (a Salehi call takes 14 s).
/// Faster, the simulated customers' timelines (they speak 4.5 s after answering,
/// listened to or not) leave less real time to catch up in than hundreds of calls take.
const SPEED: f64 = 2.0;
/// Calls still being dialled when the stream breaks, to be answered in the gap.
const DIALLED_LATE: usize = 20;

/// What a run of calls through a broken stream came to.
struct Broken {
    sim: SimHandle,
    /// Calls up when the stream broke.
    up: usize,
    /// Calls that did not end with their customer's result: what they ended with.
    wrong: BTreeMap<String, Vec<String>>,
}

impl Broken {
    fn lost(&self, kind: &str) -> u64 {
        self.sim.events_lost_of(kind)
    }
}

/// Runs `calls` Salehi calls, started at `per_second` (real time) so the first are 10 s
/// of call time in, from ringing through the greeting and the recording to the
/// classification, when the last are dialled; then breaks the event stream, with the
/// faults `break_with` sets on top.
/// The file's tests run one at a time: each runs hundreds of calls against a clock that
/// customers keep (they hang up on schedule), and three at once on two cores made calls
/// late enough for a customer to hang up first.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run_broken(calls: usize, per_second: f64, break_with: fn(&Faults)) -> Broken {
    let _alone = ONE_AT_A_TIME.lock().await;
    let s = scenario("salehi");
    let common::Live {
        sim,
        runtime,
        tasks,
    } = common::Live::start_on(
        sim_config(&s, SPEED),
        SPEED,
        Classify::Simulated,
        Duration::from_secs(10),
    )
    .await;
    let planned = common::planned_calls(&s, "sb", CUSTOMERS, calls);
    let breaker = {
        let (faults, runtime) = (sim.faults(), runtime.clone());
        tokio::spawn(async move {
            // Broken as soon as all but the last few are dialled (the pacing may hold
            // starts while Asterisk is slow), so the latest calls still ring.
            while runtime.live_calls() < calls - DIALLED_LATE {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            break_with(&faults);
            // The first reconnects are refused too (100 + 200 ms of backoff): a gap long
            // enough that answers fall in it whatever the batch's start rhythm.
            faults.fail_next_requests("GET /ari/events", 503, 2);
            let up = runtime.live_calls();
            faults.drop_websockets();
            up
        })
    };
    let pace = Pace {
        max_concurrent: calls,
        per_second,
    };
    let no_stop = tokio::sync::watch::channel(false).1;
    let outcomes = tokio::time::timeout(
        Duration::from_secs(120),
        batch::run_all(&runtime, Arc::clone(&s), planned, pace, no_stop, |_| {}),
    )
    .await
    .expect("every call ends");
    assert_eq!(outcomes.len(), calls);
    let up = breaker.await.expect("the breaker ran");
    let mut wrong: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in &outcomes {
        let i: usize = o.attempt_id[2..].parse().expect("our id");
        let (customer, result) = CUSTOMERS[i % CUSTOMERS.len()];
        if o.summary.result != result {
            wrong
                .entry(format!("{customer}: {} (not {result})", o.summary.result))
                .or_default()
                .push(o.attempt_id.clone());
        }
    }
    let left = sim.live_channels().await;
    assert!(left.is_empty(), "channels left up: {left:?}");
    tasks.stop().await;
    eprintln!(
        "{up} calls up; lost in the gap: {} PlaybackFinished, {} RecordingFinished, {} StasisStart, {} events in all",
        sim.events_lost_of("PlaybackFinished"),
        sim.events_lost_of("RecordingFinished"),
        sim.events_lost_of("StasisStart"),
        sim.events_lost()
    );
    Broken { sim, up, wrong }
}

/// The channel list is slow (three tries take about 10 s of call time: longer than a
/// prompt's safety margin of 5 s, and than customers wait for the next prompt) and
/// fails twice.
fn slow_failing_list(faults: &Faults) {
    faults.slow_requests("GET /ari/channels$", 1_500);
    faults.fail_next_requests("GET /ari/channels$", 500, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_broken_under_500_calls_loses_none_of_them() {
    const CALLS: usize = 500;
    let broken = run_broken(CALLS, 100.0, slow_failing_list).await;
    assert!(broken.up >= CALLS - 30, "{} calls up", broken.up);
    assert!(
        broken.wrong.is_empty(),
        "calls ended wrong: {:?}",
        broken.wrong
    );
    // The gap cost events that decide calls: ends of prompts and recordings, answers.
    assert!(
        broken.lost("PlaybackFinished") > 0,
        "a prompt ended in the gap"
    );
    assert!(
        broken.lost("RecordingFinished") > 0,
        "a recording ended in the gap"
    );
    // No answer need fall in this gap: dialflow dials nothing while the stream is down,
    // and the simulator answers at once. Calls answered in a gap are the next test's.
    assert!(
        broken.sim.faults().settings().fail_next_requests.is_empty(),
        "the channel list was asked again after it failed twice"
    );
    broken.sim.shutdown().await;
}

/// Every call's own questions fail (Asterisk answers 500 for each channel), so the
/// calls catch up by the channel list alone.
fn unreadable_channels(faults: &Faults) {
    faults.fail_next_requests("GET /ari/channels/", 500, 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_that_cannot_ask_for_themselves_catch_up_by_the_channel_list() {
    let broken = run_broken(250, 50.0, unreadable_channels).await;
    assert!(
        broken.wrong.is_empty(),
        "calls ended wrong: {:?}",
        broken.wrong
    );
    let rules = broken.sim.faults().settings().fail_next_requests;
    assert!(
        rules.first().is_some_and(|r| r.count < 10_000),
        "the calls asked for their channels: {rules:?}"
    );
    let lost = ["PlaybackFinished", "RecordingFinished", "StasisStart"]
        .map(|kind| broken.lost(kind))
        .iter()
        .sum::<u64>();
    assert!(lost > 0, "the gap cost events that decide calls");
    broken.sim.shutdown().await;
}

/// A stream that does not come back: the call holds its timers for 60 s of call time
/// (the events it waits on may only be lost), then goes by them as it would have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_stays_down_lets_the_timers_decide_after_a_minute() {
    let _alone = ONE_AT_A_TIME.lock().await;
    const FAST: f64 = 20.0;
    let s = scenario("salehi");
    let sim = server::spawn(sim_config(&s, FAST))
        .await
        .expect("the simulator starts");
    let (runtime, tasks) = common::connect(
        &sim.base_url,
        FAST,
        Classify::Simulated,
        Duration::from_secs(10),
    )
    .await;
    let faults = sim.faults();
    let breaker = tokio::spawn(async move {
        // About 2 s of call time in: the greeting plays.
        tokio::time::sleep(Duration::from_millis(100)).await;
        faults.fail_next_requests("GET /ari/events", 503, 1_000);
        faults.drop_websockets();
    });
    let call = PlannedCall {
        attempt_id: "down0".into(),
        lead: Lead::default(),
        deployment: Deployment::new(common::APP, &s, "Local/yes@sim-customers".into()),
    };
    let outcomes = tokio::time::timeout(
        Duration::from_secs(30),
        batch::run_all(
            &runtime,
            Arc::clone(&s),
            vec![call],
            Pace::concurrent(1),
            tokio::sync::watch::channel(false).1,
            |_| {},
        ),
    )
    .await
    .expect("the call ends without its events");
    breaker.await.expect("the breaker ran");
    let summary = &outcomes[0].summary;
    assert_eq!(
        summary.result, "failed:playback",
        "the greeting's timer decided"
    );
    let answered = summary.answered_at.expect("answered before the break").0;
    assert!(
        summary.ended_at.0 >= answered + 60_000,
        "held for a minute first: answered at {answered} ms, ended at {} ms",
        summary.ended_at.0
    );
    assert!(!runtime.is_connected(), "the stream is still down");
    tasks.stop().await;
    sim.shutdown().await;
}
