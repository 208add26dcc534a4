//! Benchmark: `GET /metrics` over loopback HTTP, through the API's router and token
//! check, with the series of 100 campaigns in the registry and 1,000 calls live on the
//! runtime against the simulated PBX (both in this process, as `benches/runtime.rs`
//! runs them). Reports the scrape's time (p50, p99, max) with no call live and with
//! the calls live, the text's size and series, and the registry's encoding alone.
//!
//! Run with `cargo bench --bench metrics` (`-- LIVE CAMPAIGNS SCRAPES` to change it).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialflow::ari::translate::Deployment;
use dialflow::core::call::Lead;
use dialflow::http::auth::{Auth, Role, TokenSet};
use dialflow::http::{ApiState, router};
use dialflow::load::{self, LoadOptions};
use dialflow::metrics;
use dialflow::runtime::Runtime;
use dialflow::runtime::batch::{self, PlannedCall};
use dialflow::scenario_set::SharedScenarios;
use dialflow::sim::server;
use dialflow::store::Store;

#[path = "../tests/common/mod.rs"]
mod common;

const TOKEN: &str = "metrics-bench-read-token-0123456789";
/// What a campaign's calls end as: a scenario's results and the panel's statuses.
const ENDS: &[(&str, &str)] = &[
    ("interested", "SUCCESS"),
    ("not_interested", "NOT_INTERESTED"),
    ("busy", "BUSY"),
    ("missed", "NO_ANSWER"),
    ("connected_to_operator", "CONNECTED"),
    ("failed:stt_failure", "FAILED"),
];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

fn summary(mut times: Vec<Duration>) -> String {
    times.sort_unstable();
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} scrapes)",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        times.len()
    )
}

/// Every campaign's series, as a day of dialing leaves them.
fn fill_campaigns(campaigns: usize) {
    let m = metrics::global();
    for c in 0..campaigns {
        let name = format!("campaign_{c:03}");
        for (result, status) in ENDS {
            m.call_started(&name);
            m.call_ended(&name, result, status);
        }
    }
}

/// The API over `runtime` on a loopback port, and a client sending a read token.
async fn serve(runtime: &Runtime, store: Arc<Store>) -> (String, reqwest::Client) {
    let tokens = TokenSet::given([("bench", Role::Read, TOKEN)]).unwrap();
    let state = ApiState::new(
        store,
        SharedScenarios::new(BTreeMap::new()),
        Auth::new(tokens),
    )
    .with_runtime(runtime.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {TOKEN}");
    headers.insert(reqwest::header::AUTHORIZATION, bearer.parse().unwrap());
    let tls = dialflow::tls::client_config(None).unwrap();
    let client = dialflow::tls::http_client_builder(&tls)
        .default_headers(headers)
        .build()
        .unwrap();
    (format!("http://{addr}/metrics"), client)
}

/// `count` scrapes one after the other: each one's time, and the last text.
async fn scrape(url: &str, client: &reqwest::Client, count: usize) -> (Vec<Duration>, String) {
    let mut times = Vec::with_capacity(count);
    let mut text = String::new();
    for _ in 0..count {
        let start = Instant::now();
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        text = response.text().await.unwrap();
        times.push(start.elapsed());
    }
    (times, text)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let live = args.first().copied().unwrap_or(1_000);
    let campaigns = args.get(1).copied().unwrap_or(100);
    let scrapes = args.get(2).copied().unwrap_or(200);
    let scenario = load::compile_file(Path::new("scenarios/salehi.yaml"), &LoadOptions::default())
        .scenario
        .expect("salehi compiles");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async move {
        // Real time: a call lasts long enough for every call to be live at once.
        let speed = 1.0;
        let sim = server::spawn(common::sim_config(&scenario, speed))
            .await
            .expect("simulator");
        let (runtime, tasks) = common::connect(
            &sim.base_url,
            speed,
            common::Classify::Simulated,
            Duration::from_secs(10),
        )
        .await;
        let dir = common::dirs::TempDir::new("metrics-bench");
        let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
        let (url, client) = serve(&runtime, store).await;
        fill_campaigns(campaigns);
        let encode_start = Instant::now();
        for _ in 0..scrapes {
            metrics::global().encode().unwrap();
        }
        let encoded = encode_start.elapsed() / scrapes.max(1) as u32;
        let (idle, _) = scrape(&url, &client, scrapes).await;

        // Customers who listen and answer: each call stays up for its whole flow.
        let planned: Vec<PlannedCall> = (0..live)
            .map(|i| PlannedCall {
                attempt_id: format!("m{i:06}"),
                lead: Lead::default(),
                deployment: Deployment::new(
                    common::APP,
                    &scenario,
                    format!("Local/{}@sim-customers", ["yes", "no"][i % 2]),
                ),
            })
            .collect();
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let pace = batch::Pace {
            max_concurrent: live,
            per_second: 400.0,
        };
        let calls = {
            let (runtime, scenario) = (runtime.clone(), Arc::clone(&scenario));
            tokio::spawn(async move {
                batch::run_all(&runtime, scenario, planned, pace, stop, |_| {}).await
            })
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while runtime.live_calls() < live && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let live_at_start = runtime.live_calls();
        let (busy, text) = scrape(&url, &client, scrapes).await;
        let live_at_end = runtime.live_calls();
        let _ = stop_tx.send(true);
        runtime.shutdown_calls();
        let _ = calls.await;

        let series = text.lines().filter(|l| !l.starts_with('#')).count();
        println!("dialflow /metrics benchmark: {campaigns} campaigns' series, {scrapes} scrapes over loopback HTTP with a read token");
        println!("  text              {} bytes, {series} series", text.len());
        println!("  encoding alone    {:.2} ms a scrape", encoded.as_secs_f64() * 1e3);
        println!("  no call live      {}", summary(idle));
        println!("  calls live        {live_at_start} at the first scrape, {live_at_end} at the last");
        println!("  with them         {}", summary(busy));
        tasks.stop().await;
        sim.shutdown().await;
    });
}
