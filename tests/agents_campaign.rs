//! Campaigns with agents, end to end: a daemon dialing through the simulator, its
//! customers put through to simulated agents by `connect_agent`, the agents set their
//! dispositions after each call (a harness acting on the desk), progressive dialing
//! never ringing more than `ratio` × the agents free, and the safe harbor dropping the
//! customer no agent could take within 2 s, counted as a drop.

mod common;
use common::dirs::TempDir;
use common::in_process::{InProcess, campaigns_daemon};
use common::{sim_config, sim_dialflow_config};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialflow::config::{AgentReachMode, QueueConfig};
use dialflow::core::agents::AgentEvent;
use dialflow::core::campaign::settings::{CampaignSettings, DialMode};
use dialflow::desk::{Desk, NoticeKind};
use dialflow::load::{self, LoadOptions};
use dialflow::runtime::clock::Clock;
use dialflow::sim::behaviours::number_for;
use dialflow::sim::server::{self, SimHandle};
use dialflow::store::{AttemptView, CampaignState, NewAgent, NewLead, Store};

const SPEED: f64 = 25.0;
const REPO: &str = env!("CARGO_MANIFEST_DIR");

struct CallCentre {
    sim: SimHandle,
    _dir: TempDir,
    store: Arc<Store>,
    desk: Arc<Desk>,
    daemon: InProcess,
}

/// A simulator, a store with `agents` (answering at the simulated agents' phones and
/// staying on until the customer hangs up), the `agents` scenario, and a daemon over
/// them whose desk the test holds; every agent logged in and ready, and a harness that
/// sets each call's disposition a moment after it ends.
async fn call_centre(label: &str, agents: usize) -> CallCentre {
    call_centre_at(
        label,
        agents,
        "Local/ag{i}@sim-agents",
        AgentReachMode::Ring,
    )
    .await
}

/// `call_centre` with the agents' phones at `endpoint` (`{i}` is the agent's number),
/// reached as `reach` says.
async fn call_centre_at(
    label: &str,
    agents: usize,
    endpoint: &str,
    reach: AgentReachMode,
) -> CallCentre {
    let source = format!("{REPO}/tests/scenarios/agents.yaml");
    let options = LoadOptions {
        prompts_dir: Some(format!("{REPO}/prompts").into()),
        ..LoadOptions::default()
    };
    let scenario = load::compile_file(source.as_ref(), &options)
        .scenario
        .expect("agents.yaml compiles");
    let sim = server::spawn(sim_config(&scenario, SPEED)).await.unwrap();
    let dir = TempDir::new(label);
    dir.write(
        "scenarios/agents.yaml",
        &std::fs::read_to_string(&source).unwrap(),
    );
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    for i in 0..agents {
        let agent = NewAgent {
            id: format!("ag{i}"),
            name: format!("Agent {i}"),
            endpoint: endpoint.replace("{i}", &i.to_string()),
            queues: vec!["sales".into()],
            campaigns: Vec::new(),
        };
        store.put_agent(agent, 0).unwrap();
    }
    let clock = Clock::new(SPEED);
    let desk = Desk::open(Arc::clone(&store), Arc::new(move || clock.wall_ms())).unwrap();
    dispose_after_each_call(&desk);
    for i in 0..agents {
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
    config.queues = BTreeMap::from([("sales".to_string(), QueueConfig { reach })]);
    let daemon = campaigns_daemon(config, &store, SPEED, false).with_desk(Arc::clone(&desk));
    let daemon = InProcess::start(daemon).await;
    CallCentre {
        sim,
        _dir: dir,
        store,
        desk,
        daemon,
    }
}

/// The simulated agents' hands: each call's disposition set 100 ms after it ends.
fn dispose_after_each_call(desk: &Arc<Desk>) {
    let mut notices = desk.subscribe();
    let desk = Arc::clone(desk);
    tokio::spawn(async move {
        while let Ok(notice) = notices.recv().await {
            if let NoticeKind::State { state, .. } = &notice.kind
                && state == "wrap_up"
            {
                let desk = Arc::clone(&desk);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let _ = desk.act(&notice.agent, AgentEvent::Disposed);
                });
            }
        }
    });
}

impl CallCentre {
    /// A running campaign of `customers` answering "yes", dialed in `mode`.
    fn campaign(&self, name: &str, mode: DialMode, ratio: f64, customers: usize) {
        let mut settings = CampaignSettings::for_scenario("agents");
        settings.windows = BTreeMap::from([("daily".into(), vec!["00:00-24:00".into()])]);
        // Fast enough that `ratio` calls per free agent start in one round.
        settings.pacing.max_per_second = 1_000.0;
        settings.mode = mode;
        settings.ratio = ratio;
        settings.safe_harbor.prompt = "goodby".into();
        let leads: Vec<NewLead> = (0..customers)
            .map(|i| NewLead {
                phone: number_for(&format!("+98912{i:05}"), "yes").unwrap(),
                ..NewLead::default()
            })
            .collect();
        self.store.create_campaign(name, settings, 0).unwrap();
        self.store.import_leads(name, &leads, 0).unwrap();
    }

    async fn start(&self, name: &str) {
        let url = self.daemon.url(&format!("/api/campaigns/{name}/start"));
        let response = self.daemon.client().post(url).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }

