//! The agent API over real HTTP on loopback, with a real desk over a real store: an
//! agent's token acts as that agent only (login, ready, break, logout, each by the
//! rules, each in the agent log), a break needs a configured reason, a call waiting
//! for an agent gets them the moment they say ready, the routes answer 503 without a
//! desk, the WebSocket pushes an agent their own notices, their state first, and a
//! disposition closes the call in wrap-up: kept on the attempt, reported to the panel,
//! the lead moved on, the agent free again. The agent's current call shows its lead,
//! the lead's latest attempt and the campaign's script while it is reserved, on and in
//! wrap-up, and is a 404 without one; a hang-up wants a call on (409) and a runtime
//! (503); tests/agent_api_live.rs hangs up a real one.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::bearer_client;
use common::dirs::TempDir;
use dialflow::desk::{Desk, Ticket, WallClock};
use dialflow::http::auth::{Auth, Role, TokenSet};
use dialflow::http::{ApiState, router};
use dialflow::scenario_set::SharedScenarios;
use dialflow::store::{NewAgent, Store};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest as _};

const ANN: &str = "agent-api-ann-token-0123456789";
const BOB: &str = "agent-api-bob-token-0123456789";
/// A supervisor's (an admin's) token.
const BOSS: &str = "agent-api-boss-token-0123456789";
/// A token for an agent the store does not have.
const GHOST: &str = "agent-api-ghost-token-0123456789";

struct Api {
    _dir: TempDir,
    addr: SocketAddr,
    store: Arc<Store>,
    desk: Arc<Desk>,
}

/// The API with a desk (or without, `desk: false`) over a store holding ann (sales)
/// and bob (care).
async fn serve(desk: bool) -> Api {
    let dir = TempDir::new("agent-api");
    let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
    for (id, queue) in [("ann", "sales"), ("bob", "care")] {
        let agent = NewAgent {
            id: id.into(),
            name: id.to_uppercase(),
            endpoint: format!("PJSIP/{id}"),
            queues: vec![queue.into()],
            campaigns: vec!["spring".into()],
        };
        store.put_agent(agent, 0).unwrap();
    }
    let tokens = TokenSet::given([
        ("ann", Role::Agent, ANN),
        ("bob", Role::Agent, BOB),
        ("ghost", Role::Agent, GHOST),
        ("boss", Role::Admin, BOSS),
    ])
    .unwrap();
    let clock: WallClock = Arc::new(|| jiff::Timestamp::now().as_millisecond() as u64);
    let opened = Desk::open(Arc::clone(&store), clock).unwrap();
    let mut state = ApiState::new(
        Arc::clone(&store),
        SharedScenarios::new(BTreeMap::from([(
            "salehi".to_string(),
            common::scenario("salehi"),
        )])),
        Auth::new(tokens),
    );
    if desk {
        state = state.with_desk(Arc::clone(&opened));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    Api {
        _dir: dir,
        addr,
        store,
        desk: opened,
    }
}

impl Api {
    /// `method path` as the agent of `token`: the status and the JSON answer.
    async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request =
            bearer_client(token).request(method, format!("http://{}{path}", self.addr));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn post(&self, token: &str, path: &str) -> (u16, Value) {
        self.call(token, "POST", path, None).await
    }
}

#[tokio::test]
async fn an_agent_logs_in_gets_ready_takes_a_break_and_logs_out_through_the_desk() {
    let api = serve(true).await;
    let (status, me) = api.call(ANN, "GET", "/api/agent/me", None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (me["id"].as_str(), me["name"].as_str()),
        (Some("ann"), Some("ANN"))
    );
    assert_eq!(me["state"], "offline");
    assert_eq!(me["queues"], serde_json::json!(["sales"]));
    assert_eq!(me["campaigns"], serde_json::json!(["spring"]));

    let (status, me) = api.post(ANN, "/api/agent/ready").await;
    assert_eq!(status, 409, "offline: {me}");
    assert!(
        me["error"].as_str().unwrap().contains("only from a break"),
        "{me}"
    );

    for (path, state) in [
        ("/api/agent/login", "break:not_ready"),
        ("/api/agent/ready", "available"),
    ] {
        let (status, me) = api.post(ANN, path).await;
        assert_eq!(
            (status, me["state"].as_str()),
            (200, Some(state)),
            "{path}: {me}"
        );
    }
    let lunch = serde_json::json!({"reason": "lunch"});
    let (status, me) = api.call(ANN, "POST", "/api/agent/break", Some(lunch)).await;
    assert_eq!(
        (status, me["state"].as_str()),
        (200, Some("break:lunch")),
        "{me}"
    );
    let (status, me) = api.post(ANN, "/api/agent/logout").await;
    assert_eq!(
        (status, me["state"].as_str()),
        (200, Some("offline")),
        "{me}"
    );

    // Each change is in the store with its log entry, and it was ann's alone.
    let log: Vec<String> = api
        .store
        .agent_log("ann", 0, 100)
        .unwrap()
        .into_iter()
        .map(|e| format!("{}>{}", e.from, e.to))
        .collect();
    assert_eq!(
        log,
        [
            "offline>break:not_ready",
            "break:not_ready>available",
            "available>break:lunch",
            "break:lunch>offline"
        ]
    );
    assert!(api.store.agent_log("bob", 0, 100).unwrap().is_empty());
    assert_eq!(api.desk.agent("ann").unwrap().agent.state.name(), "offline");
}

#[tokio::test]
async fn a_break_needs_a_configured_reason_and_a_refused_one_changes_nothing() {
    let api = serve(true).await;
    api.post(ANN, "/api/agent/login").await;
    let nap = serde_json::json!({"reason": "nap"});
    let (status, answer) = api.call(ANN, "POST", "/api/agent/break", Some(nap)).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["error"],
        "`nap` is not a break reason: one of lunch, training, meeting, personal"
    );
    let (_, me) = api.call(ANN, "GET", "/api/agent/me", None).await;
    assert_eq!(me["state"], "break:not_ready");
    let (status, _) = api
        .call(ANN, "POST", "/api/agent/break", Some(serde_json::json!({})))
        .await;
    assert_eq!(status, 422, "no reason at all");
}

