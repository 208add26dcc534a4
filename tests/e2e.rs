//! End to end: dialflow's real runtime against the simulated PBX over real loopback HTTP
//! and WebSocket. Every row of `shared/acceptance/outcomes.md` that the simulated
//! customers can play, plus faults: a WebSocket drop among 50 live calls, an originate
//! whose outcome is unknown, refused originates.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dialflow::ari::translate::Deployment;
use dialflow::core::call::Lead;
use dialflow::core::scenario::Scenario;
use dialflow::load::{self, LoadOptions};
use dialflow::runtime::CallOutcome;
use dialflow::runtime::batch::{self, Pace, PlannedCall};

mod common;
use common::{Classify, Live, scenario};

const SPEED: f64 = 25.0;

fn never_stop() -> tokio::sync::watch::Receiver<bool> {
    tokio::sync::watch::channel(false).1
}

fn planned(scenario: &Scenario, i: usize, customer: &str, operator: &str) -> PlannedCall {
    PlannedCall {
        attempt_id: format!("e2e{i:04}"),
        lead: Lead::default(),
        deployment: Deployment::new(
            "dialflow",
            scenario,
            format!("Local/{customer}@sim-customers"),
        )
        .with_operators_at(scenario, &format!("Local/{operator}@sim-operators")),
    }
}

/// Runs `calls`, at most `concurrent` at once; all must end within `within_s` seconds.
async fn run(
    runtime: &dialflow::runtime::Runtime,
    s: &Arc<Scenario>,
    calls: Vec<PlannedCall>,
    concurrent: usize,
    within_s: u64,
    what: &str,
) -> Vec<CallOutcome> {
    tokio::time::timeout(
        Duration::from_secs(within_s),
        batch::run_all(
            runtime,
            Arc::clone(s),
            calls,
            Pace::concurrent(concurrent),
            never_stop(),
            |_| {},
        ),
    )
    .await
    .expect(what)
}

