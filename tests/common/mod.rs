//! Helpers shared by the tests (and the runtime benchmark): the simulated PBX as a
//! `dialflow sim` process, or in this process with dialflow's runtime connected to it
//! over loopback HTTP and WebSocket; child processes (`process`), folders (`dirs`), the
//! command line (`cli`), a whole daemon in the test's process (`in_process`) and a
//! reporting panel on loopback (`panel`), the API's documented operations as
//! requests (`openapi`), and a store whose outbox fills as calls end
//! (`reports`, for the benchmarks), a real browser (`browser`). Each
//! test file uses some of them.
#![allow(dead_code)]

pub mod browser;
pub mod call_centre;
pub mod cli;
pub mod dirs;
pub mod in_process;
pub mod openapi;
pub mod panel;
pub mod process;
pub mod reports;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use dialflow::classify::IntentProvider;
use dialflow::classify::stt::SttProvider;
use dialflow::config::Config;
use dialflow::core::scenario::Scenario;
use dialflow::daemon::{self, Classification};
use dialflow::load::{self, LoadOptions};
use dialflow::runtime::clock::Clock;
use dialflow::runtime::{Runtime, RuntimeTasks};
use dialflow::sim::server::{self, SimConfig, SimHandle};

/// The ARI application, user and password of the in-process simulator.
pub const APP: &str = "dialflow";
const USER: &str = "u";
const PASSWORD: &str = "p";

/// A shipped scenario, by its file stem in `scenarios/`.
pub fn scenario(name: &str) -> Arc<Scenario> {
    load::compile_file(
        &Path::new("scenarios").join(format!("{name}.yaml")),
        &LoadOptions::default(),
    )
    .scenario
    .unwrap_or_else(|| panic!("{name} compiles"))
}

/// How the runtime classifies answers.
pub enum Classify {
    /// The simulator's own transcripts, matched by the scenario's rules.
    Simulated,
    /// A speech-to-text provider and an intent classifier.
    Pipeline(SttProvider, IntentProvider),
}

/// A simulator configuration for `scenario`'s prompts (2 s where a length is unknown).
pub fn sim_config(scenario: &Scenario, speed: f64) -> SimConfig {
    let prompts: HashMap<String, u64> = scenario
        .prompts
        .iter()
        .map(|(n, ms)| (n.clone(), ms.unwrap_or(2_000)))
        .collect();
    SimConfig {
        app: APP.into(),
        user: USER.into(),
        password: PASSWORD.into(),
        speed,
        prompts,
        faults: Default::default(),
        session_limit: server::DEFAULT_SESSION_LIMIT,
        capacity: None,
    }
}

/// A configuration for the simulator at `base_url`: its customers and operators, REST
/// requests timing out after `timeout`, classifications after `classify_timeout`.
pub fn sim_dialflow_config(
    base_url: &str,
    timeout: Duration,
    classify_timeout: Duration,
) -> Config {
    Config::parse(
        "test",
        &format!(
            "ari: {{url: \"{base_url}\", user: {USER}, password: {PASSWORD}, app: {APP}, timeout: {}ms}}\n\
             dial: {{template: \"Local/{{number}}@sim-customers\"}}\n\
             operators: {{sales: \"Local/op-answer@sim-operators\"}}\n\
             classify: {{timeout: {}ms}}\n",
            timeout.as_millis(),
            classify_timeout.as_millis(),
        ),
        |_| None,
    )
    .expect("the test configuration parses")
}

/// dialflow's runtime, connected to the simulator at `base_url` (started from
/// `sim_config`), with `timeout` for REST requests and classifications, through the
/// daemon's one way of starting it.
pub async fn connect(
    base_url: &str,
    speed: f64,
    classify: Classify,
    timeout: Duration,
) -> (Runtime, RuntimeTasks) {
    connect_with(base_url, speed, classify, timeout, |_| {}).await
}

/// [`connect`], with the test's changes to the configuration.
pub async fn connect_with(
    base_url: &str,
    speed: f64,
    classify: Classify,
    timeout: Duration,
    change: impl FnOnce(&mut dialflow::config::Config),
) -> (Runtime, RuntimeTasks) {
    let (classification, classify_timeout) = match classify {
        Classify::Simulated => (Classification::Configured, timeout),
        Classify::Pipeline(stt, intent) => (
            Classification::Providers { stt, intent },
            timeout.max(Duration::from_secs(5)),
        ),
    };
    let mut config = sim_dialflow_config(base_url, timeout, classify_timeout);
    change(&mut config);
    let endpoint = daemon::endpoint(&config).expect("the test configuration has a password");
    daemon::connect(&config, endpoint, Clock::new(speed), classification)
        .await
        .expect("the runtime connects to the simulator")
}

