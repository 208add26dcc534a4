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
    // Requests may take long here; none must time out.
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
const CAPACITY: usize = 10;

/// Customers of the Salehi flow who answer, and the result each gives.
const ANSWERING: &[(&str, &str)] = &[
    ("no", "not_interested"),
    ("yes", "connected_to_operator"),
    ("unknown", "unknown"),
];

/// The results that are not what the customer gave, as `customer: result`.
fn wrong<'a>(ended: impl Iterator<Item = (usize, &'a str)>) -> Vec<String> {
    ended
        .filter(|(i, result)| ANSWERING[i % ANSWERING.len()].1 != *result)
        .map(|(i, result)| format!("{}: {result}", ANSWERING[i % ANSWERING.len()].0))
        .collect()
}

/// Nothing the saturation spoils: no prompt stretched, no recording cut.
fn assert_unspoiled(spoiled: &dialflow::sim::saturation::Spoiled, what: &str) {
    assert_eq!(
        (
            spoiled.playbacks_stretched,
            spoiled.recordings_cut,
            spoiled.words_lost
        ),
        (0, 0, 0),
        "{what}: no prompt stretched, no recording cut: {spoiled:?}"
    );
}

/// `run --scenario`: `calls` calls at twice what the PBX carries, every one right.
async fn batch_at_twice_the_capacity(
    runtime: &Runtime,
    s: &Arc<dialflow::core::scenario::Scenario>,
    calls: usize,
) {
    let planned: Vec<PlannedCall> = (0..calls)
        .map(|i| planned(s, &format!("x{i}"), ANSWERING[i % ANSWERING.len()].0))
        .collect();
    let pace = Pace {
        max_concurrent: 2 * CAPACITY,
        per_second: 8.0,
    };
    let stop = tokio::sync::watch::channel(false).1;
    let outcomes = tokio::time::timeout(
        Duration::from_secs(120),
        batch::run_all(runtime, Arc::clone(s), planned, pace, stop, |_| {}),
    )
    .await
    .expect("every call ends");
    assert_eq!(outcomes.len(), calls);
    let ended = outcomes.iter().map(|o| {
        let i: usize = o.attempt_id[1..].parse().expect("our id");
        (i, o.summary.result.as_str())
    });
    let wrong = wrong(ended);
    assert!(wrong.is_empty(), "calls ended wrong: {wrong:?}");
}

/// A campaign of `leads` leads allowed twice what the PBX carries, dialed to its end on
/// `runtime`; every lead's result, by lead index.
async fn campaign_at_twice_the_capacity(
    runtime: &Runtime,
    sim: &server::SimHandle,
    s: &Arc<dialflow::core::scenario::Scenario>,
    leads: usize,
) -> Vec<(usize, String)> {
    use dialflow::daemon::{self, Daemon, Notice, Work};
    use dialflow::dialer::DialerEvent;
    use dialflow::store::{NewLead, Store, campaigns::Transition};
    let dir = common::dirs::TempDir::new("backoff");
    let store = Arc::new(Store::open(&dir.join("s.redb")).expect("a store"));
    let mut settings = dialflow::core::campaign::settings::CampaignSettings::for_scenario("salehi");
    settings.windows = [("daily".into(), vec!["00:00-24:00".into()])].into();
    settings.pacing.max_concurrent = u32::try_from(2 * CAPACITY).unwrap();
    settings.pacing.max_per_second = 8.0;
    let now = runtime.clock().wall_ms();
    let new_leads: Vec<NewLead> = (0..leads)
        .map(|i| NewLead {
            phone: dialflow::sim::behaviours::number_for(
                &format!("+98912{i:05}"),
                ANSWERING[i % ANSWERING.len()].0,
            )
            .expect("a simulated customer"),
            ..NewLead::default()
        })
        .collect();
    store.create_campaign("twice", settings, now).unwrap();
    store.import_leads("twice", &new_leads, now).unwrap();
    store
        .transition("twice", Transition::Start, None, now)
        .unwrap();
    let config = common::sim_dialflow_config(
        &sim.base_url,
        Duration::from_secs(10),
        Duration::from_secs(10),
    );
    let work = Work::Campaigns {
        store: Arc::clone(&store),
        scenarios: dialflow::scenario_set::SharedScenarios::new(
            [("salehi".to_string(), Arc::clone(s))].into(),
        ),
        exit_when_idle: true,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let daemon = Daemon::new(config, work)
        .unwrap()
        .on_runtime(runtime.clone())
        .with_notices(tx);
    let limit = Duration::from_secs(180);
    tokio::time::timeout(limit, daemon::run(daemon, tokio::time::sleep(limit)))
        .await
        .expect("the campaign ends")
        .expect("the daemon runs");
    let mut results = Vec::new();
    while let Ok(notice) = rx.try_recv() {
        if let Notice::Dialer(DialerEvent::Finished { attempt, end, .. }) = notice {
            let i: usize = attempt.phone[6..11].parse().expect("our number");
            results.push((i, end.result.clone()));
        }
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_twice_the_capacity_no_call_is_spoiled_the_calls_start_later() {
    let s = scenario("salehi");
    let config = dialflow::sim::server::SimConfig {
        capacity: Some(CAPACITY),
        ..sim_config(&s, SPEED)
    };
    let common::Live {
        sim,
        runtime,
        tasks,
    } = common::Live::start_on(config, SPEED, Classify::Simulated, Duration::from_secs(10)).await;
    // `run --scenario` offered twice the capacity: the REST answers and events that
    // come late past it (before any media is spoiled) hold the calls back.
    batch_at_twice_the_capacity(&runtime, &s, 24).await;
    let spoiled = sim.saturation().await;
    let learned = runtime.backoff_metrics();
    eprintln!("the batch: {spoiled:?}; {learned:?}");
    assert_unspoiled(&spoiled, "the batch");
    let ceiling = learned.ceiling.expect("the strain set a ceiling") as usize;
    assert!(ceiling <= CAPACITY, "{learned:?}");
    // A campaign offered as much: it ends intact, later instead of spoiled.
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sampler = {
        let (runtime, peak) = (runtime.clone(), Arc::clone(&peak));
        tokio::spawn(async move {
            loop {
                peak.fetch_max(runtime.live_calls(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let started = std::time::Instant::now();
    let results = campaign_at_twice_the_capacity(&runtime, &sim, &s, 40).await;
    sampler.abort();
    let took = started.elapsed();
    assert_eq!(results.len(), 40, "every lead dialed once");
    let wrong = wrong(results.iter().map(|(i, r)| (*i, r.as_str())));
    assert!(wrong.is_empty(), "calls ended wrong: {wrong:?}");
    let spoiled = sim.saturation().await;
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "the campaign: 40 calls in {:.1} s, at most {peak} at once (offered {}); {spoiled:?}; {:?}",
        took.as_secs_f64(),
        2 * CAPACITY,
        runtime.backoff_metrics()
    );
    assert_unspoiled(&spoiled, "the campaign");
    assert!(
        peak <= CAPACITY,
        "calls start later instead: {peak} at once"
    );
    tasks.stop().await;
    sim.shutdown().await;
}
