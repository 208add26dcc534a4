//! The agent API of a whole daemon dialing through the simulator: an agent logs in
//! and gets ready with their own token, their WebSocket tells them the call put
//! through to them (assigned, answered, ended) and their wrap-up, and the disposition
//! they then send is kept on the attempt, reported to the panel's outbox and frees
//! them; all through the daemon's own desk. An agent who hangs up from their screen
//! ends the call there and then, long before the customer would have, its result kept.

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
    let mut settings = CampaignSettings::for_scenario("call_centre");
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

/// A daemon on the simulator at `speed` with agent ag0 (rung), logged in and ready,
/// campaign `spring` in draft.
struct Live {
    sim: server::SimHandle,
    _dir: TempDir,
    store: Arc<Store>,
    daemon: InProcess,
    agent: reqwest::Client,
}

impl Live {
    async fn start(speed: f64) -> Live {
        let source = format!("{REPO}/scenarios/call_centre.yaml");
        let options = LoadOptions {
            prompts_dir: Some(format!("{REPO}/prompts").into()),
            ..LoadOptions::default()
        };
        let scenario = load::compile_file(source.as_ref(), &options)
            .scenario
            .unwrap();
        let sim = server::spawn(sim_config(&scenario, speed)).await.unwrap();
        let dir = TempDir::new("agent-api-live");
        dir.write(
            "scenarios/call_centre.yaml",
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
        let daemon = campaigns_daemon(config, &store, speed, false);
        let daemon = InProcess::start_with_tokens(daemon, &[("ag0", Role::Agent, AG0)]).await;
        let live = Live {
            sim,
            _dir: dir,
            store,
            daemon,
            agent: common::bearer_client(AG0),
        };
        for (path, state) in [
            ("/api/agent/login", "break:not_ready"),
            ("/api/agent/ready", "available"),
        ] {
            let (status, me) = live.post(path, Value::Null).await;
            assert_eq!((status, me["state"].as_str()), (200, Some(state)), "{me}");
        }
        live
    }

    /// `POST path` as ag0: the status and the JSON answer.
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let request = self.agent.post(self.daemon.url(path)).json(&body);
        let response = request.send().await.unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    }

    /// ag0's events WebSocket.
    async fn events(&self) -> Socket {
        let mut request = format!("ws://{}/api/agent/events", self.daemon.api)
            .into_client_request()
            .unwrap();
        let bearer = format!("Bearer {AG0}").parse().unwrap();
        request.headers_mut().insert("authorization", bearer);
        tokio_tungstenite::connect_async(request).await.unwrap().0
    }

    async fn start_campaign(&self) {
        let started = self
            .daemon
            .client()
            .post(self.daemon.url("/api/campaigns/spring/start"))
            .send()
            .await
            .unwrap();
        assert!(started.status().is_success());
    }

    async fn stop(self) {
        self.daemon.stop().await;
        drop(self.sim);
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The notices on `socket` until one is `until` (`event state`, trimmed), in order,
/// and the attempt they named.
async fn notices_until(socket: &mut Socket, until: &str) -> (Vec<String>, String) {
    let mut heard: Vec<String> = Vec::new();
    let mut attempt = String::new();
    while !heard.iter().any(|h| h == until) {
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
    (heard, attempt)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_takes_a_call_through_the_api_and_closes_it_with_a_disposition() {
    let live = Live::start(SPEED).await;
    let mut socket = live.events().await;
    live.start_campaign().await;
    let (heard, attempt) = notices_until(&mut socket, "state wrap_up").await;
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
    let (status, answer) = live.post("/api/agent/disposition", body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["agent"]["state"], "available");
    let kept = live
        .store
        .disposition(&attempt)
        .unwrap()
        .expect("on the attempt");
    assert_eq!(
        (kept.code.as_str(), kept.status.as_str()),
        ("no", "NOT_INTERESTED")
    );
    let reported: Vec<(String, String)> = live
        .store
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
    live.stop().await;
}

/// Slower than `SPEED`, so the customer's own hang-up (26 s after answering, 5 s of
/// real time) is well apart from the agent's.
const HANGUP_SPEED: f64 = 5.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_who_hangs_up_ends_the_call_at_once_its_result_kept() {
    let live = Live::start(HANGUP_SPEED).await;
    let (status, answer) = live.post("/api/agent/hangup", Value::Null).await;
    assert_eq!(status, 409, "no call on yet: {answer}");
    let mut socket = live.events().await;
    live.start_campaign().await;
    let (_, attempt) = notices_until(&mut socket, "answered").await;

    let (status, me) = live.post("/api/agent/hangup", Value::Null).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["state"], "wrap_up", "the call's end seen: {me}");
    assert_eq!(me["attempt"], attempt.as_str());
    let (status, answer) = live.post("/api/agent/hangup", Value::Null).await;
    assert_eq!(status, 409, "in wrap-up now: {answer}");

    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(end) = live.store.attempt(&attempt).unwrap().end {
                return end;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the call's end recorded");
    assert_eq!(end.result, "connected_to_operator");
    assert_eq!(end.agent.as_deref(), Some("ag0"));
    let bridged = end.agent_bridged_ms.expect("bridged before the hang-up");
    let talked = end.ended_ms - bridged;
    // The customer stays 26 s after answering, and was bridged within a few seconds.
    assert!(
        talked < 8_000,
        "ended {talked} ms after the bridge: not at the hang-up"
    );
    live.stop().await;
}
