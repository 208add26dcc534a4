//! Every row of `../shared/acceptance/outcomes.md`, as the reporting panel receives it:
//! campaigns of the three shipped scenarios run through whole daemons against the
//! simulator (with loopback speech-to-text and LLM stubs and the simulator's faults
//! for the rows that need them), and a real HTTP receiver on loopback gets exactly one
//! payload per call, holding the row's status, result, reason and, only where the row
//! says "T", the transcript, each valid against docs/report.schema.json and signed.
//! `ROWS` mirrors the file; the test fails when the two drift apart.

mod common;
use common::dirs::TempDir;
use common::in_process::campaigns_daemon;
use common::panel::{Panel, SECRET, verify};
use common::{sim_config, sim_dialflow_config};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use dialflow::classify::IntentProvider;
use dialflow::classify::llm::LlmIntent;
use dialflow::classify::stt::SttProvider;
use dialflow::config::PanelConfig;
use dialflow::core::campaign::settings::CampaignSettings;
use dialflow::daemon::Classification;
use dialflow::sim::behaviours::number_for;
use dialflow::sim::server::{self, said_in};
use dialflow::store::campaigns::Transition;
use dialflow::store::{NewLead, Store};
use serde_json::Value;

const OUTCOMES: &str = "../shared/acceptance/outcomes.md";
const REPO: &str = env!("CARGO_MANIFEST_DIR");
// 10×, not the 25× of other tests: nine daemons and simulators share the machine here.
const SPEED: f64 = 10.0;
const TELEPHONY: &str = "Telephony outcomes (every scenario)";
const SALEHI: &str = "Salehi";
const AGRAD: &str = "Agrad";
const REMINDER: &str = "Reminder with answering-machine detection and consent (seed 003)";

/// How a run is set up; each run has its own simulator, daemon and panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Run {
    /// Simulated classification; transfers reach `op-answer`.
    Plain,
    /// Transfers reach this operator behaviour.
    Operator(&'static str),
    /// Asterisk refuses the customer's originate.
    OriginateRefused,
    /// Asterisk never sends an event about the customer's channel.
    EventsLost,
    /// Asterisk refuses the operator's originate.
    OperatorRefused,
    /// Speech-to-text answers this status (429 with OpenAI's quota message).
    Stt(u16),
    /// The LLM classifying intents refuses for quota.
    LlmQuota,
    /// The recording's file cannot be fetched.
    RecordingLost,
}

/// One call a row is played by.
struct Call {
    scenario: &'static str,
    customer: &'static str,
    run: Run,
    /// A lead column the scenario reads.
    custom: Option<(&'static str, &'static str)>,
}

const fn call(scenario: &'static str, customer: &'static str, run: Run) -> Call {
    Call {
        scenario,
        customer,
        run,
        custom: None,
    }
}

/// One row of the file: its section, its first cell as written, the result, the
/// status (empty where the file gives none: the scenario's table decides), whether
/// the transcript goes with it ("T"), and the calls that play it.
struct Row {
    section: &'static str,
    cell: &'static str,
    result: &'static str,
    status: &'static str,
    transcript: bool,
    calls: &'static [Call],
}

const P: Run = Run::Plain;

const fn row(
    section: &'static str,
    cell: &'static str,
    result: &'static str,
    status: &'static str,
    transcript: bool,
    calls: &'static [Call],
) -> Row {
    Row {
        section,
        cell,
        result,
        status,
        transcript,
        calls,
    }
}

