//! A call centre in the test's process: the simulator, a store with agents answering
//! at the simulated agents' phones, the shipped `call_centre` scenario (every answered customer put
//! through to a sales agent), a daemon over them whose desk the caller holds, every
//! agent logged in and ready, and a harness that sets each call's disposition a while
//! after it ends. For tests/agents_campaign.rs and benches/agents.rs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialflow::config::{AgentReachMode, QueueConfig};
use dialflow::core::agents::AgentEvent;
use dialflow::core::campaign::settings::{CampaignSettings, DialMode};
use dialflow::desk::{Desk, NoticeKind};
use dialflow::http::auth::Role;
use dialflow::load::{self, LoadOptions};
use dialflow::runtime::clock::Clock;
use dialflow::sim::server::{self, SimHandle};
use dialflow::store::{AttemptView, CampaignState, NewAgent, NewLead, Store};

use super::dirs::TempDir;
use super::in_process::{InProcess, campaigns_daemon};
use super::{sim_config, sim_dialflow_config};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// What call centre to build.
pub struct Plan {
    pub label: &'static str,
    pub agents: usize,
    /// The agents' phones; `{i}` is the agent's number.
    pub endpoint: &'static str,
    pub reach: AgentReachMode,
    /// How customers are dialed (`Local/{number}@sim-customers` when `None`).
    pub dial_template: Option<String>,
    /// Campaign time per real second.
    pub speed: f64,
    /// How long after a call the agent sets its disposition (campaign time).
    pub wrap_up: Duration,
}

impl Plan {
    pub fn new(label: &'static str, agents: usize) -> Plan {
        Plan {
            label,
            agents,
            endpoint: "Local/ag{i}@sim-agents",
            reach: AgentReachMode::Ring,
            dial_template: None,
            speed: 25.0,
            wrap_up: Duration::from_millis(2_500),
        }
    }
}

pub struct CallCentre {
    pub sim: SimHandle,
    _dir: TempDir,
    pub store: Arc<Store>,
    pub desk: Arc<Desk>,
    pub daemon: InProcess,
    pub clock: Clock,
}

/// The call centre `plan` describes, running.
pub async fn call_centre(plan: Plan) -> CallCentre {
    let source = format!("{REPO}/scenarios/call_centre.yaml");
    let options = LoadOptions {
        prompts_dir: Some(format!("{REPO}/prompts").into()),
        ..LoadOptions::default()
    };
    let scenario = load::compile_file(source.as_ref(), &options)
        .scenario
        .expect("call_centre.yaml compiles");
    let sim = server::spawn(sim_config(&scenario, plan.speed))
        .await
        .unwrap();
    let dir = TempDir::new(plan.label);
    dir.write(
        "scenarios/call_centre.yaml",
        &std::fs::read_to_string(&source).unwrap(),
    );
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    for i in 0..plan.agents {
        let agent = NewAgent {
            id: format!("ag{i}"),
            name: format!("Agent {i}"),
            endpoint: plan.endpoint.replace("{i}", &i.to_string()),
            queues: vec!["sales".into()],
            campaigns: Vec::new(),
        };
        store.put_agent(agent, 0).unwrap();
    }
    let clock = Clock::new(plan.speed);
    let wall = clock;
    let desk = Desk::open(Arc::clone(&store), Arc::new(move || wall.wall_ms())).unwrap();
    let real_wrap_up = plan.wrap_up.div_f64(plan.speed);
    dispose_after_each_call(&desk, real_wrap_up);
    for i in 0..plan.agents {
        desk.act(&format!("ag{i}"), AgentEvent::Login).unwrap();
        desk.act(&format!("ag{i}"), AgentEvent::Ready).unwrap();
    }
    let mut config = sim_dialflow_config(
        &sim.base_url,
        Duration::from_secs(2),
        Duration::from_secs(2),
    );
    config.scenarios = dir.join("scenarios");
    config.prompts = format!("{REPO}/prompts").into();
    config.queues = BTreeMap::from([("sales".to_string(), QueueConfig { reach: plan.reach })]);
    if let Some(template) = plan.dial_template {
        config.dial.template = template;
    }
    config.max_concurrent = 1_000;
    // The simulator shares this process's CPU, and compressed time magnifies its
    // scheduling delays into "strain": a call centre measures dial modes, not the PBX's
    // capacity (tests/backoff.rs does).
    config.ari.learn_capacity = false;
    let daemon = campaigns_daemon(config, &store, plan.speed, false).with_desk(Arc::clone(&desk));
    let tokens: Vec<(String, String)> = (0..plan.agents)
        .map(|i| (format!("ag{i}"), agent_token(i)))
        .collect();
    let agent_tokens: Vec<(&str, Role, &str)> = tokens
        .iter()
        .map(|(id, token)| (id.as_str(), Role::Agent, token.as_str()))
        .collect();
    let daemon = InProcess::start_with_tokens(daemon, &agent_tokens).await;
    CallCentre {
        sim,
        _dir: dir,
        store,
        desk,
        daemon,
        clock,
    }
}