async fn run_rows(name: &str, rows: &[(&str, &str, &str, &str)]) {
    let s = scenario(name);
    let Live {
        sim,
        runtime,
        tasks,
    } = Live::start(&s, SPEED, Classify::Simulated).await;
    let calls: Vec<PlannedCall> = rows
        .iter()
        .enumerate()
        .map(|(i, (customer, operator, _, _))| planned(&s, i, customer, operator))
        .collect();
    let outcomes = run(&runtime, &s, calls, 50, 60, "the calls finish").await;
    let by_id: HashMap<String, &CallOutcome> =
        outcomes.iter().map(|o| (o.attempt_id.clone(), o)).collect();
    let mut failures = Vec::new();
    for (i, (customer, operator, result, status)) in rows.iter().enumerate() {
        let o = by_id[&format!("e2e{i:04}")];
        if o.summary.result != *result || o.summary.status != *status {
            failures.push(format!(
                "{name}: {customer}/{operator}: expected {result}/{status}, got {}/{}",
                o.summary.result, o.summary.status
            ));
        }
    }
    assert_eq!(runtime.live_calls(), 0, "no call left behind");
    tasks.stop().await;
    sim.shutdown().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salehi_outcome_matrix_over_real_sockets() {
    run_rows(
        "salehi",
        &[
            ("yes", "-", "connected_to_operator", "CONNECTED"),
            ("no", "-", "not_interested", "NOT_INTERESTED"),
            ("number", "-", "connected_to_operator", "CONNECTED"),
            ("unknown", "-", "unknown", "UNKNOWN"),
            ("silent", "-", "hangup", "HANGUP"),
            ("hangup-early", "-", "hangup", "HANGUP"),
            ("busy", "-", "busy", "BUSY"),
            ("busy-tone", "-", "busy", "BUSY"),
            ("poweroff", "-", "power_off", "POWER_OFF"),
            ("noresponse", "-", "power_off", "POWER_OFF"),
            ("unavailable", "-", "power_off", "POWER_OFF"),
            ("noanswer", "-", "missed", "MISSED"),
            ("rejected", "-", "banned", "BANNED"),
            ("congestion", "-", "banned", "BANNED"),
            ("congestion-tone", "-", "banned", "BANNED"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agrad_outcome_matrix_over_real_sockets() {
    run_rows(
        "agrad",
        &[
            ("yes", "op-answer", "connected_to_operator", "CONNECTED"),
            ("yes", "op-busy", "disconnected", "DISCONNECTED"),
            ("yes", "op-noanswer", "disconnected", "DISCONNECTED"),
            ("yes-hangup", "op-noanswer", "disconnected", "DISCONNECTED"),
            ("no", "op-answer", "not_interested", "NOT_INTERESTED"),
            ("number", "op-answer", "unknown", "UNKNOWN"),
            ("unknown", "op-answer", "unknown", "UNKNOWN"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminder_outcome_matrix_over_real_sockets() {
    run_rows(
        "reminder",
        &[
            ("machine", "-", "voicemail_dropped", "MISSED"),
            ("dtmf1", "-", "answered_human", "CONNECTED"),
            ("dtmf2", "-", "consent_denied", "NOT_INTERESTED"),
            ("human", "-", "consent_timeout", "MISSED"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_unknown_originates_end_their_calls_and_are_not_redialled() {
    let s = scenario("salehi");
    let Live {
        sim,
        runtime,
        tasks,
    } = Live::start(&s, SPEED, Classify::Simulated).await;
    sim.faults().refuse_originates(2);
    sim.faults().timeout_next_originates(1);
    let calls: Vec<PlannedCall> = (0..4)
        .map(|i| planned(&s, i, "lost-then-yes", "-"))
        .collect();
    // `lost-then-yes` is no behaviour: use `yes`; the faults decide the first three.
    let calls: Vec<PlannedCall> = calls
        .into_iter()
        .map(|mut c| {
            c.deployment.customer_endpoint = "Local/yes@sim-customers".into();
            c
        })
        .collect();
    let outcomes = run(
        &runtime,
        &s,
        calls,
        1,
        60,
        "every call ends, the refused ones at once",
    )
    .await;
    let results: Vec<&str> = {
        let mut o: Vec<&CallOutcome> = outcomes.iter().collect();
        o.sort_by(|a, b| a.attempt_id.cmp(&b.attempt_id));
        o.into_iter().map(|o| o.summary.result.as_str()).collect()
    };
    assert_eq!(results[0], "failed:originate");
    assert_eq!(results[1], "failed:originate");
    // The third originate was carried out but never answered: the call was not dialled
    // again, its events still drove it to the end.
    assert_eq!(
        outcomes.iter().map(|o| o.unknown_originates).sum::<u32>(),
        1
    );
    assert_eq!(results[3], "connected_to_operator");
    assert_eq!(
        sim.originates_received(),
        4,
        "one originate per call, none repeated"
    );
    assert_eq!(runtime.live_calls(), 0);
    tasks.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_drop_among_50_live_calls_loses_no_call() {
    let s = scenario("salehi");
    let Live {
        sim,
        runtime,
        tasks,
    } = Live::start(&s, SPEED, Classify::Simulated).await;
    let calls: Vec<PlannedCall> = (0..50)
        .map(|i| planned(&s, i, if i % 2 == 0 { "yes" } else { "no" }, "-"))
        .collect();
    let faults = sim.faults();
    let dropper = tokio::spawn(async move {
        // About 5 s of call time in: every call is mid-flow.
        tokio::time::sleep(Duration::from_millis(50)).await;
        faults.drop_websockets();
    });
    let outcomes = run(&runtime, &s, calls, 50, 90, "no call is left hanging").await;
    dropper.await.unwrap();
    assert_eq!(outcomes.len(), 50);
    assert_eq!(runtime.live_calls(), 0);
    // Every call ended with a real result of the flow, not a stuck or lost one.
    for o in &outcomes {
        assert!(
            [
                "connected_to_operator",
                "not_interested",
                "hangup",
                "unknown"
            ]
            .contains(&o.summary.result.as_str())
                || o.summary.result.starts_with("failed:"),
            "{}: {}",
            o.attempt_id,
            o.summary.result
        );
    }
    let live = sim.live_channels().await;
    assert!(live.is_empty(), "channels left up on the PBX: {live:?}");
    tasks.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_events_end_as_user_didnt_answer_and_free_the_slot() {
    let s = scenario("salehi");
    let Live {
        sim,
        runtime,
        tasks,
    } = Live::start(&s, SPEED, Classify::Simulated).await;
    sim.faults().lose_events_for_channels(["e2e0000-c"]);
    let calls = vec![planned(&s, 0, "yes", "-")];
    let outcomes = run(&runtime, &s, calls, 1, 60, "the watchdog ends the call").await;
    assert_eq!(outcomes[0].summary.result, "user_didnt_answer");
    assert_eq!(outcomes[0].summary.status, "MISSED");
    assert_eq!(runtime.live_calls(), 0, "the slot is free again");
    tasks.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_operator_leg_is_failed_operator_failed() {
    let s = scenario("agrad");
    let Live {
        sim,
        runtime,
        tasks,
    } = Live::start(&s, SPEED, Classify::Simulated).await;
    let faults = sim.faults();
    let calls = vec![planned(&s, 0, "yes", "op-answer")];
    let call = {
        let (runtime, s) = (runtime.clone(), Arc::clone(&s));
        tokio::spawn(async move {
            batch::run_all(
                &runtime,
                s,
                calls,
                Pace::concurrent(1),
                never_stop(),
                |_| {},
            )
            .await
        })
    };
    // Once the customer's originate is through, refuse the next one: the operator's.
    tokio::time::timeout(Duration::from_secs(10), async {
        while sim.originates_received() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    faults.refuse_originates(1);
    let outcomes = tokio::time::timeout(Duration::from_secs(60), call)
        .await
        .expect("the call ends")
        .unwrap();
    assert_eq!(outcomes[0].summary.result, "failed:operator_failed");
    assert_eq!(outcomes[0].summary.status, "FAILED");
    assert!(
        outcomes[0].reports.iter().all(|r| r.transcript.is_none()),
        "no transcript with FAILED"
    );
    tasks.stop().await;
    sim.shutdown().await;
}

/// Waits (up to `within`) for the simulated PBX to have no channel up.
async fn until_no_channel_is_up(
    sim: &dialflow::sim::server::SimHandle,
    within: Duration,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let live = sim.live_channels().await;
        if live.is_empty() || tokio::time::Instant::now() > deadline {
            return live;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_no_call_owns_is_hung_up_when_it_enters_the_app() {
    let s = scenario("salehi");
    let Live {
        sim,
        runtime,
        tasks,
    } = Live::start(&s, SPEED, Classify::Simulated).await;
    // As if an originate had reached Asterisk after its call gave up on it.
    runtime
        .client()
        .originate(dialflow::ari::request::Originate {
            endpoint: "Local/yes@sim-customers",
            app: common::APP,
            app_args: String::new(),
            channel_id: "late0001-c",
            timeout_s: 30,
            formats: "",
            caller_id: None,
        })
        .await
        .expect("originated");
    // The customer would hang up by itself 20 s after the `yes` (under a second here):
    // it is gone well before, hung up as it entered the app.
    let left = until_no_channel_is_up(&sim, Duration::from_millis(300)).await;
    assert!(left.is_empty(), "still up: {left:?}");
    tasks.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_up_that_fails_is_tried_again_until_the_channel_is_gone() {
    let s = scenario("salehi");
    // Slower time: the customer hangs up by itself 20 s (4 s real) after saying no, so
    // only our retried hang-up can end the channel within the 1.5 s allowed.
    let Live {
        sim,
        runtime,
        tasks,
    } = Live::start(&s, 5.0, Classify::Simulated).await;
    // Every hang-up of the call fails twice before Asterisk takes one.
    sim.faults()
        .fail_next_requests("DELETE /ari/channels", 503, 2);
    let calls = vec![planned(&s, 0, "no", "-")];
    let outcomes = run(&runtime, &s, calls, 1, 30, "the call ends").await;
    assert_eq!(outcomes[0].summary.result, "not_interested");
    let left = until_no_channel_is_up(&sim, Duration::from_millis(1_500)).await;
    assert!(left.is_empty(), "still up: {left:?}");
    tasks.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cut_short_by_its_task_leaves_nothing_behind() {
    let s = scenario("salehi");
    let Live {
        sim,
        runtime,
        tasks,
    } = Live::start(&s, SPEED, Classify::Simulated).await;
    let call = planned(&s, 0, "yes", "op-answer");
    let setup = dialflow::core::call::CallSetup {
        attempt_id: call.attempt_id.clone(),
        lead: call.lead,
        attempt: 1,
        ring_timeout_ms: None,
        safe_harbor: None,
    };
    let task = {
        let (runtime, s) = (runtime.clone(), Arc::clone(&s));
        tokio::spawn(async move { runtime.call(s, setup, call.deployment).await })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !sim.live_channels().await.contains(&"e2e0000-c".to_string()) {
        assert!(tokio::time::Instant::now() < deadline, "the call starts");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The task dies mid-call (a bug, a panic): its channel is hung up all the same and
    // its slot is free.
    task.abort();
    let left = until_no_channel_is_up(&sim, Duration::from_millis(300)).await;
    assert!(left.is_empty(), "still up: {left:?}");
    assert_eq!(runtime.live_calls(), 0);
    tasks.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_is_heard_in_the_recording_not_read_from_asterisks_figures() {
    let s = load::compile_file(
        Path::new("tests/scenarios/silence_check.yaml"),
        &LoadOptions::default(),
    )
    .scenario
    .expect("compiles");
    let rows = [
        ("silent", "hangup"),
        ("unknown", "unknown"),
        ("no", "unknown"),
    ];
    let Live {
        sim,
        runtime,
        tasks,
    } = Live::start(&s, SPEED, Classify::Simulated).await;
    let calls: Vec<PlannedCall> = rows
        .iter()
        .enumerate()
        .map(|(i, (customer, _))| planned(&s, i, customer, "-"))
        .collect();
    let outcomes = run(&runtime, &s, calls, 3, 30, "the calls end").await;
    for (i, (customer, result)) in rows.iter().enumerate() {
        let o = outcomes
            .iter()
            .find(|o| o.attempt_id == format!("e2e{i:04}"))
            .unwrap();
        assert_eq!(o.summary.result, *result, "{customer}");
    }
    tasks.stop().await;
    sim.shutdown().await;
}
