//! The reports over a real store: an agent's shift from their log (clipped to the
//! range), a campaign's answers, handle time, speed of answer and drops from its
//! attempts, and a lead's history with its disposition and notes, printed by
//! `dialflow report` as a table, CSV or JSON and answered by `/api/reports/…` to a
//! reader's token, the same numbers both ways.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::cli::{dialflow, ok};
use common::dirs::TempDir;
use dialflow::core::agents::AgentEvent;
use dialflow::core::campaign::settings::CampaignSettings;
use dialflow::http::auth::{Auth, Role, TokenSet};
use dialflow::http::{ApiState, router};
use dialflow::reports::{self, Range};
use dialflow::scenario_set::SharedScenarios;
use dialflow::store::campaigns::Transition;
use dialflow::store::{
    Admission, AttemptEnd, Disposition, Finished, LeadNext, NewAgent, NewDisposition, NewLead,
    Store,
};
use serde_json::Value;

const READ: &str = "reports-test-read-token-0123456789";
const STORE: &str = "data/dialflow.redb";
/// The shift's range as the commands and the API take it: [0, 40 s).
const FROM: &str = "1970-01-01";
const TO: &str = "1970-01-01T00:00:40Z";

/// Ann's shift (see `core::agent_time`'s tests) and three calls of `spring`: one she
/// took (answered at 3 s, bridged at 5 s, ended at 16 s, disposed `sale`), one dropped,
/// one busy. The lead id of her call.
fn shift(store: &Store) -> u64 {
    let ann = NewAgent {
        id: "ann".into(),
        name: "Ann".into(),
        endpoint: "PJSIP/ann".into(),
        queues: vec!["sales".into()],
        campaigns: Vec::new(),
    };
    store.put_agent(ann, 0).unwrap();
    store
        .create_campaign("spring", CampaignSettings::for_scenario("salehi"), 0)
        .unwrap();
    let leads: Vec<NewLead> = ["+15550001", "+15550002", "+15550003"]
        .map(|p| NewLead {
            phone: p.into(),
            ..NewLead::default()
        })
        .to_vec();
    store.import_leads("spring", &leads, 0).unwrap();
    store
        .transition("spring", Transition::Start, None, 0)
        .unwrap();
    let leased = store
        .lease("spring", 1_000, 3, 60_000, "salehi", "h", |_| {
            Admission::Dial
        })
        .unwrap();
    let call = leased[0].attempt.id.clone();
    for (at, event) in [
        (1_000, AgentEvent::Login),
        (2_000, AgentEvent::Ready),
        (
            5_000,
            AgentEvent::Reserve {
                attempt: call.clone(),
            },
        ),
        (6_000, AgentEvent::Bridged),
        (16_000, AgentEvent::CallEnded { wrap_up_ms: 30_000 }),
        (21_000, AgentEvent::Disposed),
        (
            25_000,
            AgentEvent::Break {
                reason: "lunch".into(),
            },
        ),
        (30_000, AgentEvent::Logout),
    ] {
        store.agent_event("ann", &event, at).unwrap();
    }
    let end = |result: &str, status: &str, answered: Option<u64>, ended_ms| AttemptEnd {
        result: result.into(),
        status: status.into(),
        answered_ms: answered,
        ended_ms,
        ..AttemptEnd::default()
    };
    let ends = [
        AttemptEnd {
            agent: Some("ann".into()),
            agent_bridged_ms: Some(5_000),
            ..end("connected_to_operator", "CONNECTED", Some(3_000), 16_000)
        },
        AttemptEnd {
            dropped: true,
            ..end("dropped", "MISSED", Some(3_000), 5_000)
        },
        end("busy", "BUSY", None, 2_000),
    ];
    let finished: Vec<Finished> = leased
        .iter()
        .zip(ends)
        .map(|(l, end)| Finished {
            attempt_id: l.attempt.id.clone(),
            end,
            reports: vec![],
        })
        .collect();
    store
        .finish(&finished, 16_000, |_, _| LeadNext::Done)
        .unwrap();
    let sale = NewDisposition {
        attempt_id: call,
        disposition: Disposition {
            code: "sale".into(),
            result: "interested".into(),
            status: "SALE".into(),
            notes: Some("yearly plan".into()),
            agent: "ann".into(),
            at_ms: 20_000,
            callback_at_ms: None,
            callback_agent: None,
            dnc: false,
        },
    };
    store
        .set_disposition(&sale, 20_000, |_, _| LeadNext::Done)
        .unwrap();
    leased[0].lead.id
}

fn range() -> Range {
    Range::parse(Some(FROM), Some(TO), u64::MAX).unwrap()
}

