//! `dialflow demo`: a campaign of simulated customers in a fresh store, dialed by the
//! real dialer and runtime over real HTTP and WebSocket against the built-in simulated
//! PBX (retries and all, in compressed time), with a results table at the end.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use tokio::sync::mpsc;

use super::EnvironmentArgs;
use super::demo_agents::{self, AgentMode};
use super::demo_panel::DemoPanel;
use super::progress::Progress;
use crate::config::{Config, PanelConfig};
use crate::core::call::FAILED_PREFIX;
use crate::core::campaign::retry::RetryRule;
use crate::core::campaign::settings::CampaignSettings;
use crate::core::scenario::{Scenario, Verb};
use crate::daemon::{self, Daemon, Notice, Work};
use crate::dialer::DialerEvent;
use crate::http::auth;
use crate::runtime::clock::Clock;
use crate::scenario_set::SharedScenarios;
use crate::sim::behaviours::{behaviour_of_number, number_for};
use crate::sim::server::{self, SimConfig};
use crate::store::campaigns::Transition;
use crate::store::{LeadState, NewLead, Store};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The scenario to run (default: scenarios/salehi.yaml, or with --agents
    /// scenarios/call_centre.yaml).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Simulated agents who take the answered calls through the agent API (a call
    /// centre); the scenario must put customers through with `connect_agent`.
    #[arg(long, default_value_t = 0)]
    pub agents: usize,
    /// How the call centre dials, with --agents.
    #[arg(long, value_enum, default_value = "predictive")]
    pub mode: AgentMode,
    /// How many leads the demo campaign has.
    #[arg(long, default_value_t = 300)]
    pub leads: usize,
    /// Most calls at once.
    #[arg(long, default_value_t = 100)]
    pub concurrency: usize,
    /// How much faster than real time calls run (1 = real time).
    #[arg(long, default_value_t = 20.0)]
    pub speed: f64,
    /// Seed of the behaviour mix, for a different (but repeatable) campaign.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// The store file, which must not exist yet (default: a fresh one in the system's
    /// temporary folder). It is kept, so `dialflow campaign show demo --store FILE` can
    /// look at it afterwards.
    #[arg(long, value_name = "FILE")]
    pub store: Option<PathBuf>,
    /// Deliver the reports to this panel URL instead of the demo's own receiver (the
    /// summary then counts what left the outbox, not what arrived).
    #[arg(long, value_name = "URL")]
    pub panel: Option<String>,
    /// Keep the daemon up with its dashboard and API at this address (default
    /// 127.0.0.1:8099) until Ctrl-C, printing the URL and an admin token.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8099")]
    pub serve: Option<String>,
    #[command(flatten)]
    pub env: EnvironmentArgs,
}

/// Customer behaviours and their weights in a realistic outbound day (for flows without
/// answering-machine detection).
const MARKETING_MIX: &[(&str, u32)] = &[
    ("yes", 18),
    ("no", 20),
    ("number", 7),
    ("unknown", 8),
    ("silent", 6),
    ("hangup-early", 5),
    ("yes-hangup", 2),
    ("busy", 8),
    ("busy-tone", 1),
    ("noanswer", 6),
    ("poweroff", 6),
    ("noresponse", 3),
    ("unavailable", 3),
    ("rejected", 3),
    ("congestion", 3),
    ("congestion-tone", 1),
];

/// For flows with answering-machine detection and consent.
const REMINDER_MIX: &[(&str, u32)] = &[
    ("dtmf1", 30),
    ("dtmf2", 10),
    ("human", 15),
    ("machine", 20),
    ("busy", 8),
    ("noanswer", 7),
    ("poweroff", 5),
    ("hangup-early", 5),
];

/// A small, repeatable pseudo-random sequence (splitmix64): the demo needs no crypto.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, table: &'a [(&'a str, u32)]) -> &'a str {
        let total: u64 = table.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut roll = self.next() % total;
        for (name, weight) in table {
            if roll < u64::from(*weight) {
                return name;
            }
            roll -= u64::from(*weight);
        }
        table[0].0
    }
}