#[tokio::test]
async fn a_call_waiting_for_an_agent_gets_one_the_moment_they_are_ready() {
    let api = serve(true).await;
    let waiting = api.desk.request(Ticket {
        attempt: "a1".into(),
        queue: "sales".into(),
        agent: None,
        campaign: Some("spring".into()),
        wrap_up_ms: 30_000,
    });
    api.post(ANN, "/api/agent/login").await;
    let (status, me) = api.post(ANN, "/api/agent/ready").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me["state"], "reserved",
        "given the waiting call at once: {me}"
    );
    assert_eq!(me["attempt"], "a1");
    let got = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("woken")
        .unwrap();
    assert_eq!(got.agent, "ann");
    let (status, answer) = api.post(ANN, "/api/agent/logout").await;
    assert_eq!(status, 409, "a call pending: {answer}");
}

#[tokio::test]
async fn a_supervisor_sends_agents_to_breaks_and_logs_them_out_under_the_desk_s_rules() {
    let api = serve(true).await;
    let boss = |path: &'static str, reason: Option<&'static str>| {
        let body = reason.map(|r| serde_json::json!({ "reason": r }));
        api.call(BOSS, "POST", path, body)
    };
    let (status, answer) = boss("/api/agents/ann/break", Some("meeting")).await;
    assert_eq!(status, 409, "offline: nothing to break from: {answer}");
    let (status, answer) = boss("/api/agents/ann/break", Some("nap")).await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = boss("/api/agents/nobody/logout", None).await;
    assert_eq!(status, 404);
    // Only an admin: an agent's token may not act on another agent (nor on themself here).
    let (status, _) = api.post(ANN, "/api/agents/bob/logout").await;
    assert_eq!(status, 403);

    // With a call pending, a break waits for its end and a log-out is refused.
    api.post(ANN, "/api/agent/login").await;
    let _waiting = api.desk.request(Ticket {
        attempt: "a1".into(),
        queue: "sales".into(),
        agent: None,
        campaign: Some("spring".into()),
        wrap_up_ms: 30_000,
    });
    let (_, me) = api.post(ANN, "/api/agent/ready").await;
    assert_eq!(me["state"], "reserved", "{me}");
    let (status, answer) = boss("/api/agents/ann/logout", None).await;
    assert_eq!(status, 409, "a call pending: {answer}");
    let (status, ann) = boss("/api/agents/ann/break", Some("meeting")).await;
    assert_eq!(status, 200, "{ann}");
    assert_eq!(
        (&ann["state"], &ann["break_after"]),
        (&"reserved".into(), &"meeting".into())
    );

    // Free, they go at once; the desk holds it.
    api.post(BOB, "/api/agent/login").await;
    let (status, bob) = boss("/api/agents/bob/break", Some("training")).await;
    assert_eq!((status, &bob["state"]), (200, &"break:training".into()));
    let (status, bob) = boss("/api/agents/bob/logout", None).await;
    assert_eq!((status, &bob["state"]), (200, &"offline".into()));
    assert_eq!(api.desk.agent("bob").unwrap().agent.state.name(), "offline");
}

