//! Report delivery against a real HTTP receiver on loopback (axum): real calls on the
//! simulator, through a whole daemon in the test's process, reach the panel as
//! payloads that match docs/report.schema.json, signed (checked here with an HMAC
//! computed by hand from SHA-256), one key per attempt and status; a panel that is
//! down for a while then back loses nothing; a 400 parks; a 429's `Retry-After` is
//! kept; a bridged call's CONNECTED arrives while the call is on. Alerts (Asterisk
//! unreachable, a parked report, an old backlog) reach their own receiver the same way.

mod common;
use common::cli::ok_with_token as dialflow;
use common::dirs::TempDir;
use common::in_process::{InProcess, campaigns_daemon};
use common::panel::{Panel, Received, SECRET, verify};
use common::{scenario, sim_config, sim_dialflow_config};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialflow::config::{AlertsConfig, PanelConfig};
use dialflow::core::campaign::settings::CampaignSettings;
use dialflow::load::LoadOptions;
use dialflow::sim::behaviours::number_for;
use dialflow::sim::server::{self, SimHandle};
use dialflow::store::campaigns::Transition;
use dialflow::store::{AttemptView, CampaignState, NewLead, Store};

const SPEED: f64 = 25.0;
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A simulator, a store, and a daemon over them delivering to `panel`.
struct Setup {
    _sim: SimHandle,
    store: Arc<Store>,
    _dir: TempDir,
    daemon: InProcess,
}

async fn setup(label: &str, panel: &Panel, concurrency: usize, customers: &[&str]) -> Setup {
    setup_with(
        "scenarios/salehi.yaml",
        SPEED,
        label,
        panel,
        concurrency,
        customers,
        None,
    )
    .await
}

/// `setup` with the scenario at `source` (under the repository), at `speed`, and
/// `alerts` configured.
async fn setup_with(
    source: &str,
    speed: f64,
    label: &str,
    panel: &Panel,
    concurrency: usize,
    customers: &[&str],
    alerts: Option<AlertsConfig>,
) -> Setup {
    let path = std::path::Path::new(REPO).join(source);
    let compiled = dialflow::load::compile_file(&path, &LoadOptions::default());
    let name = compiled
        .scenario
        .as_ref()
        .expect("the scenario compiles")
        .name
        .clone();
    let sim = server::spawn(sim_config(compiled.scenario.as_ref().unwrap(), speed))
        .await
        .expect("the simulator starts");
    let dir = TempDir::new(label);
    let text = std::fs::read_to_string(&path).unwrap();
    dir.write(&format!("scenarios/{name}.yaml"), &text);
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    let mut config = sim_dialflow_config(
        &sim.base_url,
        Duration::from_secs(2),
        Duration::from_secs(2),
    );
    config.scenarios = dir.join("scenarios");
    config.prompts = format!("{REPO}/prompts").into();
    let mut panel_config = PanelConfig::new(panel.url());
    panel_config.secret = Some(SECRET.into());
    panel_config.concurrency = concurrency;
    panel_config.include_custom_fields = true;
    config.panel = Some(panel_config);
    config.alerts = alerts;
    campaign(&store, "c1", &name, customers);
    let daemon = campaigns_daemon(config, &store, speed, false);
    Setup {
        _sim: sim,
        store,
        _dir: dir,
        daemon: InProcess::start(daemon).await,
    }
}

/// A running campaign dialing the given simulated customers, each lead with a custom
/// field.
fn campaign(store: &Store, name: &str, scenario: &str, customers: &[&str]) {
    let mut settings = CampaignSettings::for_scenario(scenario);
    settings.windows = BTreeMap::from([("daily".into(), vec!["00:00-24:00".into()])]);
    settings.pacing.max_per_second = 20.0;
    settings.max_attempts = 1;
    let leads: Vec<NewLead> = customers
        .iter()
        .enumerate()
        .map(|(i, c)| NewLead {
            phone: number_for(&format!("+98912{i:05}"), c).unwrap(),
            custom: BTreeMap::from([("crm_id".into(), format!("crm-{i}"))]),
            ..NewLead::default()
        })
        .collect();
    store.create_campaign(name, settings, 0).unwrap();
    store.import_leads(name, &leads, 0).unwrap();
    store.transition(name, Transition::Start, None, 0).unwrap();
}

