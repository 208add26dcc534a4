//! A Salehi campaign against the simulated PBX over real sockets, classified through each
//! speech-to-text provider kind (OpenAI-compatible, generic HTTP, local program) and
//! through an LLM intent classifier. The simulator's recording files carry what the
//! customer said (`sim::server::with_said`), so these fake transcribers can "hear" it.
//! A silent customer's recording never reaches the speech-to-text provider.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use dialflow::ari::translate::Deployment;
use dialflow::classify::IntentProvider;
use dialflow::classify::llm::LlmIntent;
use dialflow::classify::metrics::Snapshot;
use dialflow::classify::stt::{SttProvider, Upload};
use dialflow::core::call::Lead;
use dialflow::runtime::batch::{self, Pace, PlannedCall};
use dialflow::sim::server::said_in;
use serde_json::Value;

mod common;
use common::{Classify, Live, scenario};

const SPEED: f64 = 25.0;
/// How long `/slow-vendor` takes to transcribe, in real time: half the Salehi filler
/// (`alo`, 4.1 s of call time) at `SPEED`.
const SLOW_STT: std::time::Duration = std::time::Duration::from_millis(82);

/// Fake providers: speech-to-text reads the said text from the WAV; the LLM looks for
/// words in the transcript it is given as data.
async fn providers() -> String {
    let app = Router::new()
        .route(
            "/openai/v1/audio/transcriptions",
            post(|body: Bytes| async move {
                serde_json::json!({ "text": said_in(&body).unwrap_or_default() }).to_string()
            }),
        )
        .route(
            "/vendor",
            post(|body: Bytes| async move {
                serde_json::json!({ "result": { "text": said_in(&body).unwrap_or_default() } })
                    .to_string()
            }),
        )
        .route(
            "/slow-vendor",
            post(|body: Bytes| async move {
                tokio::time::sleep(SLOW_STT).await;
                serde_json::json!({ "result": { "text": said_in(&body).unwrap_or_default() } })
                    .to_string()
            }),
        )
        .route(
            "/llm/v1/chat/completions",
            post(|body: String| async move {
                let request: Value = serde_json::from_str(&body).unwrap_or_default();
                let data: Value = serde_json::from_str(
                    request["messages"][1]["content"].as_str().unwrap_or("{}"),
                )
                .unwrap_or_default();
                let t = data["transcript"].as_str().unwrap_or("").to_lowercase();
                let intent = if t.contains("number") {
                    "number_question"
                } else if t.contains("no,") || t.starts_with("no") {
                    "no"
                } else if t.contains("yes") {
                    "yes"
                } else {
                    "unknown"
                };
                let content = serde_json::json!({ "intent": intent }).to_string();
                serde_json::json!({ "choices": [{ "message": { "content": content } }] })
                    .to_string()
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn campaign(stt: SttProvider, intent: IntentProvider) -> BTreeMap<String, String> {
    results(&campaign_outcomes(stt, intent).await.outcomes)
}

/// Each customer's result (by the attempt id without its `p`).
fn results(outcomes: &[dialflow::runtime::CallOutcome]) -> BTreeMap<String, String> {
    outcomes
        .iter()
        .map(|o| {
            (
                o.attempt_id.trim_start_matches('p').to_string(),
                o.summary.result.clone(),
            )
        })
        .collect()
}

/// A campaign's calls as the runtime finished them, with the scenario they ran and the
/// classifier's metrics.
struct Campaign {
    scenario: Arc<dialflow::core::scenario::Scenario>,
    outcomes: Vec<dialflow::runtime::CallOutcome>,
    metrics: Snapshot,
}

async fn campaign_outcomes(stt: SttProvider, intent: IntentProvider) -> Campaign {
    let scenario = scenario("salehi");
    let Live {
        sim,
        runtime,
        tasks,
    } = Live::start(&scenario, SPEED, Classify::Pipeline(stt, intent)).await;
    let customers = ["yes", "no", "number", "unknown", "silent"];
    let calls: Vec<PlannedCall> = customers
        .iter()
        .map(|c| PlannedCall {
            attempt_id: format!("p{}", c.replace('-', "")),
            lead: Lead::default(),
            deployment: Deployment::new("dialflow", &scenario, format!("Local/{c}@sim-customers")),
        })
        .collect();
    let outcomes = tokio::time::timeout(
        Duration::from_secs(60),
        batch::run_all(
            &runtime,
            Arc::clone(&scenario),
            calls,
            Pace::concurrent(10),
            tokio::sync::watch::channel(false).1,
            |_| {},
        ),
    )
    .await
    .unwrap();
    let metrics = runtime
        .classify_metrics()
        .expect("a pipeline keeps metrics");
    tasks.stop().await;
    sim.shutdown().await;
    Campaign {
        scenario,
        outcomes,
        metrics,
    }
}

fn expected() -> BTreeMap<String, String> {
    [
        ("yes", "connected_to_operator"),
        ("no", "not_interested"),
        ("number", "connected_to_operator"),
        ("unknown", "unknown"),
        ("silent", "hangup"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_compatible_stt_with_rules() {
    let base = providers().await;
    let stt = SttProvider::OpenAi {
        base_url: format!("{base}/openai"),
        model: "whisper-1".into(),
        api_key: None,
        language: None,
    };
    assert_eq!(campaign(stt, IntentProvider::Rules).await, expected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_http_stt_with_an_llm() {
    let base = providers().await;
    let stt = SttProvider::Http {
        url: format!("{base}/vendor"),
        upload: Upload::Raw,
        transcript_path: "result.text".into(),
        bearer: None,
    };
    let llm = IntentProvider::Llm(LlmIntent {
        base_url: format!("{base}/llm"),
        model: "m".into(),
        api_key: None,
    });
    assert_eq!(campaign(stt, llm).await, expected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_program_stt_with_rules() {
    // Reads the said text out of the WAV with standard tools only.
    let script = "tr -d '\\000' | grep -a -o 'said:[^|]*' | cut -d: -f2-";
    let stt = SttProvider::Command {
        program: "sh".into(),
        args: vec!["-c".into(), script.into()],
    };
    assert_eq!(campaign(stt, IntentProvider::Rules).await, expected());
}

/// The filler prompt covers the classification on the happy path: with the slowest
/// provider chain (HTTP speech-to-text, then an LLM), the call moves on from `understand`
/// as soon as the filler ends, never after a silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filler_covers_the_classification() {
    let base = providers().await;
    let stt = SttProvider::Http {
        url: format!("{base}/slow-vendor"),
        upload: Upload::Raw,
        transcript_path: "result.text".into(),
        bearer: None,
    };
    let llm = IntentProvider::Llm(LlmIntent {
        base_url: format!("{base}/llm"),
        model: "m".into(),
        api_key: None,
    });
    let Campaign {
        scenario, outcomes, ..
    } = campaign_outcomes(stt, llm).await;
    let filler = scenario.prompts["alo"].expect("the filler's length is known");
    let yes = outcomes.iter().find(|o| o.attempt_id == "pyes").unwrap();
    let path = &yes.summary.path;
    let at = |name: &str| {
        path.iter()
            .find(|s| scenario.node(s.node).name == name)
            .unwrap_or_else(|| panic!("the call went through {name}"))
            .at
            .0
    };
    let waited = at("say_yes") - at("understand");
    // The speech-to-text takes half the filler. Played one after the other they would
    // take the filler and that half; overlapping, the filler and a little (the playback's
    // start-up, event delivery: up to a quarter of the filler, about 40 ms of real time
    // at this speed, for a busy machine).
    let slow_stt = (SLOW_STT.as_secs_f64() * 1000.0 * SPEED) as u64;
    assert!(
        waited >= filler && waited < filler + slow_stt / 2,
        "understand took {waited} ms for a {filler} ms filler and a {slow_stt} ms transcription"
    );
}

/// A provider that counts its requests and, like a real recogniser (PocketSphinx on a
/// silent customer's recording said "oh"), hears a word in silence.
async fn counting_provider(heard: Arc<Mutex<Vec<String>>>) -> String {
    let app = Router::new().route(
        "/v1/audio/transcriptions",
        post(move |body: Bytes| async move {
            let said = said_in(&body).unwrap_or_default();
            heard.lock().unwrap().push(said.clone());
            let text = if said.trim().is_empty() { "oh" } else { &said };
            serde_json::json!({ "text": text }).to_string()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_customer_never_reaches_speech_to_text() {
    let heard: Arc<Mutex<Vec<String>>> = Arc::default();
    let stt = SttProvider::OpenAi {
        base_url: counting_provider(Arc::clone(&heard)).await,
        model: "whisper-1".into(),
        api_key: None,
        language: None,
    };
    let campaign = campaign_outcomes(stt, IntentProvider::Rules).await;
    assert_eq!(results(&campaign.outcomes), expected());
    let heard = heard.lock().unwrap().clone();
    // Every speaking customer's answer reached it (the number customer's twice); the
    // silent one's never did.
    assert_eq!(heard.len(), 5, "{heard:?}");
    assert!(
        heard.iter().all(|said| !said.trim().is_empty()),
        "{heard:?}"
    );
    assert_eq!(campaign.metrics.silent_skipped, 1);
    assert_eq!(campaign.metrics.latency["stt:openai"].count, 5);
}
