//! The campaign dialer end to end: store, dialer and runtime against the simulated PBX
//! over loopback. Pacing and fairness hold, closed windows dial nobody, local hours fail
//! closed, retries and DNC follow the settings, lead data reaches the scenario, and the
//! circuit breaker pauses a campaign (quota refusals, technical failures) and alerts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use dialflow::classify::IntentProvider;
use dialflow::classify::stt::SttProvider;
use dialflow::config::{AlertsConfig, Config};
use dialflow::core::campaign::retry::RetryRule;
use dialflow::core::campaign::settings::CampaignSettings;
use dialflow::core::scenario::Scenario;
use dialflow::daemon::{self, Daemon, Notice, Work};
use dialflow::dialer::DialerEvent;
use dialflow::runtime::{Runtime, RuntimeTasks};
use dialflow::scenario_set::SharedScenarios;
use dialflow::sim::behaviours::number_for;
use dialflow::sim::server::SimHandle;
use dialflow::store::campaigns::Transition;
use dialflow::store::{CampaignState, DncScope, LeadState, NewLead, Store};

mod common;
use common::dirs::TempDir;
use common::panel::Panel;
use common::{Classify, Live, scenario};

const SPEED: f64 = 25.0;

struct Harness {
    sim: SimHandle,
    runtime: Runtime,
    tasks: RuntimeTasks,
    store: Arc<Store>,
    config: Config,
    scenarios: BTreeMap<String, Arc<Scenario>>,
    _dir: TempDir,
}

/// A simulator, a runtime (with `classifier`, or the simulated one), an empty store.
async fn harness(name: &str, classifier: Option<(SttProvider, IntentProvider)>) -> Harness {
    harness_at(name, classifier, SPEED).await
}

/// `harness` with time running `speed` times faster than real.
async fn harness_at(
    name: &str,
    classifier: Option<(SttProvider, IntentProvider)>,
    speed: f64,
) -> Harness {
    let scenario = scenario(name);
    let classify = match classifier {
        None => Classify::Simulated,
        Some((stt, intent)) => Classify::Pipeline(stt, intent),
    };
    let Live {
        sim,
        runtime,
        tasks,
    } = Live::start(&scenario, speed, classify).await;
    let dir = TempDir::new("dialer");
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    let mut config = Config::parse(
        "test",
        &format!(
            "ari: {{url: \"{}\", user: u, password: p, app: dialflow}}\n\
             dial: {{template: \"Local/{{number}}@sim-customers\"}}\n\
             operators: {{sales: \"Local/op-answer@sim-operators\"}}\n",
            sim.base_url
        ),
        |_| None,
    )
    .unwrap();
    config.max_concurrent = 50;
    Harness {
        sim,
        runtime,
        tasks,
        store,
        config,
        scenarios: BTreeMap::from([(name.to_string(), scenario)]),
        _dir: dir,
    }
}

fn always_open(name: &str) -> CampaignSettings {
    let mut s = CampaignSettings::for_scenario(name);
    s.windows = BTreeMap::from([("daily".into(), vec!["00:00-24:00".into()])]);
    s.pacing.max_concurrent = 10;
    s.pacing.max_per_second = 20.0;
    s
}

/// Leads reaching the given simulated customers, numbered from `from`.
fn leads(behaviours: &[&str], from: usize) -> Vec<NewLead> {
    behaviours
        .iter()
        .enumerate()
        .map(|(i, b)| NewLead {
            phone: number_for(&format!("+98912{:05}", from + i), b).unwrap(),
            name: format!("Lead {i}"),
            ..NewLead::default()
        })
        .collect()
}

impl Harness {
    fn add(&self, campaign: &str, settings: CampaignSettings, leads: &[NewLead]) {
        let now = self.runtime.clock().wall_ms();
        self.store.create_campaign(campaign, settings, now).unwrap();
        self.store.import_leads(campaign, leads, now).unwrap();
        self.store
            .transition(campaign, Transition::Start, None, now)
            .unwrap();
    }

