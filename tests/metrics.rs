//! `GET /metrics` on a whole daemon in the test's process, dialing the simulator and
//! delivering to a panel on loopback: refused without a token; before and after real
//! calls the text passes `promtool check metrics` (Prometheus's own parser and linter,
//! Debian's `prometheus` package, which `.ci/run` installs); the counters of calls,
//! ARI routes, reactions, deliveries, parked reports, reloads, store commits and event
//! stream reconnects move by what happened; and no label carries a phone number, an
//! attempt id or a channel id. The agents' and campaigns' KPIs (agents by state,
//! occupancy today, drop rates, ASA, AHT) are the numbers of a store filled by hand,
//! served by the API with a desk over it.

mod common;
use common::dirs::TempDir;
use common::in_process::{InProcess, campaigns_daemon};
use common::panel::Panel;
use common::{scenario, sim_config, sim_dialflow_config};

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialflow::config::PanelConfig;
use dialflow::core::campaign::settings::CampaignSettings;
use dialflow::sim::behaviours::number_for;
use dialflow::sim::server::{self, SimHandle};
use dialflow::store::{CampaignState, NewLead, Store};

const SPEED: f64 = 25.0;
const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// Names of this file's own: the registry is the process's, shared with nothing else
/// in this test binary, but counts are compared before and after all the same.
const CAMPAIGN: &str = "metrics_c1";
const CUSTOMERS: &[&str] = &["yes", "no", "busy", "yes"];
/// One scrape at a time in this binary: each writes the KPIs of its own store into
/// the process's one registry before encoding it.
static SCRAPES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Setup {
    sim: SimHandle,
    store: Arc<Store>,
    _dir: TempDir,
    daemon: InProcess,
    http: reqwest::Client,
}

async fn setup(panel: &Panel) -> Setup {
    let sim = server::spawn(sim_config(&scenario("salehi"), SPEED))
        .await
        .expect("the simulator starts");
    let dir = TempDir::new("metrics");
    let text = std::fs::read_to_string(format!("{REPO}/scenarios/salehi.yaml")).unwrap();
    dir.write("scenarios/salehi.yaml", &text);
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    let mut config = sim_dialflow_config(
        &sim.base_url,
        Duration::from_secs(2),
        Duration::from_secs(2),
    );
    config.scenarios = dir.join("scenarios");
    config.prompts = format!("{REPO}/prompts").into();
    config.panel = Some(PanelConfig::new(panel.url()));
    let daemon = InProcess::start(campaigns_daemon(config, &store, SPEED, false)).await;
    Setup {
        sim,
        store,
        _dir: dir,
        http: daemon.client(),
        daemon,
    }
}

/// A campaign in draft dialing `CUSTOMERS`, always open.
fn campaign(store: &Store) {
    let mut settings = CampaignSettings::for_scenario("salehi");
    settings.windows = BTreeMap::from([("daily".into(), vec!["00:00-24:00".into()])]);
    settings.pacing.max_per_second = 20.0;
    settings.max_attempts = 1;
    let leads: Vec<NewLead> = CUSTOMERS
        .iter()
        .enumerate()
        .map(|(i, c)| NewLead {
            phone: number_for(&format!("+98912{i:05}"), c).unwrap(),
            ..NewLead::default()
        })
        .collect();
    store.create_campaign(CAMPAIGN, settings, 0).unwrap();
    store.import_leads(CAMPAIGN, &leads, 0).unwrap();
}