#[tokio::test]
async fn an_unknown_agent_is_a_404_and_no_desk_a_503() {
    let api = serve(true).await;
    let (status, answer) = api.post(GHOST, "/api/agent/login").await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("no agent `ghost`")
    );
    let without = serve(false).await;
    for path in ["/api/agent/me", "/api/agent/events"] {
        let (status, answer) = without.call(ANN, "GET", path, None).await;
        assert_eq!(status, 503, "{path}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains("no agent desk"));
    }
    let (status, _) = without.post(ANN, "/api/agent/login").await;
    assert_eq!(status, 503);
}

/// A WebSocket to the agent events as the agent of `token`.
async fn events(
    api: &Api,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = format!("ws://{}/api/agent/events", api.addr)
        .into_client_request()
        .unwrap();
    let bearer = format!("Bearer {token}").parse().unwrap();
    request.headers_mut().insert("authorization", bearer);
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    socket
}

/// The next notice, as JSON, within 5 s.
async fn next(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a notice within 5 s")
            .expect("the socket is open")
            .unwrap();
        if let tungstenite::Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test]
async fn the_websocket_pushes_an_agent_their_own_notices_their_state_first() {
    let api = serve(true).await;
    api.post(ANN, "/api/agent/login").await;
    let mut socket = events(&api, ANN).await;
    let first = next(&mut socket).await;
    assert_eq!(
        (&first["agent"], &first["event"], &first["state"]),
        (&"ann".into(), &"state".into(), &"break:not_ready".into()),
        "{first}"
    );
    // Bob's changes are not ann's to see: the next thing ann hears is her own.
    api.post(BOB, "/api/agent/login").await;
    api.post(BOB, "/api/agent/ready").await;
    api.post(ANN, "/api/agent/ready").await;
    let ready = next(&mut socket).await;
    assert_eq!(
        (&ready["agent"], &ready["state"]),
        (&"ann".into(), &"available".into()),
        "{ready}"
    );
    // A call assigned, answered and ended, as the desk tells it.
    let _agent = api.desk.request(Ticket {
        attempt: "a7".into(),
        queue: "sales".into(),
        agent: None,
        campaign: Some("spring".into()),
        wrap_up_ms: 30_000,
    });
    api.desk.bridged("a7");
    api.desk.finished("a7");
    let mut heard = Vec::new();
    for _ in 0..6 {
        let n = next(&mut socket).await;
        assert_eq!(n["agent"], "ann", "{n}");
        heard.push(format!(
            "{} {}",
            n["event"].as_str().unwrap(),
            n["state"].as_str().or(n["attempt"].as_str()).unwrap()
        ));
    }
    assert_eq!(
        heard,
        [
            "state reserved",
            "assigned a7",
            "state on_call",
            "answered a7",
            "state wrap_up",
            "ended a7"
        ]
    );
    socket
        .send(tungstenite::Message::Close(None))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_websocket_wants_an_agent_s_token() {
    let api = serve(true).await;
    let request = format!("ws://{}/api/agent/events", api.addr);
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!(
            "connected without a token: {:?}",
            other.map(|(_, r)| r.status())
        ),
    }
    let mut bob = events(&api, BOB).await;
    assert_eq!(next(&mut bob).await["agent"], "bob");
    // A page of another site may not open it with the agent's credentials; this
    // server's own page may.
    for (origin, status) in [
        ("http://evil.example".to_string(), 403),
        (format!("http://{}", api.addr), 101),
    ] {
        let mut request = format!("ws://{}/api/agent/events", api.addr)
            .into_client_request()
            .unwrap();
        let headers = request.headers_mut();
        headers.insert("authorization", format!("Bearer {BOB}").parse().unwrap());
        headers.insert("origin", origin.parse().unwrap());
        let got = match tokio_tungstenite::connect_async(request).await {
            Ok((_, response)) => response.status().as_u16(),
            Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
            Err(e) => panic!("{origin}: {e}"),
        };
        assert_eq!(got, status, "{origin}");
    }
}