    /// Runs a daemon over the store on this runtime until idle (or `limit` real time,
    /// then shuts it down); the dialer's events.
    async fn dial(&self, max_concurrent: usize, limit: Duration) -> Vec<DialerEvent> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut config = self.config.clone();
        config.max_concurrent = max_concurrent;
        let work = Work::Campaigns {
            store: Arc::clone(&self.store),
            scenarios: SharedScenarios::new(self.scenarios.clone()),
            exit_when_idle: true,
        };
        let daemon = Daemon::new(config, work)
            .unwrap()
            .on_runtime(self.runtime.clone())
            .with_notices(tx);
        let run = daemon::run(daemon, tokio::time::sleep(limit));
        let summary = tokio::time::timeout(limit + Duration::from_secs(60), run)
            .await
            .expect("the daemon stops")
            .unwrap();
        let mut events = Vec::new();
        while let Ok(notice) = rx.try_recv() {
            if let Notice::Dialer(e) = notice {
                events.push(e);
            }
        }
        let finished = events
            .iter()
            .filter(|e| matches!(e, DialerEvent::Finished { .. }))
            .count();
        assert_eq!(summary.attempts as usize, finished);
        events
    }

    async fn close(self) {
        self.tasks.stop().await;
        self.sim.shutdown().await;
    }
}