impl DemoArgs {
    /// The scenario file: the one given, else the call centre's with agents.
    pub fn scenario_path(&self) -> PathBuf {
        self.scenario.clone().unwrap_or_else(|| {
            let name = if self.agents > 0 {
                "call_centre"
            } else {
                "salehi"
            };
            PathBuf::from(format!("scenarios/{name}.yaml"))
        })
    }
}

pub fn run(args: &DemoArgs) -> ExitCode {
    let path = args.scenario_path();
    let Some(scenario) = super::compile_scenario(&path, &args.env.load_options()) else {
        return ExitCode::FAILURE;
    };
    super::block_on(async move {
        match demo(args, scenario).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    })
}

/// The demo campaign: every hour of the day, short retries so they show within the
/// demo (busy after 2 minutes, unanswered and powered off after 5, once each), and a
/// rate that keeps the simulated PBX comfortable.
fn demo_settings(scenario: &str, concurrency: usize) -> CampaignSettings {
    let mut settings = CampaignSettings::for_scenario(scenario);
    settings.windows = BTreeMap::from([("daily".into(), vec!["00:00-24:00".into()])]);
    settings.pacing.max_concurrent = u32::try_from(concurrency.max(1)).unwrap_or(u32::MAX);
    settings.pacing.max_per_second = 10.0;
    let retry = |after: &str| RetryRule::After {
        after: after.into(),
        max: 1,
    };
    settings.retries = BTreeMap::from([
        ("busy".into(), retry("2m")),
        ("missed".into(), retry("5m")),
        ("user_didnt_answer".into(), retry("5m")),
        ("power_off".into(), retry("5m")),
        (crate::core::scenario::DROPPED_RESULT.into(), retry("2m")),
        (format!("{FAILED_PREFIX}*"), retry("1m")),
    ]);
    settings
}

