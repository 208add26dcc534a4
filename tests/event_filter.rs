//! The application's event filter end to end: dialflow asks the simulator (as it asks
//! Asterisk) for only the event types it acts on, each time its event stream connects,
//! and calls end as their customers say with the rest kept back; with
//! `ari.event_filter: false` every type comes, and the calls end the same.

use std::collections::BTreeMap;
use std::time::Duration;

use dialflow::ari::translate::EVENT_TYPES_USED;
use dialflow::runtime::batch::{self, Pace};

mod common;
use common::{Classify, Live, SALEHI_CUSTOMERS, scenario, sim_config};

const SPEED: f64 = 5.0;
const CALLS: usize = 24;

async fn live(filter: bool) -> Live {
    let s = scenario("salehi");
    Live::start_changed(
        sim_config(&s, SPEED),
        SPEED,
        Classify::Simulated,
        Duration::from_secs(5),
        |config| config.ari.event_filter = filter,
    )
    .await
}

/// Runs the Salehi customers' calls; the calls that ended other than as their customer
/// says, by what they ended as.
async fn wrong_results(live: &Live, prefix: &str) -> BTreeMap<String, usize> {
    let s = scenario("salehi");
    let calls = common::planned_calls(&s, prefix, SALEHI_CUSTOMERS, CALLS);
    let outcomes = tokio::time::timeout(
        Duration::from_secs(120),
        batch::run_all(
            &live.runtime,
            s,
            calls,
            Pace::concurrent(12),
            tokio::sync::watch::channel(false).1,
            |_| {},
        ),
    )
    .await
    .expect("every call ends");
    assert_eq!(outcomes.len(), CALLS);
    let mut wrong = BTreeMap::new();
    for o in &outcomes {
        let i: usize = o.attempt_id[prefix.len()..].parse().expect("our id");
        let (customer, result) = SALEHI_CUSTOMERS[i % SALEHI_CUSTOMERS.len()];
        if o.summary.result != result {
            *wrong
                .entry(format!("{customer}: {}", o.summary.result))
                .or_default() += 1;
        }
    }
    wrong
}

/// Waits (bounded) for the filter dialflow sets in the background once connected
/// (after failed tries too: 0.5 s, then 1 s more).
async fn filter_set(live: &Live) -> bool {
    for _ in 0..500 {
        if !live.sim.event_filter().allows("ChannelVarset") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialflow_asks_for_the_types_it_uses_and_calls_end_as_their_customers_say() {
    let live = live(true).await;
    assert!(filter_set(&live).await, "the filter was set on connecting");
    let filter = live.sim.event_filter();
    for kind in EVENT_TYPES_USED {
        assert!(filter.allows(kind), "{kind} is let through");
    }
    for kind in [
        "ChannelStateChange",
        "ChannelVarset",
        "ChannelDialplan",
        "StasisEnd",
    ] {
        assert!(!filter.allows(kind), "{kind} is kept back");
    }
    let wrong = wrong_results(&live, "ef").await;
    assert!(wrong.is_empty(), "calls ended wrong: {wrong:?}");
    // Each answered call's two state changes at least, and its recording's start.
    let filtered = live.sim.events_filtered();
    assert!(filtered >= CALLS as u64, "{filtered} events kept back");

    // Each connection sets the filter again, whatever became of it meanwhile (cleared
    // here by an empty body, as any client of the application may).
    let cleared = dialflow::tls::system_http_client()
        .put(format!(
            "{}/ari/applications/{}/eventFilter",
            live.sim.base_url,
            live.sim.app()
        ))
        .basic_auth(live.sim.user(), Some(live.sim.password()))
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("the simulator answers");
    assert_eq!(cleared.status(), 200);
    assert!(live.sim.event_filter().allows("ChannelVarset"), "cleared");
    live.sim.faults().fail_next_requests("/eventFilter", 503, 2);
    live.sim.faults().drop_websockets();
    assert!(filter_set(&live).await, "set again after the reconnect");
    live.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_filter_every_type_comes_and_calls_end_the_same() {
    let live = live(false).await;
    let wrong = wrong_results(&live, "nf").await;
    assert!(wrong.is_empty(), "calls ended wrong: {wrong:?}");
    assert_eq!(live.sim.events_filtered(), 0);
    assert!(live.sim.event_filter().allows("ChannelVarset"));
    live.stop().await;
}