impl Setup {
    /// Scrapes `/metrics` with the admin token; checks its type and that promtool
    /// accepts it.
    async fn scrape(&self) -> Scrape {
        let _one = SCRAPES.lock().await;
        let response = self
            .http
            .get(self.daemon.url("/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let kind = response.headers()["content-type"].to_str().unwrap();
        assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
        let text = response.text().await.unwrap();
        promtool_check(&text);
        Scrape(text)
    }

    async fn post(&self, path: &str) -> u16 {
        let response = self.http.post(self.daemon.url(path)).send().await.unwrap();
        response.status().as_u16()
    }

    /// Waits until the campaign has completed and every report is delivered or parked.
    async fn settled(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let done = self.store.campaign(CAMPAIGN).unwrap().state == CampaignState::Completed;
            if done && self.store.outbox_counts().unwrap().pending == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "the campaign never settled");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Prometheus's `promtool check metrics`: parses the text exposition format and lints
/// it (names, `_total` on counters, help texts, histogram series), exit 0 when clean.
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs: `apt-get install prometheus` (.ci/run does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics refused the text ({}):\n{}{}\n--- text:\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// One scrape's text.
struct Scrape(String);

impl Scrape {
    /// The sum of the samples of `series` (`name{labels}` written out in full, or a
    /// prefix of it ending in `,` to add every series that starts so); 0 when none.
    fn sum(&self, series: &str) -> f64 {
        self.0
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .filter(|(name, _)| {
                *name == series || (series.ends_with(',') && name.starts_with(series))
            })
            .map(|(_, v)| v.parse::<f64>().unwrap())
            .sum()
    }

    /// The values of label `label` anywhere in the text.
    fn label_values(&self, label: &str) -> Vec<String> {
        let key = format!("{label}=\"");
        let mut values = Vec::new();
        for line in self.0.lines().filter(|l| !l.starts_with('#')) {
            for (i, _) in line.match_indices(&key) {
                let rest = &line[i + key.len()..];
                values.push(rest[..rest.find('"').unwrap()].to_string());
            }
        }
        values
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_a_token_parse_with_promtool_and_move_with_real_calls() {
    // The first report is refused for good (parked), the second not taken yet (retried).
    let panel = Panel::start(Box::new(|n, _| match n {
        0 => Some((400, Vec::new())),
        1 => Some((503, Vec::new())),
        _ => None,
    }))
    .await;
    let s = setup(&panel).await;

    // Without a token: refused like every route but the probes.
    let tls = dialflow::tls::client_config(None).unwrap();
    let plain = dialflow::tls::http_client_builder(&tls).build().unwrap();
    let refused = plain.get(s.daemon.url("/metrics")).send().await.unwrap();
    assert_eq!(refused.status(), 401);

    let before = s.scrape().await;
    let started = format!("dialflow_calls_started_total{{campaign=\"{CAMPAIGN}\"}}");
    let ended = format!("dialflow_calls_ended_total{{campaign=\"{CAMPAIGN}\",");
    let originates = "dialflow_ari_request_duration_seconds_count{route=\"POST /channels\"}";
    let reactions = "dialflow_event_to_command_seconds_count";
    let delivered = "dialflow_report_deliveries_total{outcome=\"delivered\"}";
    let parked = "dialflow_report_deliveries_total{outcome=\"parked\"}";
    let retried = "dialflow_report_deliveries_total{outcome=\"retried\"}";
    let reloads = "dialflow_reloads_total{trigger=\"api\",result=\"ok\"}";
    let commits = "dialflow_store_commit_duration_seconds_count{area=\"dialing\"}";
    let reconnects = "dialflow_event_stream_reconnects_total";
    assert_eq!(before.sum(&started), 0.0);
    assert_eq!(before.sum("dialflow_live_calls"), 0.0);
    assert_eq!(before.sum("dialflow_event_stream_connected"), 1.0);

    assert_eq!(s.post("/api/reload").await, 200);
    campaign(&s.store);
    assert_eq!(
        s.post(&format!("/api/campaigns/{CAMPAIGN}/start")).await,
        200
    );
    s.settled(Duration::from_secs(60)).await;
    let after = s.scrape().await;

    let calls = CUSTOMERS.len() as f64;
    assert_eq!(after.sum(&started), calls, "calls started");
    assert_eq!(after.sum(&ended), calls, "calls ended");
    assert_eq!(after.sum("dialflow_live_calls"), 0.0);
    assert!(after.sum(originates) - before.sum(originates) >= calls);
    assert!(after.sum(reactions) > before.sum(reactions));
    assert!(after.sum(commits) > before.sum(commits));
    assert_eq!(after.sum(reloads) - before.sum(reloads), 1.0);
    assert!(after.sum("dialflow_last_reload_timestamp_seconds{result=\"ok\"}") > 1.7e9);
    // Every report is delivered but the parked one; one answer was a 503.
    let reports = panel.received().len() as f64;
    assert_eq!(after.sum(parked) - before.sum(parked), 1.0);
    assert_eq!(after.sum(retried) - before.sum(retried), 1.0);
    assert_eq!(after.sum(delivered) - before.sum(delivered), reports - 2.0);
    assert_eq!(after.sum("dialflow_outbox_parked_reports"), 1.0);
    assert_eq!(after.sum("dialflow_outbox_pending_reports"), 0.0);
    assert_eq!(after.sum("dialflow_outbox_oldest_age_seconds"), 0.0);

    // Bounded labels: routes are templates, and no id or number of this run shows.
    for route in after.label_values("route") {
        let (method, path) = route.split_once(' ').unwrap();
        assert!(
            ["GET", "POST", "PUT", "DELETE"].contains(&method),
            "{route}"
        );
        let ids = path.split('/').filter(|p| p.contains(['-', '+', ';']));
        assert_eq!(ids.count(), 0, "an id in route `{route}`");
    }
    for attempt in s.store.attempts(CAMPAIGN, 0, 100).unwrap() {
        for id in [&attempt.start.id, &attempt.start.phone] {
            assert!(!after.0.contains(id.as_str()), "`{id}` in the metrics");
        }
    }

    // The event stream breaks and comes back: one reconnect counted.
    s.sim.faults().drop_websockets();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = s.scrape().await;
        if now.sum(reconnects) > after.sum(reconnects)
            && now.sum("dialflow_event_stream_connected") == 1.0
        {
            break;
        }
        assert!(Instant::now() < deadline, "no reconnect counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    s.daemon.stop().await;
    s.sim.shutdown().await;
}

const DAY_MS: u64 = 86_400_000;
const KPI_CAMPAIGN: &str = "metrics_kpis";
const READER: &str = "metrics-kpi-reader-token-0123456789";

fn wall_ms() -> u64 {
    jiff::Timestamp::now().as_millisecond() as u64
}

/// ann works a call and logs out: 10 s logged in, 4 s talking, 1 s wrapping up (50 %
/// occupancy); bob logs in and stays on `not_ready` (0 %); carl waits, available;
/// dan never logs in today. All since `t`.
fn agents_day(store: &Store, t: u64) {
    use dialflow::core::agents::AgentEvent as E;
    for id in ["ann", "bob", "carl", "dan"] {
        let agent = dialflow::store::NewAgent {
            id: id.into(),
            name: id.into(),
            endpoint: format!("PJSIP/{id}"),
            queues: vec!["sales".into()],
            campaigns: Vec::new(),
        };
        store.put_agent(agent, 0).unwrap();
    }
    let reserve = E::Reserve {
        attempt: "x1".into(),
    };
    let ann = [
        (0, E::Login),
        (1_000, E::Ready),
        (2_000, reserve),
        (3_000, E::Bridged),
        (7_000, E::CallEnded { wrap_up_ms: 30_000 }),
        (8_000, E::Disposed),
        (10_000, E::Logout),
    ];
    for (at, event) in ann {
        store.agent_event("ann", &event, t + at).unwrap();
    }
    store.agent_event("bob", &E::Login, t).unwrap();
    store.agent_event("carl", &E::Login, t).unwrap();
    store.agent_event("carl", &E::Ready, t + 1_000).unwrap();
}

/// Three answered calls today: bridged after 2 s and 4 s and talking 60 s and 30 s,
/// and one dropped after 3 s. ASA 3 s, AHT 31 s, one drop in three.
fn calls_day(store: &Store, t: u64) {
    use dialflow::core::campaign::settings::CampaignSettings;
    use dialflow::store::{Admission, AttemptEnd, Finished, LeadNext, campaigns::Transition};
    let mut settings = CampaignSettings::for_scenario("salehi");
    settings.windows = BTreeMap::from([("daily".into(), vec!["00:00-24:00".into()])]);
    store.create_campaign(KPI_CAMPAIGN, settings, 0).unwrap();
    store
        .transition(KPI_CAMPAIGN, Transition::Start, None, 0)
        .unwrap();
    let leads: Vec<NewLead> = (0..3)
        .map(|i| NewLead {
            phone: format!("+98912100000{i}"),
            ..NewLead::default()
        })
        .collect();
    store.import_leads(KPI_CAMPAIGN, &leads, 0).unwrap();
    let leased = store
        .lease(KPI_CAMPAIGN, t, 3, 600_000, "salehi", "h", |_| {
            Admission::Dial
        })
        .unwrap();
    let shapes = [
        (Some(2_000), 60_000, false),
        (Some(4_000), 30_000, false),
        (None, 3_000, true),
    ];
    let ended: Vec<Finished> = leased
        .iter()
        .zip(shapes)
        .map(|(l, (asa, talk, dropped))| Finished {
            attempt_id: l.attempt.id.clone(),
            end: AttemptEnd {
                result: "connected_to_operator".into(),
                status: "CONNECTED".into(),
                answered_ms: Some(t),
                agent_bridged_ms: asa.map(|a| t + a),
                ended_ms: t + talk,
                dropped,
                ..AttemptEnd::default()
            },
            reports: Vec::new(),
        })
        .collect();
    store
        .finish(&ended, t + 60_000, |_, _| LeadNext::Done)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kpis_are_the_stores_numbers_read_at_the_scrape() {
    use dialflow::desk::{Desk, WallClock};
    use dialflow::http::auth::{Auth, Role, TokenSet};
    use dialflow::http::{ApiState, router};
    use dialflow::scenario_set::SharedScenarios;

    // Everything happened today (UTC), a minute and more ago: wait out a day's first
    // minutes rather than straddle midnight.
    let since_midnight = wall_ms() % DAY_MS;
    if since_midnight < 180_000 {
        tokio::time::sleep(Duration::from_millis(180_000 - since_midnight)).await;
    }
    let t = wall_ms() - 120_000;
    let dir = TempDir::new("metrics-kpis");
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    agents_day(&store, t);
    calls_day(&store, t);
    let clock: WallClock = Arc::new(wall_ms);
    let desk = Desk::open(Arc::clone(&store), clock).unwrap();
    let tokens = TokenSet::given([("reader", Role::Read, READER)]).unwrap();
    let state = ApiState::new(
        Arc::clone(&store),
        SharedScenarios::new(BTreeMap::new()),
        Auth::new(tokens),
    )
    .with_desk(desk);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });

    let text = {
        let _one = SCRAPES.lock().await;
        let response = common::bearer_client(READER)
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    };
    promtool_check(&text);
    let scrape = Scrape(text);
    let agents = |state: &str| scrape.sum(&format!("dialflow_agents{{state=\"{state}\"}}"));
    assert_eq!(agents("offline"), 2.0, "ann logged out, dan never came");
    assert_eq!(agents("break:not_ready"), 1.0);
    assert_eq!(agents("available"), 1.0);
    assert_eq!(agents("on_call"), 0.0, "written at 0, not left out");
    let occupancy = |agent: &str| {
        let series = format!("dialflow_agent_occupancy_ratio{{agent=\"{agent}\"}}");
        scrape
            .0
            .lines()
            .any(|l| l.starts_with(&series))
            .then(|| scrape.sum(&series))
    };
    assert_eq!(occupancy("ann"), Some(0.5));
    assert_eq!(occupancy("bob"), Some(0.0));
    assert_eq!(occupancy("dan"), None, "not logged in today: no series");
    let campaign = |name: &str, more: &str| {
        scrape.sum(&format!("{name}{{campaign=\"{KPI_CAMPAIGN}\"{more}}}"))
    };
    let third = 1.0 / 3.0;
    assert!((campaign("dialflow_campaign_drop_ratio", ",window=\"today\"") - third).abs() < 1e-9);
    assert!((campaign("dialflow_campaign_drop_ratio", ",window=\"30d\"") - third).abs() < 1e-9);
    assert_eq!(campaign("dialflow_campaign_asa_seconds", ""), 3.0);
    assert_eq!(campaign("dialflow_campaign_aht_seconds", ""), 31.0);
}