async fn demo(args: &DemoArgs, scenario: Arc<Scenario>) -> Result<(), String> {
    let sim = start_sim(args, &scenario).await?;
    let (store_path, store) = fresh_store(args)?;
    let queues: Vec<String> = scenario.queues().iter().map(|q| q.to_string()).collect();
    if args.agents > 0 && queues.is_empty() {
        return Err(format!(
            "--agents needs a scenario that puts customers through with `connect_agent` (like scenarios/call_centre.yaml); `{}` has none",
            scenario.name
        ));
    }
    let key = args
        .scenario_path()
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| scenario.name.clone());
    let clock = Clock::new(args.speed);
    let started_ms = clock.wall_ms();
    demo_agents::add_agents(&store, args.agents, &queues)?;
    let leads = seed_campaign(&store, &key, &scenario, args, started_ms)?;
    let mut config = demo_config(&sim.base_url, &scenario, args.concurrency)?;
    if args.agents > 0 {
        config.dial.template = format!("Local/{{number}}@{}", demo_agents::CROWD);
        config.queues = queues
            .iter()
            .map(|q| (q.clone(), crate::config::QueueConfig::default()))
            .collect();
    }
    let own_panel = match &args.panel {
        Some(_) => None,
        None => Some(
            DemoPanel::start()
                .await
                .map_err(|e| format!("cannot start the demo's panel: {e}"))?,
        ),
    };
    let panel_url = args
        .panel
        .clone()
        .or_else(|| own_panel.as_ref().map(|p| p.url.clone()))
        .unwrap_or_default();
    let mut panel = PanelConfig::new(panel_url.clone());
    panel.secret = Some(DEMO_SECRET.into());
    config.panel = Some(panel);
    eprintln!(
        "dialflow demo: scenario `{}` ({}), {leads} leads, {} at a time, {}× real time, simulated PBX at {}",
        scenario.name,
        scenario.hash.short(),
        args.concurrency,
        args.speed,
        sim.base_url
    );
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let work = Work::Campaigns {
        store: Arc::clone(&store),
        scenarios: SharedScenarios::new(BTreeMap::from([(key, Arc::clone(&scenario))])),
        exit_when_idle: args.serve.is_none(),
    };
    let mut daemon = Daemon::new(config, work)
        .map_err(|e| e.to_string())?
        .with_clock(clock)
        .with_notices(events_tx);
    if let Some(listen) = &args.serve {
        daemon = serve_dashboard(daemon, listen, args.agents).await?;
    } else if args.agents > 0 {
        daemon = serve_agents(daemon, args.agents).await?;
    }
    let agents = match daemon.api_addr() {
        Some(api) if args.agents > 0 => demo_agents::start(api, args.agents, args.speed),
        _ => Vec::new(),
    };
    let started = Instant::now();
    let served = args.serve.is_some();
    let shutdown = async move {
        if served {
            let _ = tokio::signal::ctrl_c().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let running = tokio::spawn(daemon::run(daemon, shutdown));
    let tally = Tally::watch(events_rx, leads as u64).await;
    let summary = running
        .await
        .map_err(|e| format!("the daemon failed: {e}"))?
        .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    for agent in agents {
        agent.abort();
    }
    sim.shutdown().await;

    print_table(
        &scenario,
        &tally.results,
        &tally.statuses,
        tally.attempts,
        elapsed,
        args.speed,
    );
    if args.agents > 0 {
        demo_agents::print_kpis(&store, started_ms, clock.wall_ms())?;
    } else {
        tally.print_by_behaviour();
    }
    let left = print_campaign(&store, &store_path, tally.retried)?;
    print_reports(&store, &panel_url, own_panel.as_ref())?;
    // Served, the demo ends when its user says so, finished or not.
    let unfinished = summary.attempts as usize != tally.attempts || left > 0;
    if unfinished && args.serve.is_none() {
        return Err(format!(
            "the campaign did not finish: {left} lead(s) pending or in flight"
        ));
    }
    Ok(())
}

/// Binds the dashboard's address and gives the daemon an admin token of the demo's
/// own, printed with the URL (the demo's store is a throwaway, and so is its token),
/// and the agents' tokens.
async fn serve_dashboard(daemon: Daemon, listen: &str, agents: usize) -> Result<Daemon, String> {
    let listener = crate::http::bind(listen)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("--serve needs an address")?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let token = auth::new_token().map_err(|e| e.to_string())?;
    let mut tokens = demo_agents::tokens(agents);
    tokens.push(("demo".into(), auth::Role::Admin, token.clone()));
    eprintln!("dashboard: http://{addr}/  (log in with the token {token}); Ctrl-C stops the demo");
    with_tokens(daemon.with_api(listener), &tokens)
}

/// An API on a loopback port of the system's choosing, for the agents alone.
async fn serve_agents(daemon: Daemon, agents: usize) -> Result<Daemon, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot open the agents' API: {e}"))?;
    with_tokens(daemon.with_api(listener), &demo_agents::tokens(agents))
}

fn with_tokens(daemon: Daemon, tokens: &[(String, auth::Role, String)]) -> Result<Daemon, String> {
    let given = tokens
        .iter()
        .map(|(name, role, token)| (name.as_str(), *role, token.as_str()));
    let set = auth::TokenSet::given(given).map_err(|e| e.to_string())?;
    Ok(daemon.with_tokens(set))
}

/// The secret the demo signs its reports with (`Dialflow-Signature`).
const DEMO_SECRET: &str = "dialflow-demo";

/// What reached the panel: every report delivered once, none left in the outbox or
/// parked. A report missing or delivered twice fails the demo.
fn print_reports(store: &Store, url: &str, own: Option<&DemoPanel>) -> Result<(), String> {
    let counts = store.outbox_counts().map_err(|e| e.to_string())?;
    println!(
        "\nreports to the panel at {url}: {} waiting, {} parked",
        counts.pending, counts.parked
    );
    let Some(panel) = own else {
        return Ok(());
    };
    let received = panel.received();
    let (all, again) = received.totals();
    for (status, n) in &received.by_status {
        println!("  {status:<24} {n:>7}");
    }
    println!(
        "  {} report(s) delivered, one per status per call; {again} delivered twice",
        received.by_key.len()
    );
    if counts.pending + counts.parked > 0 || again > 0 || all == 0 {
        return Err(format!(
            "reports went astray: {} waiting, {} parked, {again} delivered twice",
            counts.pending, counts.parked
        ));
    }
    Ok(())
}