impl Setup {
    /// Waits until the campaign has completed and its outbox is empty; its attempts.
    async fn settled(&self, within: Duration) -> Vec<AttemptView> {
        let deadline = Instant::now() + within;
        loop {
            let done = self.store.campaign("c1").unwrap().state == CampaignState::Completed;
            if done && self.store.outbox_counts().unwrap().pending == 0 {
                return self.store.attempts("c1", 0, 1000).unwrap();
            }
            assert!(Instant::now() < deadline, "the reports never all went out");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Every attempt's final report is among those taken, and every report the panel
/// was ever sent was taken in the end, with the same body each time it came.
fn nothing_lost(panel: &Panel, attempts: &[AttemptView]) -> BTreeMap<String, Received> {
    let taken = panel.taken();
    for a in attempts {
        let key = format!("{}:{}", a.start.id, a.end.as_ref().unwrap().status);
        assert!(taken.contains_key(&key), "{key} never reached the panel");
    }
    for r in panel.received() {
        let kept = taken
            .get(&r.key)
            .unwrap_or_else(|| panic!("{} was lost", r.key));
        assert_eq!(kept.json(), r.json(), "a redelivery of {} changed", r.key);
    }
    taken
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(format!("{REPO}/docs/report.schema.json")).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).expect("the schema compiles")
}

const CUSTOMERS: &[&str] = &[
    "yes",
    "no",
    "unknown",
    "silent",
    "busy",
    "hangup-early",
    "machine",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_calls_reach_the_panel_signed_and_as_the_schema_says() {
    let panel = Panel::start(Box::new(|_, _| None)).await;
    let s = setup("delivery-payloads", &panel, 4, CUSTOMERS).await;
    let attempts = s.settled(Duration::from_secs(60)).await;
    assert_eq!(attempts.len(), CUSTOMERS.len());
    let taken = nothing_lost(&panel, &attempts);
    assert_eq!(
        panel.received().len(),
        taken.len(),
        "a healthy panel gets each report once"
    );
    let schema = schema();
    let salehi = scenario("salehi");
    for r in panel.received() {
        let body = r.json();
        let errors: Vec<String> = schema.iter_errors(&body).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{body}: {errors:?}");
        verify(r.signature.as_deref().expect("signed"), &r.body, SECRET);
        let attempt = attempts
            .iter()
            .find(|a| a.start.id == body["attempt_id"])
            .expect("the report names an attempt of the campaign");
        let end = attempt.end.as_ref().unwrap();
        let status = body["status"].as_str().unwrap();
        assert_eq!(r.key, format!("{}:{status}", attempt.start.id));
        assert_eq!(body["campaign"], "c1");
        assert_eq!(body["phone"], attempt.start.phone.as_str());
        assert_eq!(body["lead_id"], attempt.start.lead_id);
        assert_eq!(body["scenario"]["name"], "salehi");
        assert_eq!(body["scenario"]["hash"], salehi.hash.0.as_str());
        let crm = body["custom_fields"]["crm_id"].as_str().unwrap();
        assert!(crm.starts_with("crm-"), "{body}");
        if status == end.status {
            assert_eq!(body["result"], end.result.as_str());
            assert_eq!(
                body["answered_at"].is_null(),
                end.answered_ms.is_none(),
                "{body}"
            );
        }
        if !salehi.results.carries_transcript(status) {
            assert!(
                body["user_message"].is_null(),
                "{status} carries no transcript: {body}"
            );
        }
        if let Some(reason) = end.result.strip_prefix("failed:")
            && status == end.status
        {
            assert_eq!(body["reason"], reason);
        }
    }
    let said: Vec<String> = panel
        .received()
        .iter()
        .filter_map(|r| r.json()["user_message"].as_str().map(str::to_string))
        .collect();
    assert!(
        said.iter().any(|m| m.contains("interested")),
        "transcripts reached the panel: {said:?}"
    );
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panel_down_for_a_while_then_back_gets_every_report_duplicates_keep_their_key() {
    // Down (503, no Retry-After) for the first 4 s; then, for a while, it takes a
    // report but answers 500 every other time, so dialflow sends it again.
    let panel = Panel::start(Box::new(|n, started| {
        let up = started.elapsed();
        if up < Duration::from_secs(4) {
            Some((503, Vec::new()))
        } else if up < Duration::from_secs(8) && n % 2 == 0 {
            Some((500, Vec::new()))
        } else {
            None
        }
    }))
    .await;
    let s = setup("delivery-outage", &panel, 8, CUSTOMERS).await;
    let attempts = s.settled(Duration::from_secs(120)).await;
    let taken = nothing_lost(&panel, &attempts);
    let refused = panel
        .received()
        .iter()
        .filter(|r| r.answered >= 500)
        .count();
    assert!(refused > 0, "the outage was seen");
    assert!(
        panel.received().len() > taken.len(),
        "some reports came more than once"
    );
    assert_eq!(s.store.outbox_counts().unwrap().parked, 0);
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_parks_the_report_and_a_429_retry_after_is_honoured() {
    // One at a time: the first report is refused for good, the second told to wait.
    let panel = Panel::start(Box::new(|n, _| match n {
        0 => Some((400, Vec::new())),
        1 => Some((429, vec![("retry-after", "2".to_string())])),
        _ => None,
    }))
    .await;
    let s = setup("delivery-errors", &panel, 1, &["yes", "no", "busy"]).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.store.campaign("c1").unwrap().state != CampaignState::Completed
        || s.store.outbox_counts().unwrap().pending > 0
    {
        assert!(Instant::now() < deadline, "the reports never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = panel.received();
    let parked = s.store.parked_reports(10).unwrap();
    assert_eq!(parked.len(), 1, "the 400 parked one report");
    assert_eq!(parked[0].status, 400);
    assert_eq!(parked[0].answer, "answer 400");
    let parked_key = format!("{}:{}", parked[0].entry.attempt, parked[0].entry.status);
    assert_eq!(received[0].key, parked_key);
    assert_eq!(
        received.iter().filter(|r| r.key == parked_key).count(),
        1,
        "a parked report is not sent again"
    );
    let waited = &received[1];
    let again = received[2..]
        .iter()
        .find(|r| r.key == waited.key)
        .expect("the report told to wait came again");
    let gap = again.at - waited.at;
    assert!(
        gap >= Duration::from_millis(1950),
        "came again after {gap:?}, not 2 s"
    );
    assert!(gap < Duration::from_secs(4), "came again after {gap:?}");
    // The commands see it through the daemon's API; an operator's retry puts it back,
    // and it goes through.
    let store = s._dir.join("s.redb");
    let store = store.to_str().unwrap();
    let token = s.daemon.token.as_str();
    let listed = dialflow(
        s._dir.path(),
        &["outbox", "list", "--parked", "--store", store],
        token,
    );
    let line = listed.lines().nth(1).expect("one parked report listed");
    assert!(
        line.contains(&parked[0].entry.attempt) && line.contains("\t400\tanswer 400\t"),
        "{listed}"
    );
    let shown = dialflow(
        s._dir.path(),
        &["campaign", "show", "c1", "--store", store],
        token,
    );
    assert!(
        shown.contains("0 waiting for the panel, 1 parked"),
        "{shown}"
    );
    let retried = dialflow(
        s._dir.path(),
        &["outbox", "retry", "--all-parked", "--store", store],
        token,
    );
    assert!(
        retried.contains("1 report(s) back in the outbox"),
        "{retried}"
    );
    assert!(s.store.parked_reports(10).unwrap().is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !panel.taken().contains_key(&parked_key) {
        assert!(
            Instant::now() < deadline,
            "the retried report never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_go_several_at_once_but_one_attempt_s_in_order() {
    // A slow panel (300 ms an answer), so deliveries overlap when they can.
    let panel = Panel::slow(Box::new(|_, _| None), Duration::from_millis(300)).await;
    // Each call reports UNKNOWN after its greeting, then NOT_INTERESTED at its end.
    let source = "tests/scenarios/two_reports.yaml";
    let customers = ["yes"; 12];
    let s = setup_with(
        source,
        SPEED,
        "delivery-concurrency",
        &panel,
        3,
        &customers,
        None,
    )
    .await;
    let attempts = s.settled(Duration::from_secs(90)).await;
    nothing_lost(&panel, &attempts);
    let received = panel.received();
    let span = |r: &Received| (r.at, r.done.expect("answered"));
    let mut most = 0;
    for r in &received {
        let (start, _) = span(r);
        let at_once: Vec<&Received> = received
            .iter()
            .filter(|o| span(o).0 <= start && start < span(o).1)
            .collect();
        most = most.max(at_once.len());
        let attempt = r.json()["attempt_id"].clone();
        let same = at_once
            .iter()
            .filter(|o| o.json()["attempt_id"] == attempt)
            .count();
        assert_eq!(same, 1, "two reports of {attempt} were in flight at once");
    }
    assert!(most >= 2, "deliveries overlapped (at most {most} at once)");
    assert!(most <= 3, "{most} in flight, over panel.concurrency");
    // Each attempt's reports arrived in the order they were written.
    let mut per_attempt: BTreeMap<String, usize> = BTreeMap::new();
    for r in &received {
        *per_attempt
            .entry(r.json()["attempt_id"].to_string())
            .or_default() += 1;
    }
    assert!(
        per_attempt.values().any(|n| *n > 1),
        "some attempts reported twice: {per_attempt:?}"
    );
    let mut last_seq: BTreeMap<String, u64> = BTreeMap::new();
    for r in &received {
        let body = r.json();
        let attempt = body["attempt_id"].as_str().unwrap().to_string();
        let seq = body["seq"].as_u64().unwrap();
        if let Some(before) = last_seq.insert(attempt.clone(), seq) {
            assert!(seq > before, "{attempt}: report {seq} after {before}");
        }
    }
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridged_call_s_connected_report_reaches_the_panel_while_the_call_is_on() {
    // At each request the panel looks in the store: has the attempt ended yet? Before
    // reports were written as the machine made them, CONNECTED went out with the end.
    let store: Arc<std::sync::OnceLock<Arc<Store>>> = Arc::default();
    let seen: Arc<std::sync::Mutex<Vec<(String, bool)>>> = Arc::default();
    let (look, note) = (Arc::clone(&store), Arc::clone(&seen));
    let panel = Panel::start(Box::new(move |n, _| {
        let store = look
            .get()
            .expect("the store is set before the first report");
        let views = store.attempts("c1", 0, 100).unwrap();
        let ended = !views.is_empty() && views.iter().all(|a| a.end.is_some());
        note.lock().unwrap().push((format!("request {n}"), ended));
        None
    }))
    .await;
    // Slower than the other tests: the customer talks to the operator for a few
    // seconds of call time after the bridge.
    let s = setup_with(
        "scenarios/agrad.yaml",
        5.0,
        "delivery-live",
        &panel,
        2,
        &["yes"],
        None,
    )
    .await;
    // Set long before the first report: that comes after tens of seconds of call time.
    store.set(Arc::clone(&s.store)).ok();
    let attempts = s.settled(Duration::from_secs(60)).await;
    assert_eq!(attempts.len(), 1);
    let end = attempts[0].end.as_ref().unwrap();
    assert_eq!(
        (end.result.as_str(), end.status.as_str()),
        ("connected_to_operator", "CONNECTED")
    );
    let received = panel.received();
    assert_eq!(
        received.len(),
        1,
        "one CONNECTED report, not again at the end"
    );
    let body = received[0].json();
    assert_eq!(
        received[0].key,
        format!("{}:CONNECTED", attempts[0].start.id)
    );
    assert_eq!(body["status"], "CONNECTED");
    assert_eq!(body["result"], "connected_to_operator");
    assert!(
        body["ended_at"].is_null(),
        "sent before the call ended: {body}"
    );
    assert!(!body["answered_at"].is_null(), "{body}");
    assert_eq!(body["user_message"], "Yes, I am interested.");
    let errors: Vec<String> = schema().iter_errors(&body).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{body}: {errors:?}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(
        !seen[0].1,
        "the attempt had ended when the panel got its report"
    );
    s.daemon.stop().await;
}

/// An alert receiver for `setup_with`: alerts to `receiver`, signed, with short
/// thresholds (campaign time runs at `SPEED` for the backlog).
fn alerts_to(receiver: &Panel) -> AlertsConfig {
    let mut alerts = AlertsConfig::new(receiver.url());
    alerts.secret = Some(SECRET.into());
    alerts.unreachable_after = Duration::from_secs(1);
    alerts.backlog_after = Duration::from_secs(10);
    alerts
}

/// Waits until `receiver` has taken `n` requests; their bodies.
async fn taken(receiver: &Panel, n: usize, within: Duration) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + within;
    while panel_bodies(receiver).len() < n {
        assert!(
            Instant::now() < deadline,
            "{n} alerts never came: {:?}",
            panel_bodies(receiver)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panel_bodies(receiver)
}

fn panel_bodies(receiver: &Panel) -> Vec<serde_json::Value> {
    receiver.received().iter().map(Received::json).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asterisk_unreachable_past_its_threshold_raises_one_signed_alert() {
    let panel = Panel::start(Box::new(|_, _| None)).await;
    let receiver = Panel::start(Box::new(|_, _| None)).await;
    let s = setup_with(
        "scenarios/salehi.yaml",
        SPEED,
        "alerts-unreachable",
        &panel,
        2,
        &["busy"],
        Some(alerts_to(&receiver)),
    )
    .await;
    s.settled(Duration::from_secs(30)).await;
    assert!(receiver.received().is_empty(), "no alert while all is well");
    // Asterisk goes away: the stream drops and every reconnect is refused.
    let faults = s._sim.faults();
    faults.fail_next_requests("GET /ari/events", 503, 1_000_000);
    faults.drop_websockets();
    let alerts = taken(&receiver, 1, Duration::from_secs(20)).await;
    assert_eq!(alerts[0]["kind"], "unreachable");
    assert!(alerts[0]["campaign"].is_null(), "{}", alerts[0]);
    let message = alerts[0]["message"].as_str().unwrap();
    assert!(message.starts_with("Asterisk unreachable"), "{message}");
    let sent = &receiver.received()[0];
    verify(
        sent.signature.as_deref().expect("signed"),
        &sent.body,
        SECRET,
    );
    assert!(sent.key.starts_with("alert:"), "{}", sent.key);
    // One alert per outage, however long it lasts.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1);
    s.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_report_and_an_old_backlog_reach_the_alert_webhook() {
    // The panel refuses the first report for good, then is down (503) for the rest.
    let panel = Panel::start(Box::new(|n, _| match n {
        0 => Some((400, Vec::new())),
        _ => Some((503, Vec::new())),
    }))
    .await;
    let receiver = Panel::start(Box::new(|_, _| None)).await;
    let s = setup_with(
        "scenarios/salehi.yaml",
        SPEED,
        "alerts-backlog",
        &panel,
        1,
        &["busy", "no"],
        Some(alerts_to(&receiver)),
    )
    .await;
    let alerts = taken(&receiver, 2, Duration::from_secs(60)).await;
    let kind = |k: &str| {
        alerts
            .iter()
            .find(|a| a["kind"] == k)
            .unwrap_or_else(|| panic!("no {k} alert: {alerts:?}"))
            .clone()
    };
    let parked = kind("parked");
    assert_eq!(parked["campaign"], "c1");
    let reason = parked["reason"].as_str().unwrap();
    assert!(reason.starts_with("the panel answered 400"), "{reason}");
    let backlog = kind("backlog");
    assert!(backlog["campaign"].is_null(), "{backlog}");
    assert_eq!(s.store.outbox_counts().unwrap().pending, 1);
    s.daemon.stop().await;
}
