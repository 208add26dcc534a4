//! The dashboard's cost: the daemon's extra CPU while 10 dashboards follow
//! `/api/stream` at 1,000 live calls.
//!
//! 1,000 calls against the simulator in this process answer and sit in a `wait: 10m`
//! node (so the board holds 1,000 calls for the whole measure), with 20 campaigns in
//! the store. The process's CPU time (getrusage) is read over `SECONDS` with no
//! dashboard open, then over as long with `DASHBOARDS` server-sent-event streams open
//! and read to the end of every event. The difference, over the time, is the share of
//! one core the dashboards cost: the snapshots made (one producer for all), their JSON,
//! the sending, and (an upper bound) the clients' own reading, which runs in this
//! process too. Target: under 5 % of one core.
//!
//! `cargo bench --bench dashboard -- [CALLS] [DASHBOARDS] [SECONDS]` (defaults 1,000,
//! 10 and 10).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dialflow::ari::translate::Deployment;
use dialflow::core::call::Lead;
use dialflow::core::campaign::settings::CampaignSettings;
use dialflow::http::auth::{Auth, Role, TokenSet};
use dialflow::http::{ApiState, router};
use dialflow::load::{self, LoadOptions};
use dialflow::runtime::batch::{self, PlannedCall};
use dialflow::scenario_set::SharedScenarios;
use dialflow::sim::server;
use dialflow::store::Store;
use futures_util::StreamExt as _;

#[path = "../tests/common/mod.rs"]
mod common;
use common::dirs::TempDir;

const TOKEN: &str = "bench-dashboard-token-0123456789";

/// Answers, then holds the line: calls that stay on the board.
const HOLDING: &str = "name: holding\nprompts: salehi\n\
defaults: {hangup: end, failed: end}\n\
nodes:\n  hold:\n    wait: 10m\n    next: end\n";

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let calls = args.first().copied().unwrap_or(1_000);
    let dashboards = args.get(1).copied().unwrap_or(10);
    let seconds = args.get(2).copied().unwrap_or(10) as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(measure(calls, dashboards, Duration::from_secs(seconds)));
}

/// CPU time this process has used (user + system).
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the struct it is given, nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The share of one core used over `window`.
async fn core_share(window: Duration) -> f64 {
    let (cpu, wall) = (cpu_time(), Instant::now());
    tokio::time::sleep(window).await;
    (cpu_time() - cpu).as_secs_f64() / wall.elapsed().as_secs_f64()
}

async fn measure(calls: usize, dashboards: usize, window: Duration) {
    let dir = TempDir::new("bench-dashboard");
    let file = dir.join("holding.yaml");
    std::fs::write(&file, HOLDING).unwrap();
    let scenario = load::compile_file(&file, &LoadOptions::default())
        .scenario
        .expect("the holding scenario compiles");
    let sim = server::spawn(common::sim_config(&scenario, 1.0))
        .await
        .expect("simulator");
    let (runtime, tasks) = common::connect(
        &sim.base_url,
        1.0,
        common::Classify::Simulated,
        Duration::from_secs(10),
    )
    .await;
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    for i in 0..20 {
        store
            .create_campaign(
                &format!("c{i:02}"),
                CampaignSettings::for_scenario("holding"),
                0,
            )
            .unwrap();
    }
    let planned: Vec<PlannedCall> = (0..calls)
        .map(|i| PlannedCall {
            attempt_id: format!("d{i:06}"),
            lead: Lead {
                name: format!("Lead {i}"),
                phone: format!("+98912{i:07}"),
                ..Lead::default()
            },
            deployment: Deployment::new(common::APP, &scenario, "Local/yes@sim-customers".into()),
        })
        .collect();
    let pace = batch::Pace {
        max_concurrent: calls,
        per_second: 250.0,
    };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let calling = {
        let (runtime, scenario) = (runtime.clone(), Arc::clone(&scenario));
        tokio::spawn(async move {
            batch::run_all(&runtime, scenario, planned, pace, stop, |_| {}).await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while runtime
        .live_board()
        .iter()
        .filter(|c| c.node.is_some())
        .count()
        < calls
    {
        assert!(Instant::now() < deadline, "the calls never all answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tokens = TokenSet::given([("bench", Role::Read, TOKEN)]).unwrap();
    let served = BTreeMap::from([("holding".to_string(), Arc::clone(&scenario))]);
    let state = ApiState::new(store, SharedScenarios::new(served), Auth::new(tokens))
        .with_runtime(runtime.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    println!(
        "dialflow dashboard benchmark: {calls} live calls, 20 campaigns, {dashboards} dashboards, {} s windows",
        window.as_secs()
    );

    let idle = core_share(window).await;
    let events = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..dashboards)
        .map(|_| tokio::spawn(follow(addr, Arc::clone(&events), Arc::clone(&bytes))))
        .collect();
    // Past the first snapshot of each.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (e0, b0) = (
        events.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed),
    );
    let watched = core_share(window).await;
    let (e1, b1) = (
        events.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed),
    );
    for r in readers {
        r.abort();
    }
    let secs = window.as_secs_f64();
    println!(
        "  no dashboard:      {:.1} % of one core (the calls themselves)",
        idle * 100.0
    );
    println!(
        "  {dashboards} dashboards:     {:.1} % of one core",
        watched * 100.0
    );
    println!(
        "  dashboards' cost:  {:.1} % of one core ({:.1} events/s per dashboard, {:.0} KB a snapshot)",
        (watched - idle) * 100.0,
        (e1 - e0) as f64 / secs / dashboards as f64,
        (b1 - b0) as f64 / (e1 - e0).max(1) as f64 / 1000.0
    );
    let _ = stop_tx.send(true);
    runtime.shutdown_calls();
    let _ = tokio::time::timeout(Duration::from_secs(30), calling).await;
    tasks.stop().await;
    sim.shutdown().await;
    drop(dir);
}

/// One dashboard: follows the stream, counting events and bytes.
async fn follow(addr: std::net::SocketAddr, events: Arc<AtomicU64>, bytes: Arc<AtomicU64>) {
    let tls = dialflow::tls::client_config(None).unwrap();
    let client = dialflow::tls::http_client_builder(&tls).build().unwrap();
    let response = client
        .get(format!("http://{addr}/api/stream"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("the stream");
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    while let Some(Ok(chunk)) = body.next().await {
        bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        let ends = chunk.windows(2).filter(|w| w == b"\n\n").count();
        events.fetch_add(ends as u64, Ordering::Relaxed);
    }
}