/// The file's rows, one line each as in the file (so kept unformatted).
#[rustfmt::skip]
const ROWS: &[Row] = &[
    row(TELEPHONY, "`busy` (cause 17)", "busy", "BUSY", false,
        &[call("salehi", "busy", P), call("agrad", "busy", P), call("reminder", "busy", P)]),
    row(TELEPHONY, "`poweroff` (cause 20), `noresponse` (18), `unavailable` (19) arriving before the ring timeout", "power_off", "POWER_OFF", false,
        &[call("salehi", "poweroff", P), call("salehi", "noresponse", P), call("salehi", "unavailable", P), call("agrad", "poweroff", P), call("reminder", "poweroff", P)]),
    row(TELEPHONY, "`noanswer`: rings until the originate timeout", "missed", "MISSED", false,
        &[call("salehi", "noanswer", P), call("agrad", "noanswer", P)]),
    row(TELEPHONY, "no event at all for the originated channel within the watchdog time", "user_didnt_answer", "MISSED", false,
        &[call("salehi", "yes", Run::EventsLost)]),
    row(TELEPHONY, "`rejected` (21), `congestion` (34), causes 41 and 42", "banned", "BANNED", false,
        &[call("salehi", "rejected", P), call("salehi", "congestion", P), call("salehi", "congestion-tone", P), call("reminder", "rejected", P)]),
    row(TELEPHONY, "originate refused by Asterisk (HTTP 4xx/5xx)", "failed:originate", "FAILED", false,
        &[call("salehi", "yes", Run::OriginateRefused)]),
    row(TELEPHONY, "`hangup-early`: answers, hangs up during the first prompt", "hangup", "HANGUP", false,
        &[call("salehi", "hangup-early", P), call("agrad", "hangup-early", P)]),
    row(SALEHI, "`yes`", "connected_to_operator", "CONNECTED", true, &[call("salehi", "yes", P)]),
    row(SALEHI, "`no`", "not_interested", "NOT_INTERESTED", true, &[call("salehi", "no", P)]),
    row(SALEHI, "`number` (asks where the number came from, then says yes)", "connected_to_operator", "CONNECTED", true,
        &[call("salehi", "number", P)]),
    row(SALEHI, "`unknown`", "unknown", "UNKNOWN", true, &[call("salehi", "unknown", P)]),
    row(SALEHI, "`silent` (answers, says nothing)", "hangup", "HANGUP", false, &[call("salehi", "silent", P)]),
    row(SALEHI, "speech-to-text errors (HTTP 5xx, timeout)", "failed:stt_failure", "NOT_INTERESTED", false,
        &[call("salehi", "yes", Run::Stt(500))]),
    row(SALEHI, "speech-to-text quota refused (HTTP 403 or 429 quota)", "failed:stt_quota", "FAILED", false,
        &[call("salehi", "yes", Run::Stt(429))]),
    row(SALEHI, "intent classifier quota refused (HTTP 403 or 429 quota)", "failed:llm_quota", "FAILED", false,
        &[call("salehi", "yes", Run::LlmQuota)]),
    row(SALEHI, "recording fails (RecordingFailed, or the file cannot be fetched)", "failed:recording", "FAILED", false,
        &[call("salehi", "yes", Run::RecordingLost)]),
    row(AGRAD, "`yes`, operator `op-answer`", "connected_to_operator", "CONNECTED", true, &[call("agrad", "yes", P)]),
    row(AGRAD, "`yes`, operator `op-busy` or `op-noanswer`", "disconnected", "DISCONNECTED", true,
        &[call("agrad", "yes", Run::Operator("op-busy")), call("agrad", "yes", Run::Operator("op-noanswer"))]),
    row(AGRAD, "`yes`, customer hangs up while on hold", "disconnected", "DISCONNECTED", true,
        &[call("agrad", "yes-hangup", Run::Operator("op-noanswer"))]),
    row(AGRAD, "`yes`, originate of the operator leg refused by Asterisk", "failed:operator_failed", "FAILED", false,
        &[call("agrad", "yes", Run::OperatorRefused)]),
    row(AGRAD, "`no`", "not_interested", "NOT_INTERESTED", true, &[call("agrad", "no", P)]),
    row(AGRAD, "`number` or `unknown`", "unknown", "UNKNOWN", true, &[call("agrad", "number", P), call("agrad", "unknown", P)]),
    row(REMINDER, "`machine`, voicemail drop on", "voicemail_dropped", "", false, &[call("reminder", "machine", P)]),
    row(REMINDER, "`machine`, voicemail drop off", "machine_detected", "", false,
        &[Call { custom: Some(("voicemail_drop", "off")), ..call("reminder", "machine", P) }]),
    row(REMINDER, "`dtmf1` (says hello, presses 1 during the consent prompt)", "answered_human", "", false,
        &[call("reminder", "dtmf1", P)]),
    row(REMINDER, "`dtmf2` (says hello, presses 2)", "consent_denied", "", false, &[call("reminder", "dtmf2", P)]),
    row(REMINDER, "`human` (says hello, presses nothing)", "consent_timeout", "", false, &[call("reminder", "human", P)]),
];

/// The file's rows: (section, first cell, result, status or "", "T" or not).
fn file_rows() -> Vec<(String, String, String, String, bool)> {
    let text = std::fs::read_to_string(OUTCOMES).expect("../shared/acceptance/outcomes.md");
    let mut section = String::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            section = heading.trim().to_string();
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let is_row = line.starts_with('|') && cells.len() >= 4;
        if !is_row || cells[1].starts_with("---") || cells[2] == "internal result" {
            continue;
        }
        let result = cells[2].trim_matches('`').to_string();
        let (status, t) = match cells.len() {
            7 => (cells[3].to_string(), cells[4] == "T"),
            _ => (String::new(), false),
        };
        rows.push((section.clone(), cells[1].to_string(), result, status, t));
    }
    rows
}