/// The simulated agents' hands: each call's disposition set `after` (real time) once
/// it ends.
fn dispose_after_each_call(desk: &Arc<Desk>, after: Duration) {
    let mut notices = desk.subscribe();
    let desk = Arc::clone(desk);
    tokio::spawn(async move {
        while let Ok(notice) = notices.recv().await {
            if let NoticeKind::State { state, .. } = &notice.kind
                && state == "wrap_up"
            {
                let desk = Arc::clone(&desk);
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = desk.act(&notice.agent, AgentEvent::Disposed);
                });
            }
        }
    });
}

/// Agent `i`'s API token.
pub fn agent_token(i: usize) -> String {
    format!("call-centre-agent-{i:04}-token-0123456789")
}

impl CallCentre {
    /// An HTTP client acting as agent `i` (their own token).
    pub fn agent(&self, i: usize) -> reqwest::Client {
        super::bearer_client(&agent_token(i))
    }

    /// A campaign of `numbers` (or of `count` customers answering "yes" when empty),
    /// dialed in `mode`, always open, fast enough that `ratio` calls per free agent
    /// start in one round.
    pub fn campaign(&self, name: &str, mode: DialMode, ratio: f64, numbers: Vec<String>) {
        let mut settings = CampaignSettings::for_scenario("call_centre");
        settings.windows = BTreeMap::from([("daily".into(), vec!["00:00-24:00".into()])]);
        settings.pacing.max_per_second = 1_000.0;
        settings.pacing.max_concurrent = 1_000;
        settings.mode = mode;
        settings.ratio = ratio;
        settings.safe_harbor.prompt = "goodby".into();
        let leads: Vec<NewLead> = numbers
            .into_iter()
            .map(|phone| NewLead {
                phone,
                ..NewLead::default()
            })
            .collect();
        self.store.create_campaign(name, settings, 0).unwrap();
        self.store.import_leads(name, &leads, 0).unwrap();
    }

    pub async fn start(&self, name: &str) {
        let url = self.daemon.url(&format!("/api/campaigns/{name}/start"));
        let response = self.daemon.client().post(url).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }

    /// The calls up now, as the daemon's live view shows them.
    pub async fn calls_up(&self) -> usize {
        let live: serde_json::Value = self
            .daemon
            .client()
            .get(self.daemon.url("/api/live"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        live["calls_total"].as_u64().unwrap() as usize
    }

    /// The most calls up at once over `real` time.
    pub async fn most_calls_over(&self, real: Duration) -> usize {
        let deadline = Instant::now() + real;
        let mut most = 0;
        while Instant::now() < deadline {
            most = most.max(self.calls_up().await);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        most
    }

    /// The calls up at once, sampled until the campaign has no lead left to dial.
    pub async fn most_calls_until_done(&self, name: &str) -> usize {
        // A guard against a hang, not a pace: alone the progressive test completes in
        // ~40 s, but beside the predictive test on a busy 2-core CI machine it once took
        // over 60 s.
        let deadline = Instant::now() + Duration::from_secs(150);
        let mut most = 0;
        loop {
            most = most.max(self.calls_up().await);
            if self.store.campaign(name).unwrap().state == CampaignState::Completed {
                return most;
            }
            assert!(Instant::now() < deadline, "`{name}` never completed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `count` attempts of the campaign have ended.
    pub async fn ended(&self, name: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self
            .attempts(name)
            .iter()
            .filter(|a| a.end.is_some())
            .count()
            < count
        {
            assert!(Instant::now() < deadline, "{count} calls of `{name}` end");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the simulator was asked to dial for channel `id` (waiting for the originate,
    /// which the dialer sends just after it answers the agent).
    pub async fn dialed(&self, id: &str) -> dialflow::sim::server::Dialed {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(dialed) = self.sim.dialed(id) {
                return dialed;
            }
            assert!(Instant::now() < deadline, "{id} is dialed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the agents' nailed legs are up.
    pub async fn legs_up(&self, legs: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.desk.legs_up() < legs {
            assert!(Instant::now() < deadline, "the agents' legs come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn attempts(&self, name: &str) -> Vec<AttemptView> {
        self.store.attempts(name, 0, usize::MAX).unwrap()
    }
}

/// `count` numbers of simulated customers who answer "yes".
pub fn yes_customers(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| dialflow::sim::behaviours::number_for(&format!("+98912{i:05}"), "yes").unwrap())
        .collect()
}