/// Campaign `spring` (salehi) with its dispositions, running.
fn campaign(store: &Store) {
    use dialflow::core::campaign::settings::{CampaignSettings, DispositionSetting};
    let mut settings = CampaignSettings::for_scenario("salehi");
    settings.windows = BTreeMap::from([("daily".into(), vec!["00:00-24:00".into()])]);
    settings.script = "Good morning, this is Sara from the bank.".into();
    let d = |code: &str, result: &str, callback: bool, dnc: bool| DispositionSetting {
        code: code.into(),
        label: code.to_uppercase(),
        result: result.into(),
        callback,
        dnc,
    };
    settings.dispositions = vec![
        d("sale", "connected_to_operator", false, false),
        d("no", "not_interested", false, false),
        d("call_back", "unknown", true, false),
        d("remove", "banned", false, true),
        d("typo", "no_such_result", false, false),
    ];
    store.create_campaign("spring", settings, 0).unwrap();
    let transition = dialflow::store::campaigns::Transition::Start;
    store.transition("spring", transition, None, 0).unwrap();
}

/// A call to `phone` that ann (ready) takes and ends: she is in its wrap-up. The
/// dialer records its end (`CONNECTED`) unless `recorded` is false. Its attempt id.
async fn wrapped_up_call(api: &Api, phone: &str, recorded: bool) -> String {
    let lead = dialflow::store::NewLead {
        phone: phone.into(),
        ..Default::default()
    };
    api.store.import_leads("spring", &[lead], 0).unwrap();
    let now = jiff::Timestamp::now().as_millisecond() as u64;
    let leased = api
        .store
        .lease("spring", now, 1, 60_000, "salehi", "h", |_| {
            dialflow::store::Admission::Dial
        })
        .unwrap();
    let attempt = leased[0].attempt.id.clone();
    let (status, me) = api.post(ANN, "/api/agent/ready").await;
    assert_eq!(status, 200, "{me}");
    let ticket = Ticket {
        attempt: attempt.clone(),
        queue: "sales".into(),
        agent: None,
        campaign: Some("spring".into()),
        wrap_up_ms: 30_000,
    };
    assert_eq!(api.desk.request(ticket).await.unwrap().agent, "ann");
    api.desk.bridged(&attempt);
    api.desk.finished(&attempt);
    if recorded {
        record_end(&api.store, &attempt);
    }
    attempt
}

/// The dialer's record of the call's end: answered, `CONNECTED` reported.
fn record_end(store: &Store, attempt: &str) {
    let now = jiff::Timestamp::now().as_millisecond() as u64;
    let end = dialflow::store::AttemptEnd {
        result: "connected_to_operator".into(),
        status: "CONNECTED".into(),
        answered_ms: Some(now - 60_000),
        ended_ms: now,
        ..Default::default()
    };
    let finished = dialflow::store::Finished {
        attempt_id: attempt.into(),
        end,
        reports: vec![("CONNECTED".into(), "connected_to_operator".into(), None)],
    };
    store
        .finish(&[finished], now, |_, _| dialflow::store::LeadNext::Done)
        .unwrap();
}

async fn dispose(api: &Api, body: Value) -> (u16, Value) {
    api.call(ANN, "POST", "/api/agent/disposition", Some(body))
        .await
}