/// Customers of the simulator, answering or not, and the result each gives through the
/// Salehi flow (operators answering).
pub const SALEHI_CUSTOMERS: &[(&str, &str)] = &[
    ("yes", "connected_to_operator"),
    ("no", "not_interested"),
    ("number", "connected_to_operator"),
    ("unknown", "unknown"),
    ("silent", "hangup"),
    ("busy", "busy"),
    ("poweroff", "power_off"),
    ("rejected", "banned"),
];

/// `calls` calls through `scenario` to the simulator's `customers` in turn (the first
/// of each pair), with ids `<prefix>0000`, `<prefix>0001`…
pub fn planned_calls(
    scenario: &Scenario,
    prefix: &str,
    customers: &[(&str, &str)],
    calls: usize,
) -> Vec<dialflow::runtime::batch::PlannedCall> {
    (0..calls)
        .map(|i| dialflow::runtime::batch::PlannedCall {
            attempt_id: format!("{prefix}{i:04}"),
            lead: dialflow::core::call::Lead::default(),
            deployment: dialflow::ari::translate::Deployment::new(
                APP,
                scenario,
                format!("Local/{}@sim-customers", customers[i % customers.len()].0),
            ),
        })
        .collect()
}

/// The simulated PBX and dialflow's runtime, both in this process.
pub struct Live {
    pub sim: SimHandle,
    pub runtime: Runtime,
    pub tasks: RuntimeTasks,
}

impl Live {
    /// A simulator for `scenario`'s prompts at `speed`, and a runtime connected to it.
    pub async fn start(scenario: &Scenario, speed: f64, classify: Classify) -> Live {
        let config = sim_config(scenario, speed);
        Live::start_on(config, speed, classify, Duration::from_secs(2)).await
    }

    /// A simulator configured as `config` (its session limit, its capacity…), and a
    /// runtime at `speed` connected to it, with `timeout` for REST requests.
    pub async fn start_on(
        config: SimConfig,
        speed: f64,
        classify: Classify,
        timeout: Duration,
    ) -> Live {
        Live::start_changed(config, speed, classify, timeout, |_| {}).await
    }

    /// [`Live::start_on`], with the test's changes to dialflow's configuration.
    pub async fn start_changed(
        config: SimConfig,
        speed: f64,
        classify: Classify,
        timeout: Duration,
        change: impl FnOnce(&mut dialflow::config::Config),
    ) -> Live {
        let sim = server::spawn(config).await.expect("the simulator starts");
        let (runtime, tasks) = connect_with(&sim.base_url, speed, classify, timeout, change).await;
        Live {
            sim,
            runtime,
            tasks,
        }
    }

    /// Stops the runtime, then the simulator.
    pub async fn stop(self) {
        self.tasks.stop().await;
        self.sim.shutdown().await;
    }
}

/// A running `dialflow sim` (user `dialflow`, password `pw`), killed when dropped.
pub struct SimProcess {
    _process: process::Proc,
    pub port: u16,
}

/// Starts `dialflow sim` at `speed` on a port of its own choosing (no race with other
/// tests for a free port), read from its banner.
pub fn start_sim(speed: &str) -> SimProcess {
    let mut sim = process::Proc::spawn(
        Command::new(process::BIN)
            .args([
                "sim",
                "--listen",
                "127.0.0.1:0",
                "--speed",
                speed,
                "--password",
                "pw",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let stdout = process::Lines::of(sim.0.stdout.take().expect("piped"));
    let banner = stdout.until("http://", Duration::from_secs(20));
    stdout.drain();
    SimProcess {
        _process: sim,
        port: process::url_address(&banner).port(),
    }
}

/// A response's text: the whole body, or for a stream of server-sent events (which
/// never ends) its first event.
pub async fn body_text(mut response: reqwest::Response) -> String {
    let streamed = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !streamed {
        return response.text().await.unwrap();
    }
    let mut text = String::new();
    while !text.contains("\n\n") {
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), response.chunk());
        match next.await.expect("an event within 5 s").unwrap() {
            Some(chunk) => text.push_str(&String::from_utf8_lossy(&chunk)),
            None => break,
        }
    }
    text
}

/// An HTTP client sending `token` as its bearer token with every request.
pub fn bearer_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {token}");
    headers.insert(reqwest::header::AUTHORIZATION, bearer.parse().unwrap());
    let tls = dialflow::tls::client_config(None).unwrap();
    dialflow::tls::http_client_builder(&tls)
        .default_headers(headers)
        .build()
        .unwrap()
}