/// The simulated PBX, playing the scenario's prompts for their real lengths (2 s where
/// a length is unknown).
async fn start_sim(args: &DemoArgs, scenario: &Scenario) -> Result<server::SimHandle, String> {
    let prompts: HashMap<String, u64> = scenario
        .prompts
        .iter()
        .map(|(name, ms)| (name.clone(), ms.unwrap_or(2_000)))
        .collect();
    server::spawn(SimConfig {
        app: "dialflow".into(),
        user: "dialflow".into(),
        password: "demo".into(),
        speed: args.speed,
        prompts,
        faults: Default::default(),
        session_limit: server::DEFAULT_SESSION_LIMIT,
        capacity: None,
    })
    .await
    .map_err(|e| format!("cannot start the simulated PBX: {e}"))
}

/// A fresh store: the one named (which must not exist: never someone's data), or one
/// in the system's temporary folder.
fn fresh_store(args: &DemoArgs) -> Result<(PathBuf, Arc<Store>), String> {
    let path = match &args.store {
        Some(path) if path.exists() => {
            return Err(format!(
                "{} exists already: the demo writes a fresh store; name a new file",
                path.display()
            ));
        }
        Some(path) => path.clone(),
        None => {
            let path = std::env::temp_dir()
                .join(format!("dialflow-demo-{}", std::process::id()))
                .join("demo.redb");
            // Ours alone (the process id), left from an earlier run of the same pid.
            let _ = std::fs::remove_file(&path);
            path
        }
    };
    let store = Store::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((path, Arc::new(store)))
}

/// The running campaign `demo` of simulated customers, mixed by the seed; how many
/// leads it has.
fn seed_campaign(
    store: &Store,
    key: &str,
    scenario: &Scenario,
    args: &DemoArgs,
    now: u64,
) -> Result<usize, String> {
    let mut settings = demo_settings(key, args.concurrency);
    if args.agents > 0 {
        settings = demo_agents::agent_settings(settings, args.mode.dial_mode());
    }
    store
        .create_campaign("demo", settings, now)
        .map_err(|e| e.to_string())?;
    let uses_amd = scenario
        .nodes
        .iter()
        .any(|n| matches!(n.verb, Verb::Amd { .. }));
    let table = if uses_amd {
        REMINDER_MIX
    } else {
        MARKETING_MIX
    };
    let mut mix = Mix(args.seed);
    let leads: Vec<NewLead> = if args.agents > 0 {
        demo_agents::crowd_leads(args.leads)
    } else {
        (0..args.leads)
            .filter_map(|i| {
                let behaviour = mix.pick(table);
                Some(NewLead {
                    phone: number_for(&format!("+98912{i:05}"), behaviour)?,
                    name: format!("Demo lead {i}"),
                    time_zone: Some("Asia/Tehran".into()),
                    custom: BTreeMap::from([("behaviour".to_string(), behaviour.to_string())]),
                })
            })
            .collect()
    };
    store
        .import_leads("demo", &leads, now)
        .map_err(|e| e.to_string())?;
    store
        .transition("demo", Transition::Start, None, now)
        .map_err(|e| e.to_string())?;
    Ok(leads.len())
}

/// The simulator's ARI, its customers, and every operator the scenario names
/// answering at the simulated operators.
fn demo_config(sim_url: &str, scenario: &Scenario, concurrency: usize) -> Result<Config, String> {
    let mut config = Config::parse(
        "demo",
        &format!(
            "ari: {{url: \"{sim_url}\", user: dialflow, password: demo, app: dialflow}}\n\
             dial: {{template: \"Local/{{number}}@sim-customers\"}}\n\
             max_concurrent: {concurrency}\n\
             classify: {{timeout: 5s}}\n",
        ),
        |_| None,
    )
    .map_err(|e| e.to_string())?;
    config.operators = scenario
        .operators()
        .into_iter()
        .map(|o| (o.to_string(), "Local/op-answer@sim-operators".to_string()))
        .collect();
    Ok(config)
}