#[tokio::test]
async fn a_disposition_closes_the_call_reports_its_status_and_frees_the_agent() {
    let api = serve(true).await;
    campaign(&api.store);
    api.post(ANN, "/api/agent/login").await;
    let attempt = wrapped_up_call(&api, "+989120000001", true).await;
    let (_, me) = api.call(ANN, "GET", "/api/agent/me", None).await;
    assert_eq!(
        (me["state"].as_str(), me["attempt"].as_str()),
        (Some("wrap_up"), Some(attempt.as_str()))
    );

    let body = serde_json::json!({"code": "no", "notes": "has a plan already"});
    let (status, answer) = dispose(&api, body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["disposition"]["status"], "NOT_INTERESTED");
    assert_eq!(
        answer["agent"]["state"], "available",
        "free again: {answer}"
    );
    let kept = api
        .store
        .disposition(&attempt)
        .unwrap()
        .expect("on the attempt");
    assert_eq!(
        (kept.agent.as_str(), kept.notes.as_deref()),
        ("ann", Some("has a plan already"))
    );
    let reports = api.store.outbox(0, 10).unwrap();
    let statuses: Vec<&str> = reports.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(
        statuses,
        ["CONNECTED", "NOT_INTERESTED"],
        "the call's, then the disposition's"
    );
    let lead = &api.store.leads("spring", 0, 1).unwrap()[0];
    assert_eq!(lead.last_result.as_deref(), Some("not_interested"));
    let (status, answer) = dispose(&api, serde_json::json!({"code": "no"})).await;
    assert_eq!(status, 409, "no call in wrap-up any more: {answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("is available"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_disposition_is_checked_before_anything_is_written() {
    let api = serve(true).await;
    campaign(&api.store);
    api.post(ANN, "/api/agent/login").await;
    let attempt = wrapped_up_call(&api, "+989120000002", true).await;
    let in_an_hour = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    for (body, status, said) in [
        (
            serde_json::json!({"code": "maybe"}),
            400,
            "its codes: sale, no, call_back, remove, typo",
        ),
        (
            serde_json::json!({"code": "call_back"}),
            400,
            "give callback_at",
        ),
        (
            serde_json::json!({"code": "call_back", "callback_at": "2020-01-01T00:00:00Z"}),
            400,
            "in the past",
        ),
        (
            serde_json::json!({"code": "sale", "callback_at": in_an_hour.to_string()}),
            400,
            "does not call back",
        ),
        (
            serde_json::json!({"code": "typo"}),
            409,
            "not a result of the scenario `salehi`",
        ),
    ] {
        let (got, answer) = dispose(&api, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(said),
            "{body}: {answer}"
        );
    }
    assert!(api.store.disposition(&attempt).unwrap().is_none());
    let (_, me) = api.call(ANN, "GET", "/api/agent/me", None).await;
    assert_eq!(
        me["state"], "wrap_up",
        "still wrapping up: no call reaches her"
    );

    // A callback for her in an hour: the lead is due then, kept for ann.
    let body = serde_json::json!({"code": "call_back", "callback_at": in_an_hour.to_string(),
        "callback_for_me": true});
    let (status, answer) = dispose(&api, body).await;
    assert_eq!(status, 200, "{answer}");
    let lead = &api.store.leads("spring", 0, 1).unwrap()[0];
    let due = in_an_hour.as_millisecond() as u64;
    assert_eq!(
        lead.state,
        dialflow::store::LeadState::Pending { due_ms: due }
    );
    assert_eq!(lead.callback_agent.as_deref(), Some("ann"));
}

#[tokio::test]
async fn a_disposition_set_before_the_dialer_records_the_end_waits_for_it() {
    let api = Arc::new(serve(true).await);
    campaign(&api.store);
    api.post(ANN, "/api/agent/login").await;
    let attempt = wrapped_up_call(&api, "+989120000003", false).await;
    let waiting = {
        let api = Arc::clone(&api);
        tokio::spawn(async move { dispose(&api, serde_json::json!({"code": "remove"})).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "it waits for the end");
    record_end(&api.store, &attempt);
    let (status, answer) = waiting.await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(
        api.store
            .dnc_entry("spring", "+989120000003")
            .unwrap()
            .is_some()
    );
    assert_eq!(
        api.store.leads("spring", 0, 1).unwrap()[0].state,
        dialflow::store::LeadState::Dnc
    );
}

#[tokio::test]
async fn the_current_call_shows_its_lead_and_script_reserved_on_and_in_wrap_up() {
    let api = serve(true).await;
    campaign(&api.store);
    api.post(ANN, "/api/agent/login").await;
    let (status, answer) = api.call(ANN, "GET", "/api/agent/call", None).await;
    assert_eq!(status, 404, "no call yet: {answer}");
    assert!(answer["error"].as_str().unwrap().contains("holds no call"));

    let lead = dialflow::store::NewLead {
        phone: "+989120000009".into(),
        name: "Leila".into(),
        time_zone: Some("Asia/Tehran".into()),
        custom: BTreeMap::from([("plan".to_string(), "gold".to_string())]),
    };
    api.store.import_leads("spring", &[lead], 0).unwrap();
    let now = jiff::Timestamp::now().as_millisecond() as u64;
    let leased = api
        .store
        .lease("spring", now, 1, 60_000, "salehi", "h", |_| {
            dialflow::store::Admission::Dial
        })
        .unwrap();
    let attempt = leased[0].attempt.id.clone();
    api.post(ANN, "/api/agent/ready").await;
    let ticket = Ticket {
        attempt: attempt.clone(),
        queue: "sales".into(),
        agent: None,
        campaign: Some("spring".into()),
        wrap_up_ms: 30_000,
    };
    api.desk.request(ticket).await.unwrap();
    let call = |api: &Api| {
        let request = bearer_client(ANN).get(format!("http://{}/api/agent/call", api.addr));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let reserved = call(&api).await;
    assert_eq!(reserved["state"], "reserved");
    assert_eq!(reserved["attempt"], attempt.as_str());
    assert_eq!(reserved["campaign"], "spring");
    assert_eq!(reserved["number"], 1);
    assert_eq!(
        reserved["script"],
        "Good morning, this is Sara from the bank."
    );
    let lead = &reserved["lead"];
    assert_eq!(
        (&lead["name"], &lead["phone"], &lead["time_zone"]),
        (
            &Value::from("Leila"),
            &Value::from("+989120000009"),
            &Value::from("Asia/Tehran")
        )
    );
    assert_eq!(lead["custom"], serde_json::json!({"plan": "gold"}));
    assert_eq!(lead["attempts"], 0, "none ended yet");
    assert_eq!(
        lead["latest"],
        Value::Null,
        "no attempt of the lead ended yet"
    );

    api.desk.bridged(&attempt);
    let on = call(&api).await;
    assert_eq!(on["state"], "on_call");
    assert!(on["since_ms"].as_u64().unwrap() >= reserved["since_ms"].as_u64().unwrap());
    let (status, answer) = api.post(ANN, "/api/agent/hangup").await;
    assert_eq!(status, 503, "no runtime behind this API: {answer}");

    api.desk.finished(&attempt);
    record_end(&api.store, &attempt);
    let wrapping = call(&api).await;
    assert_eq!(wrapping["state"], "wrap_up");
    assert!(wrapping["wrap_up_until_ms"].as_u64().is_some());
    let latest = &wrapping["lead"]["latest"];
    assert_eq!(latest["start"]["id"], attempt.as_str(), "{wrapping}");
    assert_eq!(latest["end"]["result"], "connected_to_operator");
    assert_eq!(wrapping["lead"]["results"]["connected_to_operator"], 1);
    assert_eq!(wrapping["lead"]["attempts"], 1);
    let (status, answer) = api.post(ANN, "/api/agent/hangup").await;
    assert_eq!(status, 409, "in wrap-up, no call on: {answer}");

    let body = serde_json::json!({"code": "no"});
    assert_eq!(dispose(&api, body).await.0, 200);
    let (status, _) = api.call(ANN, "GET", "/api/agent/call", None).await;
    assert_eq!(status, 404, "free again");
    let (status, _) = api.post(ANN, "/api/agent/hangup").await;
    assert_eq!(status, 409);
}