#[test]
fn the_reports_count_the_shift_the_calls_and_the_lead_s_history() {
    let dir = TempDir::new("reports");
    let store = Store::open(&dir.join(STORE)).unwrap();
    let lead = shift(&store);
    let agents = reports::agents(&store, range()).unwrap();
    let ann = &agents.agents[0];
    assert_eq!(
        (
            ann.login_ms,
            ann.wait_ms,
            ann.talk_ms,
            ann.wrap_up_ms,
            ann.pause_ms,
            ann.calls
        ),
        (29_000, 8_000, 10_000, 5_000, 6_000, 1)
    );
    let campaign = reports::campaign(&store, "spring", range()).unwrap();
    assert_eq!(
        (
            campaign.attempts,
            campaign.answered,
            campaign.bridged,
            campaign.dropped
        ),
        (3, 2, 1, 1)
    );
    assert_eq!(campaign.aht_ms, Some((13_000 + 2_000) / 2));
    assert_eq!(campaign.asa_ms, Some(2_000));
    assert_eq!(campaign.drop_rate, Some(0.5));
    assert_eq!(
        campaign.statuses,
        BTreeMap::from([("BUSY".into(), 1), ("MISSED".into(), 1), ("SALE".into(), 1)]),
        "the disposition's status stands for its call's"
    );
    assert_eq!(campaign.dispositions, BTreeMap::from([("sale".into(), 1)]));
    // Attempts that started outside the range are not counted.
    let later = Range::parse(Some("1970-01-01T00:00:02Z"), Some(TO), u64::MAX).unwrap();
    assert_eq!(
        reports::campaign(&store, "spring", later).unwrap().attempts,
        0
    );
    let history = reports::lead(&store, lead).unwrap();
    let first = &history.attempts[0];
    assert_eq!(
        (
            first.result.as_deref(),
            first.disposition.as_deref(),
            first.notes.as_deref()
        ),
        (Some("interested"), Some("sale"), Some("yearly plan"))
    );
    assert_eq!(first.agent.as_deref(), Some("ann"));
}

#[test]
fn dialflow_report_prints_a_table_csv_or_json() {
    let dir = TempDir::new("reports-cli");
    let lead = {
        let store = Store::open(&dir.join(STORE)).unwrap();
        shift(&store)
    };
    let csv = ok(
        dir.path(),
        &[
            "report", "agents", "--from", FROM, "--to", TO, "--format", "csv",
        ],
    );
    assert_eq!(
        csv,
        "agent,name,login,wait,talk,wrap_up,pause,calls,occupancy\n\
         ann,Ann,29.000,8.000,10.000,5.000,6.000,1,0.5172\n"
    );
    let table = ok(
        dir.path(),
        &["report", "campaign", "spring", "--from", FROM, "--to", TO],
    );
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for row in [
        vec!["asa", "0:00:02"],
        vec!["drop_rate", "50.0", "%"],
        vec!["disposition:sale", "1"],
    ] {
        assert!(rows.contains(&row), "{row:?} in\n{table}");
    }
    let json = ok(
        dir.path(),
        &["report", "lead", &lead.to_string(), "--format", "json"],
    );
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["attempts"][0]["notes"], "yearly plan");
    let bad = dialflow(dir.path(), &["report", "agents", "--from", "yesterday"]);
    assert!(!bad.status.success());
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(said.contains("`yesterday` is not a time"), "{said}");
}

#[tokio::test]
async fn the_api_answers_the_same_reports_to_a_reader() {
    let dir = TempDir::new("reports-api");
    let store = Arc::new(Store::open(&dir.join(STORE)).unwrap());
    let lead = shift(&store);
    let tokens = TokenSet::given([("grafana", Role::Read, READ)]).unwrap();
    let state = ApiState::new(
        Arc::clone(&store),
        SharedScenarios::new(BTreeMap::new()),
        Auth::new(tokens),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let client = common::bearer_client(READ);
    let get = |path: String| {
        let client = client.clone();
        async move {
            let response = client
                .get(format!("http://{addr}{path}"))
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let query = format!("from={FROM}&to={TO}");
    let (status, agents) = get(format!("/api/reports/agents?{query}")).await;
    assert_eq!(status, 200, "{agents}");
    let local = serde_json::to_value(reports::agents(&store, range()).unwrap()).unwrap();
    assert_eq!(agents, local);
    let (_, campaign) = get(format!("/api/reports/campaigns/spring?{query}")).await;
    assert_eq!(campaign["asa_ms"], 2_000);
    let (_, history) = get(format!("/api/reports/leads/{lead}")).await;
    assert_eq!(history["attempts"][0]["disposition"], "sale");
    let (status, refused) = get("/api/reports/agents?from=2030-01-01&to=2029-01-01".into()).await;
    assert_eq!(status, 400, "{refused}");
    let (status, _) = get("/api/reports/campaigns/autumn".into()).await;
    assert_eq!(status, 404);
}