fn results(events: &[DialerEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            DialerEvent::Finished { attempt, end, .. } => {
                Some((attempt.phone.clone(), end.result.clone()))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_holds_concurrency_and_rate() {
    let h = harness("salehi", None).await;
    let mut settings = always_open("salehi");
    settings.pacing.max_concurrent = 3;
    settings.pacing.max_per_second = 2.0;
    h.add("paced", settings, &leads(&["no"; 12], 0));
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (runtime, peak) = (h.runtime.clone(), Arc::clone(&peak));
        tokio::spawn(async move {
            loop {
                peak.fetch_max(runtime.live_calls(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let events = h.dial(50, Duration::from_secs(120)).await;
    sampler.abort();
    assert_eq!(results(&events).len(), 12);
    assert!(
        peak.load(Ordering::Relaxed) <= 3,
        "peak {}",
        peak.load(Ordering::Relaxed)
    );
    assert!(peak.load(Ordering::Relaxed) >= 2, "calls overlapped");
    let starts: Vec<u64> = h
        .store
        .attempts("paced", 0, 100)
        .unwrap()
        .iter()
        .map(|a| a.start.started_ms)
        .collect();
    for (i, t) in starts.iter().enumerate() {
        let in_a_second = starts[i..].iter().filter(|s| **s < t + 1000).count();
        assert!(
            in_a_second <= 2,
            "{in_a_second} starts within a second at {t}: {starts:?}"
        );
    }
    assert_eq!(
        h.store.campaign("paced").unwrap().state,
        CampaignState::Completed
    );
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaigns_share_the_slots_fairly() {
    let h = harness("salehi", None).await;
    h.add("a", always_open("salehi"), &leads(&["no"; 10], 0));
    h.add("b", always_open("salehi"), &leads(&["no"; 10], 100));
    h.dial(4, Duration::from_secs(120)).await;
    let first_of = |c: &str| -> Vec<u64> {
        h.store
            .attempts(c, 0, 100)
            .unwrap()
            .iter()
            .map(|a| a.start.seq)
            .collect()
    };
    let (a, b) = (first_of("a"), first_of("b"));
    assert_eq!((a.len(), b.len()), (10, 10));
    // Of the first eight attempts overall, each campaign had at least three.
    let mut all: Vec<(u64, char)> = a.iter().map(|s| (*s, 'a')).collect();
    all.extend(b.iter().map(|s| (*s, 'b')));
    all.sort();
    let a_early = all[..8].iter().filter(|(_, c)| *c == 'a').count();
    assert!((3..=5).contains(&a_early), "first eight: {all:?}");
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_windows_dial_nobody_and_unknown_zones_fail_closed() {
    let h = harness("salehi", None).await;
    // A window of one minute, twelve hours from now: closed.
    let now = jiff::Timestamp::from_millisecond(h.runtime.clock().wall_ms() as i64).unwrap();
    let later = now.to_zoned(jiff::tz::TimeZone::UTC) + jiff::Span::new().hours(12);
    let mut closed = always_open("salehi");
    closed.windows = BTreeMap::from([(
        "daily".into(),
        vec![format!(
            "{:02}:{:02}-{:02}:{:02}",
            later.hour(),
            later.minute(),
            later.hour(),
            (later.minute() + 1).min(59)
        )],
    )]);
    h.add("closed", closed.clone(), &leads(&["yes"; 3], 0));
    // Outside its window with nothing left to dial, a campaign still completes.
    h.add("nothing_left", closed, &[]);
    // Local hours required: a lead without a zone is never dialed; one with is.
    let mut local = always_open("salehi");
    local.lead_local_hours = Some("00:00-24:00".into());
    let mut zoned = leads(&["no", "no"], 10);
    zoned[0].time_zone = Some("Asia/Tehran".into());
    h.add("local", local, &zoned);
    let events = h.dial(10, Duration::from_secs(4)).await;
    let dialed = results(&events);
    assert_eq!(dialed.len(), 1, "{dialed:?}");
    assert_eq!(dialed[0].0, zoned[0].phone);
    assert!(h.store.attempts("closed", 0, 10).unwrap().is_empty());
    assert_eq!(
        h.store.campaign("nothing_left").unwrap().state,
        CampaignState::Completed
    );
    assert_eq!(
        h.store.campaign("closed").unwrap().state,
        CampaignState::Running
    );
    let skipped = h
        .store
        .lead_by_phone("local", &zoned[1].phone)
        .unwrap()
        .unwrap();
    assert!(
        matches!(&skipped.state, LeadState::Skipped { reason } if reason.contains("time zone")),
        "{skipped:?}"
    );
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_dnc_and_lead_data_follow_the_settings() {
    let h = harness("reminder", None).await;
    let mut settings = always_open("reminder");
    settings.retries = BTreeMap::from([(
        "busy".into(),
        RetryRule::After {
            after: "20s".into(),
            max: 2,
        },
    )]);
    settings.dnc_results = vec!["machine_detected".into()];
    let mut people = leads(&["busy", "machine", "machine", "dtmf1"], 0);
    people[2]
        .custom
        .insert("voicemail_drop".into(), "off".into());
    h.add("remind", settings, &people);
    // A number on the global DNC list is never dialed.
    h.store
        .add_dnc(&DncScope::Global, &[people[3].phone.clone()], "asked", 0)
        .unwrap();
    let events = h.dial(10, Duration::from_secs(120)).await;
    let mut by_phone: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (phone, result) in results(&events) {
        by_phone.entry(phone).or_default().push(result);
    }
    assert_eq!(
        by_phone[&people[0].phone],
        ["busy", "busy", "busy"],
        "two retries"
    );
    assert_eq!(by_phone[&people[1].phone], ["voicemail_dropped"]);
    // `lead.custom.voicemail_drop: off` reached the scenario, and its result adds DNC.
    assert_eq!(by_phone[&people[2].phone], ["machine_detected"]);
    assert!(!by_phone.contains_key(&people[3].phone));
    assert!(
        h.store
            .dnc_entry("remind", &people[2].phone)
            .unwrap()
            .is_some()
    );
    let counts = h.store.counts("remind").unwrap();
    assert_eq!(counts["dnc"], 2, "{counts:?}");
    assert_eq!(counts["done"], 2, "{counts:?}");
    // The busy retries waited their 20 s of campaign time.
    let busy: Vec<u64> = h
        .store
        .attempts("remind", 0, 10)
        .unwrap()
        .iter()
        .filter(|a| a.start.phone == people[0].phone)
        .map(|a| a.start.started_ms)
        .collect();
    assert!(busy.windows(2).all(|w| w[1] - w[0] >= 20_000), "{busy:?}");
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_refusal_pauses_the_campaign_and_alerts() {
    let received: Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Arc::default();
    let inbox = Arc::clone(&received);
    let app = Router::new()
        .route(
            "/v1/audio/transcriptions",
            post(|| async {
                (
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details."}}"#,
                )
            }),
        )
        .route(
            "/alerts",
            post(move |body: axum::Json<serde_json::Value>| async move {
                inbox.lock().unwrap().push(body.0);
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let stt = openai_at(&format!("http://{addr}"));
    let mut h = harness("salehi", Some((stt, IntentProvider::Rules))).await;
    h.config.alerts = Some(sms_alerts(format!("http://{addr}/alerts")));
    let mut settings = always_open("salehi");
    settings.pacing.max_concurrent = 1;
    h.add("quota", settings, &leads(&["yes"; 5], 0));
    let events = h.dial(10, Duration::from_secs(120)).await;
    assert_eq!(
        results(&events),
        [(
            leads(&["yes"], 0)[0].phone.clone(),
            "failed:stt_quota".to_string()
        )],
        "one call, then the campaign paused"
    );
    let campaign = h.store.campaign("quota").unwrap();
    assert_eq!(campaign.state, CampaignState::Paused);
    assert!(campaign.reason.unwrap().contains("quota"));
    let alerts = h.store.alerts(Some("quota")).unwrap();
    assert_eq!(alerts.len(), 1);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, DialerEvent::Alert { .. }))
    );
    // The webhook hears it too.
    for _ in 0..100 {
        if !received.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = received.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["to"], "+989120000000");
    let text = sent[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "quota paused: a classification provider refused for quota (failed:stt_quota)"
        ),
        "{text}"
    );
    // The rest wait, and so does the refused lead: `failed:*` is retried later.
    assert_eq!(h.store.counts("quota").unwrap()["pending"], 5);
    h.close().await;
}

/// Alerts to an SMS gateway's own API, called directly through a template: the
/// campaign and the reason, escaped for JSON.
fn sms_alerts(url: String) -> AlertsConfig {
    let mut alerts = AlertsConfig::new(url);
    alerts.template =
        Some(r#"{"to": "+989120000000", "text": "{{ campaign }} paused: {{ reason }}"}"#.into());
    alerts
}

/// An OpenAI-compatible speech-to-text server at `base_url`.
fn openai_at(base_url: &str) -> SttProvider {
    SttProvider::OpenAi {
        base_url: base_url.into(),
        model: "whisper-1".into(),
        api_key: None,
        language: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_stt_server_refusing_connections_pauses_the_campaign_within_its_window() {
    // Nothing listens at the STT's address: every classification fails at once. The
    // share breaker pauses the campaign after 5 calls, long before the 10 in a row,
    // so the panel is not told "not interested" for the whole list.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = closed.local_addr().unwrap();
    drop(closed);
    let gateway = Panel::start(Box::new(|_, _| None)).await;
    let stt = openai_at(&format!("http://{nobody}"));
    let mut h = harness("salehi", Some((stt, IntentProvider::Rules))).await;
    h.config.alerts = Some(sms_alerts(gateway.url()));
    let mut settings = always_open("salehi");
    settings.pacing.max_concurrent = 1;
    settings.max_consecutive_failures = 10;
    h.add("refused", settings, &leads(&["yes"; 12], 0));
    let events = h.dial(10, Duration::from_secs(120)).await;
    let dialed = results(&events);
    assert_eq!(dialed.len(), 5, "{dialed:?}");
    assert!(
        dialed.iter().all(|(_, r)| r == "failed:stt_failure"),
        "{dialed:?}"
    );
    let campaign = h.store.campaign("refused").unwrap();
    assert_eq!(campaign.state, CampaignState::Paused);
    let reason = campaign.reason.unwrap();
    assert!(
        reason.contains("5 of the last 5 calls failed within 120 s"),
        "{reason}"
    );
    // Every lead is still owed a real answer: none was closed as not interested.
    assert_eq!(h.store.counts("refused").unwrap()["pending"], 12);
    let sent: Vec<serde_json::Value> = gateway.received().iter().map(|r| r.json()).collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0]["text"],
        format!("refused paused: {reason}"),
        "the breaker's alert, templated"
    );
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technical_failures_in_a_row_trip_the_breaker() {
    let h = harness("salehi", None).await;
    h.sim.faults().refuse_originates(100);
    let mut settings = always_open("salehi");
    settings.pacing.max_concurrent = 1;
    settings.max_consecutive_failures = 3;
    h.add("broken", settings, &leads(&["yes"; 6], 0));
    let events = h.dial(10, Duration::from_secs(60)).await;
    let dialed = results(&events);
    assert_eq!(dialed.len(), 3, "{dialed:?}");
    assert!(
        dialed.iter().all(|(_, r)| r.starts_with("failed:")),
        "{dialed:?}"
    );
    let campaign = h.store.campaign("broken").unwrap();
    assert_eq!(campaign.state, CampaignState::Paused);
    assert!(
        campaign
            .reason
            .unwrap()
            .contains("3 technical failures in a row")
    );
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_failing_every_other_call_pauses_the_campaign() {
    // Never two failures in a row: the in-a-row breaker (10) would let this provider
    // turn half the campaign into `failed:stt_failure` (NOT_INTERESTED at the panel).
    // It fails every request about a customer who says no (the retry, and the flow's
    // asking again, included), and the customers alternate yes and no.
    let app = Router::new().route(
        "/v1/audio/transcriptions",
        post(|body: axum::body::Bytes| async move {
            let said = dialflow::sim::server::said_in(&body).unwrap_or_default();
            if said.starts_with("No") {
                (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "{}".to_string(),
                )
            } else {
                (
                    axum::http::StatusCode::OK,
                    serde_json::json!({ "text": said }).to_string(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let stt = openai_at(&format!("http://{addr}"));
    let h = harness("salehi", Some((stt, IntentProvider::Rules))).await;
    let mut settings = always_open("salehi");
    settings.pacing.max_concurrent = 1;
    settings.max_consecutive_failures = 10;
    let customers: Vec<&str> = (0..12).map(|i| ["yes", "no"][i % 2]).collect();
    h.add("flaky", settings, &leads(&customers, 0));
    let events = h.dial(10, Duration::from_secs(120)).await;
    let dialed = results(&events);
    let failed = dialed
        .iter()
        .filter(|(_, r)| r == "failed:stt_failure")
        .count();
    assert_eq!((dialed.len(), failed), (6, 3), "{dialed:?}");
    let campaign = h.store.campaign("flaky").unwrap();
    assert_eq!(campaign.state, CampaignState::Paused);
    let reason = campaign.reason.unwrap();
    assert!(reason.contains("3 of the last 6 calls failed"), "{reason}");
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distressed_asterisk_holds_new_originates() {
    let h = harness("salehi", None).await;
    h.add("calm", always_open("salehi"), &leads(&["no"; 4], 0));
    // Asterisk answers REST in three seconds and half the requests fail: hold off.
    for _ in 0..300 {
        h.runtime
            .record_request(Duration::from_secs(3), Duration::ZERO, true);
    }
    let distress = h.runtime.distress();
    assert!(distress.rest_latency_ms > 2_000, "{distress:?}");
    let events = h.dial(10, Duration::from_secs(2)).await;
    assert!(
        results(&events).is_empty(),
        "nothing dialed while distressed"
    );
    assert_eq!(h.store.counts("calm").unwrap()["pending"], 4);
    // Healthy again: the campaign goes on.
    for _ in 0..300 {
        h.runtime
            .record_request(Duration::from_millis(2), Duration::ZERO, false);
    }
    let events = h.dial(10, Duration::from_secs(60)).await;
    assert_eq!(results(&events).len(), 4);
    assert_eq!(
        h.store.campaign("calm").unwrap().state,
        CampaignState::Completed
    );
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_settings_apply_to_a_running_campaign() {
    let h = harness("salehi", None).await;
    let mut settings = always_open("salehi");
    settings.pacing.max_concurrent = 1;
    h.add("live", settings.clone(), &leads(&["no"; 8], 0));
    let (before, after) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let updated = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (runtime, before, after, updated) = (
            h.runtime.clone(),
            Arc::clone(&before),
            Arc::clone(&after),
            Arc::clone(&updated),
        );
        tokio::spawn(async move {
            loop {
                let live = runtime.live_calls();
                if updated.load(Ordering::Relaxed) {
                    after.fetch_max(live, Ordering::Relaxed);
                } else {
                    before.fetch_max(live, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let updater = {
        let (store, updated, clock) = (
            Arc::clone(&h.store),
            Arc::clone(&updated),
            h.runtime.clock(),
        );
        let mut wider = settings;
        wider.pacing.max_concurrent = 4;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            store
                .update_settings("live", wider, clock.wall_ms())
                .unwrap();
            updated.store(true, Ordering::Relaxed);
        })
    };
    let events = h.dial(10, Duration::from_secs(60)).await;
    sampler.abort();
    updater.await.unwrap();
    assert_eq!(results(&events).len(), 8);
    assert_eq!(before.load(Ordering::Relaxed), 1, "one at a time before");
    assert!(
        after.load(Ordering::Relaxed) >= 2,
        "more at once after the update"
    );
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_counts_a_call_connected_only_when_its_bridge_holds_both() {
    use dialflow::ari::ChannelState;
    use dialflow::ari::request::Originate;
    use dialflow::store::Admission;
    // Slow time: the simulated customers stay on the line for seconds.
    let Harness {
        sim,
        runtime,
        tasks,
        store,
        config,
        scenarios,
        _dir,
    } = harness_at("salehi", None, 2.0).await;
    let now = runtime.clock().wall_ms();
    store
        .create_campaign("rec", always_open("salehi"), now)
        .unwrap();
    store
        .import_leads("rec", &leads(&["yes", "yes"], 0), now)
        .unwrap();
    store
        .transition("rec", Transition::Start, None, now)
        .unwrap();
    let leased = store
        .lease("rec", now, 2, 3_600_000, "salehi", "h", |_| Admission::Dial)
        .unwrap();
    let ids: Vec<String> = leased.iter().map(|l| l.attempt.id.clone()).collect();
    // A previous run crashed mid-call: nobody listens while its channels come up.
    tasks.stop().await;
    let client = runtime.client().clone();
    let originate = |channel: String, endpoint: &'static str| {
        let client = client.clone();
        async move {
            client
                .originate(Originate {
                    endpoint,
                    app: common::APP,
                    app_args: String::new(),
                    channel_id: &channel,
                    timeout_s: 30,
                    formats: "",
                    caller_id: None,
                })
                .await
                .unwrap();
        }
    };
    for id in &ids {
        originate(format!("{id}-c"), "Local/yes@sim-customers").await;
        originate(format!("{id}-op1"), "Local/op-answer@sim-operators").await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while client
        .channels()
        .await
        .unwrap()
        .iter()
        .filter(|c| c.state == ChannelState::Up)
        .count()
        < 4
    {
        assert!(tokio::time::Instant::now() < deadline, "the legs answer");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The first call had bridged its customer and operator; the second had not yet.
    let first = &ids[0];
    client.create_bridge(&format!("{first}-b")).await.unwrap();
    client
        .add_to_bridge(
            &format!("{first}-b"),
            &[format!("{first}-c"), format!("{first}-op1")],
        )
        .await
        .unwrap();
    // dialflow starts again: recovery closes both attempts.
    let (runtime, tasks) = common::connect(
        &sim.base_url,
        2.0,
        Classify::Simulated,
        Duration::from_secs(2),
    )
    .await;
    let h = Harness {
        sim,
        runtime,
        tasks,
        store,
        config,
        scenarios,
        _dir,
    };
    h.dial(50, Duration::from_millis(500)).await;
    let ended: BTreeMap<String, String> = h
        .store
        .attempts("rec", 0, 10)
        .unwrap()
        .into_iter()
        .filter_map(|a| Some((a.start.id, a.end?.result)))
        .collect();
    assert_eq!(ended[&ids[0]], "connected_to_operator");
    assert_eq!(ended[&ids[1]], "failed:interrupted");
    let live = h.sim.live_channels().await;
    let second = &ids[1];
    assert!(
        live.contains(&format!("{first}-c"))
            && !live.iter().any(|c| c.starts_with(second.as_str())),
        "the conversation goes on, the unbridged legs are hung up: {live:?}"
    );
    h.close().await;
}