    /// The calls up at once, sampled until the campaign has no lead left to dial.
    async fn most_calls_until_done(&self, name: &str) -> usize {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut most = 0;
        loop {
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
            most = most.max(live["calls_total"].as_u64().unwrap() as usize);
            if self.store.campaign(name).unwrap().state == CampaignState::Completed {
                return most;
            }
            assert!(Instant::now() < deadline, "`{name}` never completed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn attempts(&self, name: &str) -> Vec<AttemptView> {
        self.store.attempts(name, 0, 1_000).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progressive_dialing_puts_every_customer_through_and_never_overdials() {
    let centre = call_centre("agents-progressive", 3).await;
    centre.campaign("prog", DialMode::Progressive, 1.0, 9);
    centre.start("prog").await;
    let most = centre.most_calls_until_done("prog").await;
    assert!(
        most <= 3,
        "ratio 1 with 3 agents: at most 3 calls up, saw {most}"
    );
    let attempts = centre.attempts("prog");
    assert_eq!(attempts.len(), 9);
    for a in &attempts {
        let end = a.end.as_ref().expect("ended");
        assert_eq!(end.result, "connected_to_operator", "{a:?}");
        assert!(!end.dropped);
        let agent = end.agent.as_deref().expect("an agent took the call");
        assert!(agent.starts_with("ag"));
        let asa = end.agent_bridged_ms.unwrap() - end.answered_ms.unwrap();
        assert!(asa < 2_000, "ASA {asa} ms within the safe harbor");
    }
    for i in 0..3 {
        let log = centre.store.agent_log(&format!("ag{i}"), 0, 1_000).unwrap();
        let states: Vec<&str> = log.iter().map(|e| e.to.as_str()).collect();
        assert!(states.contains(&"on_call"), "ag{i} took calls: {states:?}");
        assert!(states.contains(&"wrap_up"));
        assert!(
            log.iter()
                .all(|e| e.to != "reserved" || e.from == "available"),
            "only an available agent is reserved"
        );
    }
    assert!(
        centre
            .desk
            .agents()
            .iter()
            .all(|a| a.agent.state.name() != "reserved"),
        "nobody left reserved"
    );
    centre.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_no_agent_takes_within_2_s_hears_the_safe_harbor_and_counts_as_a_drop() {
    // The one agent's phone rings and rings: the customer is not with an agent in 2 s.
    let centre = call_centre_at(
        "agents-harbor",
        1,
        "Local/op-noanswer@sim-operators",
        AgentReachMode::Ring,
    )
    .await;
    centre.campaign("harbor", DialMode::Progressive, 1.0, 2);
    centre.start("harbor").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while centre
        .attempts("harbor")
        .iter()
        .filter(|a| a.end.is_some())
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "both calls end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ends: Vec<_> = centre
        .attempts("harbor")
        .into_iter()
        .filter_map(|a| a.end)
        .collect();
    for drop in &ends {
        assert!(drop.dropped, "{drop:#?}");
        assert_eq!(
            (drop.result.as_str(), drop.status.as_str()),
            ("dropped", "MISSED")
        );
        assert!(drop.agent.is_none());
        // Waited 2 s, heard the prompt, hung up: a few seconds after answering.
        let lasted = drop.ended_ms - drop.answered_ms.unwrap();
        assert!(
            (2_000..6_000).contains(&lasted),
            "answered to hung up: {lasted} ms"
        );
    }
    let last = ends.iter().map(|e| e.ended_ms).max().unwrap();
    let window = centre.store.drop_window("harbor", last).unwrap();
    assert_eq!((window.today.dropped, window.today.answered), (2, 2));
    assert_eq!(window.last_30_days.dropped, 2);
    let counts = centre.store.counts("harbor").unwrap();
    assert_eq!(counts.get("dropped"), Some(&2));
    // The agent was given back each time; the leads go back per the retry rules.
    assert_eq!(
        centre.desk.agent("ag0").unwrap().agent.state.name(),
        "available"
    );
    let leads = centre.store.leads("harbor", 0, 10).unwrap();
    assert!(
        leads
            .iter()
            .all(|l| l.attempts == 1 && l.state.key() == "pending"),
        "{leads:#?}"
    );
    centre.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nailed_agents_take_customers_in_their_own_bridge_in_milliseconds() {
    let centre = call_centre_at(
        "agents-nailed",
        2,
        "Local/ag{i}@sim-agents",
        AgentReachMode::Nailed,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while centre.desk.legs_up() < 2 {
        assert!(Instant::now() < deadline, "the agents' legs come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    centre.campaign("nailed", DialMode::Progressive, 1.0, 6);
    centre.start("nailed").await;
    let most = centre.most_calls_until_done("nailed").await;
    assert!(
        most <= 2,
        "ratio 1 with 2 agents: at most 2 customers up, saw {most}"
    );
    let mut asa: Vec<u64> = Vec::new();
    for a in centre.attempts("nailed") {
        let end = a.end.expect("ended");
        assert_eq!(end.result, "connected_to_operator", "{end:?}");
        asa.push(end.agent_bridged_ms.unwrap() - end.answered_ms.unwrap());
    }
    asa.sort_unstable();
    // A move between bridges: faster than the 800 ms a rung agent's phone takes to be
    // answered, even with the test's clock 25 times faster than real.
    assert!(
        asa[asa.len() / 2] < 800,
        "ASA (campaign time, sorted): {asa:?}"
    );
    // The legs stay up between calls: each agent was called once, not per customer.
    assert_eq!(centre.sim.originates_received(), 6 + 2);
    centre.daemon.stop().await;
}
