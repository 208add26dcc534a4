//! `dialflow run` without `--scenario`: the daemon dials the store's running campaigns
//! until stopped (SIGINT/SIGTERM: no new calls, live calls get the grace time, then
//! the rest are hung up and recorded), or with `--exit-when-idle` until nothing runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::classify::Classifier;
use crate::config::Config;
use crate::core::scenario::Scenario;
use crate::dialer::{Dialer, DialerEvent, DialerOptions};
use crate::load::LoadOptions;
use crate::runtime::Runtime;
use crate::runtime::clock::Clock;
use crate::runtime::rest::{AriClient, AriEndpoint};
use crate::store::Store;

pub fn run(
    config: Config,
    options: &LoadOptions,
    store: Option<PathBuf>,
    exit_when_idle: bool,
) -> ExitCode {
    let path = store
        .or_else(|| std::env::var_os("DIALFLOW_STORE").map(PathBuf::from))
        .unwrap_or_else(|| config.store.clone());
    let store = match Store::open(&path) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let scenarios = load_scenarios(&config.scenarios, options);
    if scenarios.is_empty() {
        eprintln!(
            "warning: no scenario in {} compiles; campaigns cannot dial",
            config.scenarios.display()
        );
    }
    super::block_on(async move {
        match daemon(config, store, scenarios, exit_when_idle).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Every scenario of the folder that compiles, by file stem (what campaigns name).
pub fn load_scenarios(dir: &Path, options: &LoadOptions) -> BTreeMap<String, Arc<Scenario>> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        eprintln!(
            "warning: cannot read the scenarios folder {}",
            dir.display()
        );
        return out;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    for file in files {
        let Some(stem) = file.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        if let Some(scenario) = super::compile_scenario(&file, options) {
            out.insert(stem, scenario);
        }
    }
    out
}

/// How long requests in progress may take to finish once the daemon stops.
const API_SHUTDOWN: Duration = Duration::from_secs(5);

/// Connects to ARI with the configuration's client and classifier.
pub async fn start_runtime(
    config: &Config,
    speed: f64,
) -> Result<(Runtime, crate::runtime::RuntimeTasks), String> {
    let endpoint = AriEndpoint {
        base_url: config.ari.url.clone(),
        user: config.ari.user.clone(),
        password: config
            .ari_password()
            .map_err(|e| format!("configuration: {e}"))?
            .to_string(),
        app: config.ari.app.clone(),
    };
    let client = AriClient::new(endpoint, Duration::from_millis(config.timeout_ms()))
        .map_err(|e| e.to_string())?;
    let classifier = Classifier::from_config(
        &config.classify,
        client.clone(),
        Duration::from_millis(config.classify_timeout_ms()),
        |k| std::env::var(k).ok(),
    )?;
    Runtime::start(
        client,
        Clock::new(speed),
        classifier,
        Duration::from_secs(10),
    )
    .await
    .map_err(|e| e.to_string())
}

async fn daemon(
    config: Config,
    store: Arc<Store>,
    scenarios: BTreeMap<String, Arc<Scenario>>,
    exit_when_idle: bool,
) -> Result<(), String> {
    let (runtime, tasks) = start_runtime(&config, 1.0).await?;
    let running: Vec<String> = store
        .campaigns()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|c| c.state == crate::store::CampaignState::Running)
        .map(|c| c.name)
        .collect();
    eprintln!(
        "dialflow run: store {}, {} scenario(s), running campaign(s): {}; at most {} call(s) at once, ARI {}",
        store.path().display(),
        scenarios.len(),
        if running.is_empty() {
            "none".to_string()
        } else {
            running.join(", ")
        },
        config.max_concurrent,
        config.ari.url
    );
    // The API: campaign control while this process holds the store.
    let (api_stop, api_stop_rx) = watch::channel(false);
    let api = match crate::http::bind(&config.listen).await {
        Ok(Some(listener)) => {
            eprintln!("HTTP API on http://{}", config.listen);
            let state = crate::http::ApiState {
                store: Arc::clone(&store),
                scenarios: Arc::new(scenarios.clone()),
            };
            Some(tokio::spawn(crate::http::serve(
                listener,
                state,
                api_stop_rx,
            )))
        }
        Ok(None) => None,
        Err(message) => {
            eprintln!("warning: {message}; campaigns can be changed only once this run stops");
            None
        }
    };
    let (stop, stop_rx) = watch::channel(false);
    let grace = Duration::from_millis(config.shutdown_grace_ms());
    let watcher = {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            super::run::shutdown_signal().await;
            eprintln!("stopping: no new calls; live calls get {grace:?} to finish");
            let _ = stop.send(true);
            tokio::time::sleep(grace).await;
            eprintln!(
                "grace time over: hanging up {} live call(s)",
                runtime.live_calls()
            );
            runtime.shutdown_calls();
        })
    };
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        while let Some(event) = events_rx.recv().await {
            match event {
                DialerEvent::Finished { attempt, end, .. } => println!(
                    "{}\t{}\t{}\t{}\t{}",
                    attempt.campaign, attempt.phone, attempt.id, end.result, end.status
                ),
                DialerEvent::CampaignChanged {
                    name,
                    state,
                    reason,
                } => match reason {
                    Some(r) => eprintln!("campaign `{name}` is {state}: {r}"),
                    None => eprintln!("campaign `{name}` is {state}"),
                },
                DialerEvent::Alert { message, .. } => eprintln!("ALERT: {message}"),
                DialerEvent::Recovered { attempts } => eprintln!(
                    "closed {attempts} attempt(s) left open by the previous run (never redialled under the same attempt)"
                ),
            }
        }
    });
    let options = DialerOptions {
        max_concurrent: config.max_concurrent,
        exit_when_idle,
        ..DialerOptions::default()
    };
    let metrics_of = runtime.clone();
    let dialer =
        Dialer::new(Arc::clone(&store), runtime, scenarios, config, options).with_events(events_tx);
    let result = dialer.run(stop_rx).await;
    if let Some(m) = metrics_of.classify_metrics() {
        for (provider, l) in &m.latency {
            eprintln!(
                "classification {provider}: {} call(s), mean {} ms, max {} ms",
                l.count,
                l.mean_ms(),
                l.max_ms
            );
        }
        for (kind, n) in &m.errors {
            eprintln!("classification errors {kind}: {n}");
        }
    }
    watcher.abort();
    let _ = api_stop.send(true);
    if let Some(mut api) = api {
        // The API finishes what it is answering, but a slow upload or an export read by
        // nobody must not hold the daemon up for ever.
        if tokio::time::timeout(API_SHUTDOWN, &mut api).await.is_err() {
            eprintln!("stopping: HTTP requests still open after {API_SHUTDOWN:?}, closing them");
            api.abort();
        }
    }
    tasks.stop().await;
    let _ = printer.await;
    let summary = result.map_err(|e| e.to_string())?;
    eprintln!(
        "dialflow run: {} attempt(s) recorded this run, {} recovered",
        summary.attempts, summary.recovered
    );
    Ok(())
}
