//! The agent API of a whole daemon dialing through the simulator: an agent logs in
//! and gets ready with their own token, their WebSocket tells them the call put
//! through to them (assigned, answered, ended) and their wrap-up, and the disposition
//! they then send is kept on the attempt, reported to the panel's outbox and frees
//! them; all through the daemon's own desk.

mod common;
use common::dirs::TempDir;
use common::in_process::{InProcess, campaigns_daemon};
use common::{sim_config, sim_dialflow_config};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dialflow::config::{AgentReachMode, QueueConfig};
use dialflow::core::campaign::settings::{CampaignSettings, DialMode, DispositionSetting};
use dialflow::http::auth::Role;
use dialflow::load::{self, LoadOptions};
use dialflow::sim::behaviours::number_for;
use dialflow::sim::server;
use dialflow::store::{NewAgent, NewLead, Store};
use futures_util::StreamExt as _;
use serde_json::Value;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest as _};

const SPEED: f64 = 25.0;
const REPO: &str = env!("CARGO_MANIFEST_DIR");
const AG0: &str = "agent-live-ag0-token-0123456789";

/// A progressive campaign of one customer who answers "yes", agents' calls closed
/// with `no` (not interested), a wrap-up long enough at the daemon's speed.
fn campaign(store: &Store) {
    let mut settings = CampaignSettings::for_scenario("agents");
    settings.windows = BTreeMap::from([("daily".into(), vec!["00:00-24:00".into()])]);
    settings.mode = DialMode::Progressive;
    settings.safe_harbor.prompt = "goodby".into();
    settings.wrap_up = "30m".into();
    settings.dispositions = vec![DispositionSetting {
        code: "no".into(),
        label: "Not interested".into(),
        result: "not_interested".into(),
        callback: false,
        dnc: false,
    }];
    store.create_campaign("spring", settings, 0).unwrap();
    let lead = NewLead {
        phone: number_for("+989120000001", "yes").unwrap(),
        ..NewLead::default()
    };
    store.import_leads("spring", &[lead], 0).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_takes_a_call_through_the_api_and_closes_it_with_a_disposition() {
    let source = format!("{REPO}/tests/scenarios/agents.yaml");
    let options = LoadOptions {
        prompts_dir: Some(format!("{REPO}/prompts").into()),
        ..LoadOptions::default()
    };
    let scenario = load::compile_file(source.as_ref(), &options)
        .scenario
        .unwrap();
    let sim = server::spawn(sim_config(&scenario, SPEED)).await.unwrap();
    let dir = TempDir::new("agent-api-live");
    dir.write(
        "scenarios/agents.yaml",
        &std::fs::read_to_string(&source).unwrap(),
    );
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    let agent = NewAgent {
        id: "ag0".into(),
        name: "Agent 0".into(),
        endpoint: "Local/ag0@sim-agents".into(),
        queues: vec!["sales".into()],
        campaigns: Vec::new(),
    };
    store.put_agent(agent, 0).unwrap();
    campaign(&store);
    let mut config = sim_dialflow_config(
        &sim.base_url,
        Duration::from_secs(2),
        Duration::from_secs(2),
    );
    config.scenarios = dir.join("scenarios");
    config.prompts = format!("{REPO}/prompts").into();
    let reach = AgentReachMode::Ring;
    config.queues = BTreeMap::from([("sales".to_string(), QueueConfig { reach })]);
    let daemon = campaigns_daemon(config, &store, SPEED, false);
    let daemon = InProcess::start_with_tokens(daemon, &[("ag0", Role::Agent, AG0)]).await;
    let agent = common::bearer_client(AG0);
    let post = |path: &str, body: Value| {
        let request = agent.post(daemon.url(path)).json(&body);
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    for (path, state) in [
        ("/api/agent/login", "break:not_ready"),
        ("/api/agent/ready", "available"),
    ] {
        let (status, me) = post(path, Value::Null).await;
        assert_eq!((status, me["state"].as_str()), (200, Some(state)), "{me}");
    }
    let mut request = format!("ws://{}/api/agent/events", daemon.api)
        .into_client_request()
        .unwrap();
    let bearer = format!("Bearer {AG0}").parse().unwrap();
    request.headers_mut().insert("authorization", bearer);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    let started = daemon
        .client()
        .post(daemon.url("/api/campaigns/spring/start"))
        .send()
        .await
        .unwrap();
    assert!(started.status().is_success());
    // The notices until the wrap-up, in the order they came.
    let mut heard = Vec::new();
    let mut attempt = String::new();
    while !heard.iter().any(|h| h == "state wrap_up") {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a notice within 30 s")
            .unwrap()
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        let n: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(n["agent"], "ag0");
        if let Some(a) = n["attempt"].as_str() {
            attempt = a.to_string();
        }
        let what = n["state"].as_str().map_or("", |s| s);
        heard.push(
            format!("{} {what}", n["event"].as_str().unwrap())
                .trim()
                .to_string(),
        );
    }
    for expected in [
        "state available",
        "state reserved",
        "assigned",
        "state on_call",
        "answered",
    ] {
        assert!(
            heard.iter().any(|h| h == expected),
            "{expected} in {heard:?}"
        );
    }

    let body = serde_json::json!({"code": "no", "notes": "call me never"});
    let (status, answer) = post("/api/agent/disposition", body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["agent"]["state"], "available");
    let kept = store
        .disposition(&attempt)
        .unwrap()
        .expect("on the attempt");
    assert_eq!(
        (kept.code.as_str(), kept.status.as_str()),
        ("no", "NOT_INTERESTED")
    );
    let reported: Vec<(String, String)> = store
        .outbox(0, 100)
        .unwrap()
        .into_iter()
        .filter(|r| r.attempt == attempt)
        .map(|r| (r.status, r.result))
        .collect();
    assert!(
        reported.contains(&("NOT_INTERESTED".into(), "not_interested".into())),
        "{reported:?}"
    );
    let statuses: Vec<&str> = reported.iter().map(|(s, _)| s.as_str()).collect();
    let mut unique = statuses.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        statuses.len(),
        unique.len(),
        "one report per status: {statuses:?}"
    );
    daemon.stop().await;
    drop(sim);
}
