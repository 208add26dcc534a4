//! Agents' own calls through the daemon on the simulator: a manual call dials the
//! number the agent typed with the campaign's prefix and caller id applied by
//! dialflow, a number on a DNC list or a campaign the agent may not work is refused, a
//! preview shows the next lead and dials it for the agent who saw it, and a callback a
//! disposition kept for one agent is dialed at its time, for that agent.

mod common;
use common::call_centre::{CallCentre, Plan, call_centre, yes_customers};

use std::time::Duration;

use dialflow::core::agents::AgentEvent;
use dialflow::core::campaign::settings::{CampaignSettings, DialMode, DispositionSetting};
use dialflow::sim::behaviours::number_for;
use dialflow::store::{DncScope, NewAgent};
use serde_json::{Value, json};

/// A preview-mode campaign (the dialer places nothing by itself) with a prefix and a
/// caller id of its own.
fn preview_campaign(centre: &CallCentre, name: &str, leads: Vec<String>) {
    centre.campaign(name, DialMode::Preview, 1.0, leads);
    let mut settings: CampaignSettings = centre.store.campaign(name).unwrap().settings;
    settings.dial_prefix = Some("0".into());
    settings.caller_id = Some("+982100000000".into());
    centre.store.update_settings(name, settings, 0).unwrap();
}

