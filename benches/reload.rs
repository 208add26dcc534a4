//! Hot reload benchmark, three figures:
//!
//! - **edit → served**: a scenario file written in place under a running daemon (its
//!   file watch, the 100 ms debounce, the compile, the store's version record, the
//!   swap), timed until the set new calls take their scenario from holds the new
//!   version; p50 and p99 over `EDITS` edits, one every 300 ms;
//! - **one reload of 100 scenarios**: `control::reload` of a folder of 100 Salehi
//!   copies, with prompts read, unchanged (compile and swap) and with all 100 changed
//!   (their 100 new versions recorded in a store too); median of 10 each;
//! - **calls beside reloads**: the runtime benchmark's load (`CALLS` Salehi calls, at
//!   most 1,000 at once, 5× real time, 400 starts a second offered) against the
//!   simulator in this process, once alone and once with the 100-scenario folder
//!   reloaded every second (one file changed each time, so each records a version):
//!   calls a second and event → request p50 and p99.
//!
//! `cargo bench --bench reload -- [EDITS] [CALLS]` (defaults 100 and 3,000); `--only
//! edit|folder|calls` runs one part.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialflow::ari::translate::Deployment;
use dialflow::control::{self, Trigger};
use dialflow::core::call::Lead;
use dialflow::daemon::{Daemon, Work};
use dialflow::load::{self, LoadOptions};
use dialflow::runtime::batch::{self, PlannedCall};
use dialflow::runtime::clock::Clock;
use dialflow::scenario_set::{self, SharedScenarios};
use dialflow::sim::server;
use dialflow::store::Store;

#[path = "../tests/common/mod.rs"]
mod common;
use common::dirs::TempDir;

const SALEHI: &str = include_str!("../scenarios/salehi.yaml");

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let edits = numbers.first().copied().unwrap_or(100);
    let calls = numbers.get(1).copied().unwrap_or(3_000);
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let runs = |part: &str| only.as_deref().is_none_or(|o| o == part);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async move {
        println!("dialflow reload benchmark");
        if runs("edit") {
            edit_to_served(edits).await;
        }
        if runs("folder") {
            folder_reload().await;
        }
        if runs("calls") {
            calls_beside_reloads(calls).await;
        }
    });
}

/// Salehi under another name, its description saying `words`.
fn salehi_as(name: &str, words: &str) -> String {
    SALEHI
        .replacen("name: salehi", &format!("name: {name}"), 1)
        .replacen("description: >", &format!("description: >\n  {words}"), 1)
}

fn prompts() -> LoadOptions {
    LoadOptions {
        prompts_dir: Some(PathBuf::from("prompts")),
        no_environment: false,
        queues: None,
    }
}

