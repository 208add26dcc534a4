//! The event stream breaks under load and no call is lost: 500 calls are up against the
//! simulator, its WebSockets are dropped (the events of the gap are lost, as with
//! Asterisk), and the channel list answers slowly and fails twice. Every call still
//! ends with the result its customer gives, the ones whose prompt or recording ended
//! in the gap and the ones answered in it included.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dialflow::ari::translate::Deployment;
use dialflow::core::call::Lead;
use dialflow::runtime::batch::{self, Pace, PlannedCall};
use dialflow::sim::server;

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

const CALLS: usize = 500;
/// Call time runs this many times faster than real time (a Salehi call takes 14 s).
/// Faster, the simulated customers' timelines (they speak 4.5 s after answering,
/// listened to or not) leave less real time to catch up in than 500 calls take.
const SPEED: f64 = 2.0;
/// Calls start at this rate (real time), so the last ones are dialled as the stream
/// breaks and are answered in the gap.
const STARTS_PER_SECOND: f64 = 100.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_broken_under_500_calls_loses_none_of_them() {
    let s = scenario("salehi");
    let sim = server::spawn(sim_config(&s, SPEED))
        .await
        .expect("the simulator starts");
    let (runtime, tasks) = common::connect(
        &sim.base_url,
        SPEED,
        Classify::Simulated,
        Duration::from_secs(10),
    )
    .await;
    let calls: Vec<PlannedCall> = (0..CALLS)
        .map(|i| PlannedCall {
            attempt_id: format!("sb{i:04}"),
            lead: Lead::default(),
            deployment: Deployment::new(
                common::APP,
                &s,
                format!("Local/{}@sim-customers", CUSTOMERS[i % CUSTOMERS.len()].0),
            ),
        })
        .collect();
    let faults = sim.faults();
    let breaker = {
        let faults = faults.clone();
        let runtime = runtime.clone();
        tokio::spawn(async move {
            // Nearly every call is up, the first ones 10 s of call time in: from ringing
            // through the greeting and the recording to the classification.
            let dialled = Duration::from_secs_f64((CALLS as f64 - 20.0) / STARTS_PER_SECOND);
            tokio::time::sleep(dialled).await;
            // The list of channels is slow: three tries take about 10 s of call time,
            // longer than a prompt's safety margin (5 s) and than customers wait
            // for the next prompt.
            faults.slow_requests("GET /ari/channels$", 1_500);
            faults.fail_next_requests("GET /ari/channels$", 500, 2);
            let up = runtime.live_calls();
            faults.drop_websockets();
            up
        })
    };
    let outcomes = tokio::time::timeout(
        Duration::from_secs(120),
        batch::run_all(
            &runtime,
            Arc::clone(&s),
            calls,
            Pace {
                max_concurrent: CALLS,
                per_second: STARTS_PER_SECOND,
            },
            tokio::sync::watch::channel(false).1,
            |_| {},
        ),
    )
    .await
    .expect("every call ends");
    let up_at_the_break = breaker.await.expect("the breaker ran");
    assert!(
        up_at_the_break >= CALLS - 30,
        "{up_at_the_break} calls up when the stream broke"
    );
    // The gap cost events that decide calls: ends of prompts and recordings, answers.
    let lost = |kind| sim.events_lost_of(kind);
    eprintln!(
        "lost in the gap: {} PlaybackFinished, {} RecordingFinished, {} StasisStart, {} events in all",
        lost("PlaybackFinished"),
        lost("RecordingFinished"),
        lost("StasisStart"),
        sim.events_lost()
    );
    assert_eq!(outcomes.len(), CALLS);
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
    assert!(wrong.is_empty(), "calls ended wrong: {wrong:?}");
    assert!(lost("PlaybackFinished") > 0, "a prompt ended in the gap");
    assert!(
        lost("RecordingFinished") > 0,
        "a recording ended in the gap"
    );
    assert!(lost("StasisStart") > 0, "a call was answered in the gap");
    assert!(
        faults.settings().fail_next_requests.is_empty(),
        "the channel list was asked again after it failed twice"
    );
    let left = sim.live_channels().await;
    assert!(left.is_empty(), "channels left up: {left:?}");
    tasks.stop().await;
    sim.shutdown().await;
}