async fn post(centre: &CallCentre, agent: usize, path: &str, body: Value) -> (u16, Value) {
    let response = centre
        .agent(agent)
        .post(centre.daemon.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_call_dials_the_typed_number_the_campaigns_way_and_puts_it_through() {
    let centre = call_centre(Plan::new("agent-manual", 1)).await;
    preview_campaign(&centre, "manual", Vec::new());
    centre.start("manual").await;
    // Typed nationally, with spaces: E.164 in the campaign's region (IR).
    let typed = number_for("0912 000 00", "yes").unwrap();
    let (status, placed) = post(
        &centre,
        0,
        "/api/agent/dial",
        json!({"campaign": "manual", "number": typed}),
    )
    .await;
    assert_eq!(status, 201, "{placed}");
    let attempt = placed["attempt"].as_str().unwrap().to_string();
    assert_eq!(placed["phone"], "+989120000000");
    // Dialed by dialflow with the campaign's prefix and caller id, never the agent's.
    let dialed = centre.dialed(&format!("{attempt}-c")).await;
    assert_eq!(dialed.endpoint, "Local/0989120000000@sim-customers");
    assert_eq!(dialed.caller_id.as_deref(), Some("+982100000000"));
    centre.ended("manual", 1).await;
    let end = centre.attempts("manual")[0].end.clone().unwrap();
    assert_eq!(end.result, "connected_to_operator");
    assert_eq!(
        end.agent.as_deref(),
        Some("ag0"),
        "put through to the agent who dialed"
    );
    centre.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_calls_respect_the_dnc_lists_and_the_agents_campaigns() {
    let centre = call_centre(Plan::new("agent-manual-refused", 1)).await;
    preview_campaign(&centre, "manual", Vec::new());
    preview_campaign(&centre, "other", Vec::new());
    centre.start("manual").await;
    let blocked = "+989120000099";
    centre
        .store
        .add_dnc(&DncScope::Global, &[blocked.to_string()], "asked", 0)
        .unwrap();
    let (status, body) = post(
        &centre,
        0,
        "/api/agent/dial",
        json!({"campaign": "manual", "number": "09120000099"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("do-not-call"));
    let (status, body) = post(
        &centre,
        0,
        "/api/agent/dial",
        json!({"campaign": "manual", "number": "not a number"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // ag0 may work `manual` only.
    let agent = NewAgent {
        id: "ag0".into(),
        name: "Agent 0".into(),
        endpoint: "Local/ag0@sim-agents".into(),
        queues: vec!["sales".into()],
        campaigns: vec!["manual".into()],
    };
    centre.store.put_agent(agent, 0).unwrap();
    centre.desk.refresh_agent("ag0").unwrap();
    let (status, body) = post(
        &centre,
        0,
        "/api/agent/dial",
        json!({"campaign": "other", "number": "09120000000"}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(centre.attempts("manual").is_empty(), "nothing was dialed");
    assert!(centre.attempts("other").is_empty());
    centre.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_shows_the_next_lead_and_dials_it_for_the_agent_who_saw_it() {
    let centre = call_centre(Plan::new("agent-preview", 2)).await;
    preview_campaign(&centre, "pv", yes_customers(2));
    centre.start("pv").await;
    // In preview mode the dialer places nothing by itself.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(centre.attempts("pv").is_empty());
    let lead: Value = centre
        .agent(1)
        .get(centre.daemon.url("/api/agent/preview?campaign=pv"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = lead["id"].as_u64().expect("a lead");
    let (status, placed) = post(
        &centre,
        1,
        "/api/agent/dial",
        json!({"campaign": "pv", "lead": id}),
    )
    .await;
    assert_eq!(status, 201, "{placed}");
    // The same lead again: being dialed already.
    let (status, _) = post(
        &centre,
        0,
        "/api/agent/dial",
        json!({"campaign": "pv", "lead": id}),
    )
    .await;
    assert_eq!(status, 409);
    centre.ended("pv", 1).await;
    let end = centre.attempts("pv")[0].end.clone().unwrap();
    assert_eq!(
        end.agent.as_deref(),
        Some("ag1"),
        "the agent who previewed it"
    );
    centre.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_for_one_agent_is_dialed_at_its_time_for_that_agent() {
    // Wrap-ups are the agents' own here: the harness would close them after an hour.
    let plan = Plan {
        wrap_up: Duration::from_secs(3_600),
        ..Plan::new("agent-callback", 2)
    };
    let centre = call_centre(plan).await;
    centre
        .desk
        .act(
            "ag1",
            AgentEvent::Break {
                reason: "lunch".into(),
            },
        )
        .unwrap();
    centre.campaign("cb", DialMode::Progressive, 1.0, yes_customers(1));
    let mut settings = centre.store.campaign("cb").unwrap().settings;
    settings.wrap_up = "1h".into();
    settings.dispositions = vec![DispositionSetting {
        code: "later".into(),
        label: "Call me later".into(),
        result: "missed".into(),
        callback: true,
        dnc: false,
    }];
    centre.store.update_settings("cb", settings, 0).unwrap();
    centre.start("cb").await;
    centre.ended("cb", 1).await;
    // ag0 took the call; they set a callback for themselves a minute from now.
    let at = jiff::Timestamp::from_millisecond(centre.clock.wall_ms() as i64 + 60_000).unwrap();
    let (status, body) = post(
        &centre,
        0,
        "/api/agent/disposition",
        json!({"code": "later", "callback_at": at.to_string(), "callback_for_me": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // ag0 goes on a break, ag1 is ready: the callback is ag0's, so it waits for them.
    centre
        .desk
        .act(
            "ag0",
            AgentEvent::Break {
                reason: "lunch".into(),
            },
        )
        .unwrap();
    centre.desk.act("ag1", AgentEvent::Ready).unwrap();
    let minute = Duration::from_secs(60).div_f64(centre.clock.speed());
    tokio::time::sleep(minute.mul_f64(0.6)).await;
    assert_eq!(centre.attempts("cb").len(), 1, "not before its time");
    tokio::time::sleep(minute.mul_f64(0.8)).await;
    assert_eq!(
        centre.attempts("cb").len(),
        1,
        "its time has come, but ag0 is away"
    );
    centre.desk.act("ag0", AgentEvent::Ready).unwrap();
    centre.ended("cb", 2).await;
    let again = centre.attempts("cb")[1].end.clone().unwrap();
    assert_eq!(
        again.agent.as_deref(),
        Some("ag0"),
        "the agent who asked for it"
    );
    assert_eq!(again.result, "connected_to_operator");
    centre.daemon.stop().await;
}