fn percentile<T: Copy + Ord>(sorted: &[T], p: f64) -> T {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A file written under a running daemon, until the set it serves has the new version.
async fn edit_to_served(edits: usize) {
    let scenario = common::scenario("salehi");
    let sim = server::spawn(common::sim_config(&scenario, 1.0))
        .await
        .expect("simulator");
    let dir = TempDir::new("bench-reload-edit");
    let file = dir.write("scenarios/salehi.yaml", &salehi_as("salehi", "Edit 0."));
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    let mut config = common::sim_dialflow_config(
        &sim.base_url,
        Duration::from_secs(2),
        Duration::from_secs(2),
    );
    config.scenarios = dir.join("scenarios");
    config.prompts = PathBuf::from("prompts");
    let loaded = scenario_set::load_folder(&config.scenarios, &prompts()).unwrap();
    let served = SharedScenarios::new(loaded.scenarios);
    let work = Work::Campaigns {
        store,
        scenarios: served.clone(),
        exit_when_idle: false,
    };
    let daemon = Daemon::new(config, work)
        .unwrap()
        .with_clock(Clock::new(1.0))
        .with_load_options(prompts());
    let daemon = common::in_process::InProcess::start(daemon).await;
    // The watch is set before the API answers.
    let status = format!("http://{}/api/status", daemon.api);
    let http = dialflow::tls::system_http_client();
    http.get(&status).send().await.expect("the API answers");
    let mut took = Vec::with_capacity(edits);
    for i in 1..=edits {
        let before = served.get("salehi").expect("served").hash.clone();
        let written = Instant::now();
        std::fs::write(&file, salehi_as("salehi", &format!("Edit {i}."))).unwrap();
        while served.get("salehi").is_some_and(|s| s.hash == before) {
            assert!(
                written.elapsed() < Duration::from_secs(10),
                "edit {i} never served"
            );
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        took.push(written.elapsed());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    took.sort_unstable();
    println!(
        "  edit → served      p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {edits} edits (file watch, 100 ms debounce, compile, version recorded, swap)",
        ms(percentile(&took, 0.5)),
        ms(percentile(&took, 0.99)),
        ms(*took.last().unwrap()),
    );
    daemon.stop().await;
    sim.shutdown().await;
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A folder of 100 Salehi copies.
fn hundred(dir: &TempDir, round: usize) -> PathBuf {
    for n in 0..100 {
        let name = format!("s{n:03}");
        dir.write(
            &format!("scenarios/{name}.yaml"),
            &salehi_as(&name, &format!("Round {round}.")),
        );
    }
    dir.join("scenarios")
}

/// One reload of 100 scenarios: unchanged, then all changed with versions recorded.
async fn folder_reload() {
    let dir = TempDir::new("bench-reload-folder");
    let folder = hundred(&dir, 0);
    let served = SharedScenarios::default();
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    let options = prompts();
    let mut same = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        control::reload(&folder, &options, &served, None)
            .await
            .expect("it compiles");
        same.push(started.elapsed());
    }
    let mut changed = Vec::new();
    for round in 1..=10 {
        hundred(&dir, round);
        let started = Instant::now();
        control::reload(&folder, &options, &served, Some((&store, Trigger::Api)))
            .await
            .expect("it compiles");
        changed.push(started.elapsed());
    }
    same.sort_unstable();
    changed.sort_unstable();
    println!(
        "  100 scenarios      reload {:.0} ms unchanged (compile with prompts, swap), {:.0} ms all changed (and 100 versions recorded); medians of 10",
        ms(percentile(&same, 0.5)),
        ms(percentile(&changed, 0.5)),
    );
}

/// The runtime's load alone, then with a reload of 100 scenarios every second.
async fn calls_beside_reloads(calls: usize) {
    let alone = call_load(calls, false).await;
    let beside = call_load(calls, true).await;
    for (label, (rate, p50, p99, reloads)) in [("alone", alone), ("reloading", beside)] {
        println!(
            "  calls {label:<10}  {rate:.0} calls/s, event → request p50 {p50} µs, p99 {p99} µs ({reloads} reloads of 100 scenarios meanwhile)"
        );
    }
}

/// `calls` Salehi calls (the runtime benchmark's load); with `reloading`, a reload of
/// 100 scenarios every second meanwhile. Calls a second, p50 and p99 in µs, reloads.
async fn call_load(calls: usize, reloading: bool) -> (f64, u32, u32, usize) {
    let scenario = load::compile_file(Path::new("scenarios/salehi.yaml"), &LoadOptions::default())
        .scenario
        .expect("salehi compiles");
    let speed = 5.0;
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
    let reloads = reloading.then(|| tokio::spawn(reload_every_second()));
    let mix = ["yes", "no", "unknown", "number", "busy", "silent"];
    let planned: Vec<PlannedCall> = (0..calls)
        .map(|i| PlannedCall {
            attempt_id: format!("r{i:06}"),
            lead: Lead::default(),
            deployment: Deployment::new(
                common::APP,
                &scenario,
                format!("Local/{}@sim-customers", mix[i % mix.len()]),
            ),
        })
        .collect();
    let pace = batch::Pace {
        max_concurrent: 1_000,
        per_second: 400.0,
    };
    let started = Instant::now();
    let stop = tokio::sync::watch::channel(false).1;
    let ended = batch::run_all(&runtime, scenario, planned, pace, stop, |_| {}).await;
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(task) = reloads {
        task.abort();
    }
    let done = if reloading {
        RELOADS.load(std::sync::atomic::Ordering::Relaxed)
    } else {
        0
    };
    let mut latencies = runtime.take_latencies();
    latencies.sort_unstable();
    tasks.stop().await;
    sim.shutdown().await;
    (
        ended.len() as f64 / elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        done,
    )
}

static RELOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Reloads a folder of 100 scenarios every second, one file changed each time (so each
/// reload records a version), until aborted.
async fn reload_every_second() {
    let dir = TempDir::new("bench-reload-beside");
    let folder = hundred(&dir, 0);
    let served = SharedScenarios::default();
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    let options = prompts();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for round in 1.. {
        tick.tick().await;
        let name = format!("s{:03}", round % 100);
        dir.write(
            &format!("scenarios/{name}.yaml"),
            &salehi_as(&name, &format!("Round {round}.")),
        );
        let versions = Some((&store, Trigger::FileChange));
        if control::reload(&folder, &options, &served, versions)
            .await
            .is_ok()
        {
            RELOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