#[test]
fn the_rows_mirror_the_outcome_matrix() {
    let file = file_rows();
    let ours: Vec<(String, String, String, String, bool)> = ROWS
        .iter()
        .map(|r| {
            let (section, cell) = (r.section.to_string(), r.cell.to_string());
            (
                section,
                cell,
                r.result.into(),
                r.status.into(),
                r.transcript,
            )
        })
        .collect();
    for row in &file {
        assert!(
            ours.contains(row),
            "outcomes.md has a row ROWS lacks: {row:?}"
        );
    }
    for row in &ours {
        assert!(
            file.contains(row),
            "ROWS has a row outcomes.md lacks: {row:?}"
        );
    }
    for r in ROWS {
        assert!(!r.calls.is_empty(), "{}: no call plays it", r.cell);
    }
}

/// A loopback stand-in for the providers: speech-to-text that answers 500, a quota
/// refusal, or the words the simulator put in the recording; an LLM out of quota.
async fn providers() -> String {
    const QUOTA: &str = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details."}}"#;
    let refuse = |code: u16, body: &'static str| {
        post(move || async move { (axum::http::StatusCode::from_u16(code).unwrap(), body) })
    };
    let app = Router::new()
        .route("/stt500/v1/audio/transcriptions", refuse(500, "{}"))
        .route("/stt429/v1/audio/transcriptions", refuse(429, QUOTA))
        .route("/llm429/v1/chat/completions", refuse(429, QUOTA))
        .route(
            "/ok/v1/audio/transcriptions",
            post(|body: axum::body::Bytes| async move {
                let said = said_in(&body).unwrap_or_default();
                serde_json::json!({ "text": said }).to_string()
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn openai(base: String) -> SttProvider {
    SttProvider::OpenAi {
        base_url: base,
        model: "whisper-1".into(),
        api_key: None,
        language: None,
    }
}

/// How `run` classifies.
fn classification(run: Run, providers: &str) -> Classification {
    let stt = |path: &str| openai(format!("{providers}/{path}"));
    match run {
        Run::Stt(code) => Classification::Providers {
            stt: stt(&format!("stt{code}")),
            intent: IntentProvider::Rules,
        },
        Run::LlmQuota => Classification::Providers {
            stt: stt("ok"),
            intent: IntentProvider::Llm(LlmIntent {
                base_url: format!("{providers}/llm429"),
                model: "m".into(),
                api_key: None,
            }),
        },
        Run::RecordingLost => Classification::Providers {
            stt: stt("ok"),
            intent: IntentProvider::Rules,
        },
        _ => Classification::Configured,
    }
}

/// A lead per call, numbered from `from` (the phone reaches the call's customer).
fn lead(i: usize, c: &Call) -> NewLead {
    NewLead {
        phone: number_for(&format!("+98912{i:05}"), c.customer).unwrap(),
        custom: c
            .custom
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..NewLead::default()
    }
}

/// What one call must have reached the panel as.
struct Expected {
    scenario: &'static str,
    row: &'static Row,
}

/// Runs `calls` (all of one `Run`) through a daemon of their own; the panel's
/// payloads, and what each lead's phone expects.
async fn play(
    run: Run,
    calls: Vec<(usize, &'static Row, &'static Call)>,
    providers: &str,
) -> (
    Vec<(Value, Vec<u8>, Option<String>)>,
    BTreeMap<String, Expected>,
) {
    let scenarios = ["salehi", "agrad", "reminder"].map(common::scenario);
    let mut sim = sim_config(&scenarios[0], SPEED);
    for s in &scenarios[1..] {
        sim.prompts.extend(sim_config(s, SPEED).prompts);
    }
    let sim = server::spawn(sim).await.expect("the simulator starts");
    let panel = Panel::start(Box::new(|_, _| None)).await;
    let dir = TempDir::new("delivery-outcomes");
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    let mut config = sim_dialflow_config(
        &sim.base_url,
        Duration::from_secs(2),
        Duration::from_secs(5),
    );
    config.scenarios = format!("{REPO}/scenarios").into();
    config.prompts = format!("{REPO}/prompts").into();
    if let Run::Operator(op) = run {
        config
            .operators
            .insert("sales".into(), format!("Local/{op}@sim-operators"));
    }
    let mut panel_config = PanelConfig::new(panel.url());
    panel_config.secret = Some(SECRET.into());
    config.panel = Some(panel_config);
    let mut expected = BTreeMap::new();
    let mut by_scenario: BTreeMap<&str, Vec<NewLead>> = BTreeMap::new();
    for (i, row, c) in &calls {
        let lead = lead(*i, c);
        expected.insert(
            lead.phone.clone(),
            Expected {
                scenario: c.scenario,
                row,
            },
        );
        by_scenario.entry(c.scenario).or_default().push(lead);
    }
    for (scenario, leads) in &by_scenario {
        let mut settings = CampaignSettings::for_scenario(scenario);
        settings.windows = BTreeMap::from([("daily".into(), vec!["00:00-24:00".into()])]);
        settings.pacing.max_per_second = 20.0;
        settings.max_attempts = 1;
        store.create_campaign(scenario, settings, 0).unwrap();
        store.import_leads(scenario, leads, 0).unwrap();
        store
            .transition(scenario, Transition::Start, None, 0)
            .unwrap();
    }
    let faults = sim.faults();
    match run {
        Run::OriginateRefused => faults.refuse_originates(1),
        Run::EventsLost => faults.lose_events_of_next_originates(1),
        Run::RecordingLost => faults.fail_next_requests("/file", 500, 1_000),
        _ => {}
    }
    let daemon = campaigns_daemon(config, &store, SPEED, true)
        .with_classification(classification(run, providers));
    // For the refused operator leg: once the customer's originate is through, refuse
    // the next one (the operator's).
    let refuse_operator = async {
        if run == Run::OperatorRefused {
            while sim.originates_received() < 1 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            sim.faults().refuse_originates(1);
        }
        std::future::pending::<()>().await
    };
    let ran = dialflow::daemon::run(daemon, std::future::pending());
    tokio::select! {
        ran = tokio::time::timeout(Duration::from_secs(120), ran) => {
            ran.expect("the campaigns end").expect("the daemon ran");
        }
        () = refuse_operator => {}
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.outbox_counts().unwrap().pending > 0 {
        assert!(
            Instant::now() < deadline,
            "{run:?}: reports left undelivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sim.shutdown().await;
    let received = panel
        .received()
        .into_iter()
        .map(|r| (r.json(), r.body, r.signature))
        .collect();
    (received, expected)
}

/// What is wrong with one payload, against its row.
fn problems(body: &Value, expected: &Expected) -> Vec<String> {
    let (row, scenario) = (expected.row, common::scenario(expected.scenario));
    let status = match row.status {
        "" => scenario.results.status_of(row.result).unwrap_or("FAILED"),
        status => status,
    };
    let live = expected.scenario == "agrad" && status == "CONNECTED";
    let answered = row.section != TELEPHONY || row.cell.starts_with("`hangup-early`");
    let said = body["user_message"].as_str().is_some_and(|m| !m.is_empty());
    let checks = [
        (body["status"] == status, "status"),
        (body["result"] == row.result, "result"),
        (
            body["reason"].as_str() == row.result.strip_prefix("failed:"),
            "reason",
        ),
        (
            said == row.transcript,
            "user_message (the transcript only with T)",
        ),
        (body["campaign"] == expected.scenario, "campaign"),
        (
            body["scenario"]["name"] == expected.scenario,
            "scenario.name",
        ),
        (
            body["scenario"]["hash"] == scenario.hash.0.as_str(),
            "scenario.hash",
        ),
        (body["answered_at"].is_null() != answered, "answered_at"),
        // Only a report made during the call (Agrad's bridged operator) has no end.
        (body["ended_at"].is_null() == live, "ended_at"),
        (
            body.get("custom_fields").is_none(),
            "custom_fields (not asked for)",
        ),
    ];
    checks
        .iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, what)| format!("{}: {what} wrong in {body}", row.cell))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_reaches_a_real_panel_exactly_as_the_matrix_says() {
    let providers = providers().await;
    let mut runs: BTreeMap<Run, Vec<(usize, &'static Row, &'static Call)>> = BTreeMap::new();
    let mut n = 0;
    for row in ROWS {
        for c in row.calls {
            runs.entry(c.run).or_default().push((n, row, c));
            n += 1;
        }
    }
    // Each run on a task of its own: the refused operator leg's watcher must not wait
    // while another run compiles its scenarios.
    let tasks: Vec<_> = runs
        .into_iter()
        .map(|(run, calls)| {
            let providers = providers.clone();
            tokio::spawn(async move { play(run, calls, &providers).await })
        })
        .collect();
    let mut played = Vec::new();
    for task in tasks {
        played.push(task.await.expect("a run"));
    }
    let text = std::fs::read_to_string(format!("{REPO}/docs/report.schema.json")).unwrap();
    let schema = jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap();
    let mut failures = Vec::new();
    let mut reports = 0;
    for (received, expected) in &played {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (body, raw, signature) in received {
            reports += 1;
            verify(signature.as_deref().expect("signed"), raw, SECRET);
            failures.extend(schema.iter_errors(body).map(|e| format!("{body}: {e}")));
            let phone = body["phone"].as_str().unwrap_or_default();
            *seen.entry(phone).or_default() += 1;
            match expected.get(phone) {
                Some(e) => failures.extend(problems(body, e)),
                None => failures.push(format!("a report for no call: {body}")),
            }
        }
        for (phone, e) in expected {
            if seen.get(phone.as_str()) != Some(&1) {
                failures.push(format!(
                    "{} ({}): {:?} reports, not one",
                    e.row.cell,
                    e.scenario,
                    seen.get(phone.as_str())
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(reports, n, "one report per call");
}
