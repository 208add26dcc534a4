//! Backing off before the PBX spoils calls: new originates of `run --scenario`'s batch
//! are held while the simulated Asterisk is in distress, and placed once it recovers;
//! the calls already up go on untouched.

use std::sync::Arc;
use std::time::Duration;

use dialflow::ari::translate::Deployment;
use dialflow::core::call::Lead;
use dialflow::core::campaign::pacing::{Signal, assess};
use dialflow::runtime::batch::{self, Pace, PlannedCall};
use dialflow::runtime::{CallOutcome, Runtime};
use dialflow::sim::server;

mod common;
use common::{Classify, scenario, sim_config};

const SPEED: f64 = 5.0;

fn planned(s: &dialflow::core::scenario::Scenario, id: &str, customer: &str) -> PlannedCall {
    PlannedCall {
        attempt_id: id.to_string(),
        lead: Lead::default(),
        deployment: Deployment::new(common::APP, s, format!("Local/{customer}@sim-customers"))
            .with_operators_at(s, "Local/op-answer@sim-operators"),
    }
}

/// Runs `calls` on a task of its own, at most `concurrent` at once.
fn spawn_batch(
    runtime: &Runtime,
    s: &Arc<dialflow::core::scenario::Scenario>,
    calls: Vec<PlannedCall>,
    concurrent: usize,
) -> tokio::task::JoinHandle<Vec<CallOutcome>> {
    let (runtime, s) = (runtime.clone(), Arc::clone(s));
    tokio::spawn(async move {
        let stop = tokio::sync::watch::channel(false).1;
        batch::run_all(
            &runtime,
            s,
            calls,
            Pace::concurrent(concurrent),
            stop,
            |_| {},
        )
        .await
    })
}

fn assert_all(outcomes: &[CallOutcome], result: &str, what: &str) {
    let wrong: Vec<_> = outcomes
        .iter()
        .filter(|o| o.summary.result != result)
        .map(|o| (&o.attempt_id, &o.summary.result))
        .collect();
    assert!(wrong.is_empty(), "{what}: not {result}: {wrong:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_holds_new_originates_while_asterisk_answers_slowly_then_places_them() {
    let s = scenario("salehi");
    let sim = server::spawn(sim_config(&s, SPEED))
        .await
        .expect("the simulator starts");
    // Requests may take long here; none must time out.
    let (runtime, tasks) = common::connect(
        &sim.base_url,
        SPEED,
        Classify::Simulated,
        Duration::from_secs(10),
    )
    .await;
    // Asterisk answers every request 3 s late: REST latency past its severe line.
    sim.faults().set_rest_delay_ms(3_000);
    let load: Vec<PlannedCall> = (0..40)
        .map(|i| planned(&s, &format!("load{i}"), "yes"))
        .collect();
    let load = spawn_batch(&runtime, &s, load, 40);
    // The calls' own slow answers tell the runtime.
    tokio::time::timeout(Duration::from_secs(30), async {
        while !assess(&runtime.distress()).stops() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the slow answers show as distress");
    let before = sim.originates_received();
    let held: Vec<PlannedCall> = (0..10)
        .map(|i| planned(&s, &format!("held{i}"), "no"))
        .collect();
    let held = spawn_batch(&runtime, &s, held, 10);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sim.originates_received(),
        before,
        "no new originate while Asterisk is in distress"
    );
    // Asterisk recovers: the held calls are placed and end as their customers say.
    sim.faults().set_rest_delay_ms(0);
    let held = tokio::time::timeout(Duration::from_secs(90), held)
        .await
        .expect("the held calls are placed and end")
        .expect("no panic");
    assert_eq!(held.len(), 10);
    assert_all(&held, "not_interested", "the held calls");
    // The calls started before the distress showed were spoiled by it (their customers
    // hung up on 3 s of silence after each step): back-off can only spare the calls it
    // has not started yet. They end, all the same.
    let load = tokio::time::timeout(Duration::from_secs(90), load)
        .await
        .expect("the calls up all along end")
        .expect("no panic");
    assert_eq!(load.len(), 40);
    let metrics = runtime.backoff_metrics();
    assert!(metrics.holds >= 1, "{metrics:?}");
    assert!(
        metrics.held.get(&Signal::RestLatency) >= Some(&Duration::from_secs(1)),
        "held for the REST latency: {metrics:?}"
    );
    tasks.stop().await;
    sim.shutdown().await;
}

/// Channels up the simulated PBX carries before it degrades.
const CAPACITY: usize = 8;

/// Customers of the Salehi flow who answer, and the result each gives.
const ANSWERING: &[(&str, &str)] = &[
    ("no", "not_interested"),
    ("yes", "connected_to_operator"),
    ("unknown", "unknown"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_twice_the_capacity_no_call_is_spoiled_the_calls_start_later() {
    const CALLS: usize = 48;
    let s = scenario("salehi");
    let sim = server::spawn(dialflow::sim::server::SimConfig {
        capacity: Some(CAPACITY),
        ..sim_config(&s, SPEED)
    })
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
        .map(|i| planned(&s, &format!("x{i}"), ANSWERING[i % ANSWERING.len()].0))
        .collect();
    // Twice what the PBX carries: as many calls at once as it has channels, twice over
    // (and the operator legs on top).
    let pace = Pace {
        max_concurrent: 2 * CAPACITY,
        per_second: 4.0,
    };
    let started = std::time::Instant::now();
    let outcomes = tokio::time::timeout(
        Duration::from_secs(300),
        batch::run_all(
            &runtime,
            Arc::clone(&s),
            calls,
            pace,
            tokio::sync::watch::channel(false).1,
            |_| {},
        ),
    )
    .await
    .expect("every call ends");
    let spoiled = sim.saturation().await;
    eprintln!(
        "{CALLS} calls in {:.1} s: {spoiled:?}; {:?}",
        started.elapsed().as_secs_f64(),
        runtime.backoff_metrics()
    );
    let mut wrong = Vec::new();
    for o in &outcomes {
        let i: usize = o.attempt_id[1..].parse().expect("our id");
        let (customer, result) = ANSWERING[i % ANSWERING.len()];
        if o.summary.result != result {
            wrong.push(format!("{customer}: {}", o.summary.result));
        }
    }
    eprintln!("wrong: {wrong:?}");
    tasks.stop().await;
    sim.shutdown().await;
}