/// What the demo counts while the campaign runs, drawn as a progress bar of leads
/// settled (a retried lead is not settled yet).
#[derive(Default)]
struct Tally {
    attempts: usize,
    retried: usize,
    results: BTreeMap<String, usize>,
    statuses: BTreeMap<String, usize>,
    by_behaviour: BTreeMap<(String, String), usize>,
}

impl Tally {
    /// Counts every attempt the daemon reports until it stops.
    async fn watch(mut notices: mpsc::UnboundedReceiver<Notice>, leads: u64) -> Tally {
        let mut tally = Tally::default();
        let mut bar = Progress::new("leads settled", leads);
        let mut settled = 0u64;
        while let Some(notice) = notices.recv().await {
            let Notice::Dialer(DialerEvent::Finished { attempt, end, lead }) = notice else {
                continue;
            };
            tally.attempts += 1;
            *tally.results.entry(end.result.clone()).or_default() += 1;
            *tally.statuses.entry(end.status.clone()).or_default() += 1;
            let behaviour = behaviour_of_number(&attempt.phone).unwrap_or("?");
            *tally
                .by_behaviour
                .entry((behaviour.to_string(), end.result))
                .or_default() += 1;
            if matches!(lead, Some(LeadState::Pending { .. })) {
                tally.retried += 1;
            } else {
                settled += 1;
            }
            bar.set(settled);
        }
        bar.done();
        tally
    }

    fn print_by_behaviour(&self) {
        println!("\n{:<18} {:<26} {:>7}", "customer", "result", "calls");
        println!("{}", "-".repeat(53));
        for ((behaviour, result), count) in &self.by_behaviour {
            println!("{behaviour:<18} {result:<26} {count:>7}");
        }
    }
}

/// The campaign's counters as the store has them; how many leads are left.
fn print_campaign(store: &Store, path: &std::path::Path, retried: usize) -> Result<u64, String> {
    let counts = store.counts("demo").map_err(|e| e.to_string())?;
    let get = |k: &str| counts.get(k).copied().unwrap_or(0);
    let campaign = store.campaign("demo").map_err(|e| e.to_string())?;
    println!(
        "\ncampaign `demo` {}: {} leads, {} attempts ({retried} retries), {} done, {} on DNC, {} pending",
        campaign.state,
        get("leads"),
        get("attempts"),
        get("done"),
        get("dnc"),
        get("pending") + get("leased")
    );
    let path = path.display();
    println!(
        "data: {path} (inspect with `dialflow campaign show demo --store {path}` or `dialflow attempts export demo --store {path}`)"
    );
    Ok(get("pending") + get("leased"))
}

fn print_table(
    scenario: &Scenario,
    results: &BTreeMap<String, usize>,
    statuses: &BTreeMap<String, usize>,
    calls: usize,
    elapsed: Duration,
    speed: f64,
) {
    println!("\n{:<26} {:<16} {:>7}", "result", "panel status", "calls");
    println!("{}", "-".repeat(51));
    for (result, count) in results {
        let status = scenario.results.status_of(result).unwrap_or("FAILED");
        println!("{result:<26} {status:<16} {count:>7}");
    }
    println!("\n{:<26} {:>7}", "panel status", "calls");
    println!("{}", "-".repeat(34));
    for (status, count) in statuses {
        println!("{status:<26} {count:>7}");
    }
    let secs = elapsed.as_secs_f64().max(0.001);
    println!(
        "\n{calls} calls in {secs:.1} s: {:.1} calls/s ({:.1} calls/s of call time at {speed}× speed)",
        calls as f64 / secs,
        calls as f64 / secs / speed
    );
}
