//! The simulated Asterisk over real loopback sockets: REST with reqwest, events with
//! tokio-tungstenite, as dialflow and the end-to-end tests will use it. Every wait is
//! bounded so a failure fails the test instead of hanging it.

use std::collections::HashMap;
use std::io::Cursor;
use std::time::{Duration, Instant};

use dialflow::sim::server::{self, SimConfig, SimHandle};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// Long enough for anything here at speed 100 (the longest call is 27 simulated seconds).
const WAIT: Duration = Duration::from_secs(5);
const APP: &str = "simtest";

type Events = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn start() -> SimHandle {
    let prompts = HashMap::from([("hello".to_string(), 300)]);
    server::spawn(SimConfig {
        app: APP.into(),
        speed: 100.0,
        prompts,
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts")
}

fn client() -> reqwest::Client {
    dialflow::tls::system_http_client()
}

/// Sends an authenticated ARI request; the status and the JSON body (`Null` when empty).
async fn ari(sim: &SimHandle, method: Method, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let request = client()
        .request(method, format!("{}{path}", sim.base_url))
        .basic_auth(sim.user(), Some(sim.password()))
        .query(query);
    send(request).await
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = timeout(WAIT, request.send())
        .await
        .expect("answered in time")
        .expect("the request went through");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a readable body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, body)
}

async fn originate(sim: &SimHandle, behaviour: &str, id: &str) -> (u16, Value) {
    let endpoint = format!("Local/{behaviour}@sim-customers");
    ari(
        sim,
        Method::POST,
        "/ari/channels",
        &[("endpoint", &endpoint), ("app", APP), ("channelId", id)],
    )
    .await
}

async fn connect(sim: &SimHandle) -> Events {
    let (ws, _) = timeout(WAIT, connect_async(sim.events_url()))
        .await
        .expect("connected in time")
        .expect("the events WebSocket opens");
    ws
}

/// The next event, skipping control frames.
async fn next_event(ws: &mut Events) -> Value {
    loop {
        let frame = timeout(WAIT, ws.next())
            .await
            .expect("an event in time")
            .expect("the socket stays open")
            .expect("a readable frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(&text).expect("events are JSON"),
            Message::Close(frame) => panic!("the socket closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Every event up to and including the first that matches.
async fn until(ws: &mut Events, matches: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let event = next_event(ws).await;
        let done = matches(&event);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

fn is(event: &Value, kind: &str, channel: &str) -> bool {
    event["type"] == kind && event["channel"]["id"] == channel
}

/// Whether the socket closes (close frame, end, or error) in time.
async fn closes(ws: &mut Events) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return false,
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

#[tokio::test]
async fn a_call_plays_records_and_ends_when_the_customer_hangs_up() {
    let sim = start().await;
    let mut ws = connect(&sim).await;

    let (status, body) = originate(&sim, "yes", "call-1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "call-1");
    assert_eq!(body["state"], "Down");

    let seen = until(&mut ws, |e| is(e, "StasisStart", "call-1")).await;
    assert!(
        seen.iter()
            .any(|e| e["type"] == "Dial" && e["peer"]["id"] == "call-1"),
        "a Dial comes before StasisStart: {seen:?}"
    );
    assert!(seen.iter().all(|e| e["application"] == APP), "{seen:?}");

    let (status, body) = ari(
        &sim,
        Method::POST,
        "/ari/channels/call-1/play/pb-1",
        &[("media", "sound:anyset/hello")],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let seen = until(&mut ws, |e| e["type"] == "PlaybackFinished").await;
    let started = seen
        .iter()
        .position(|e| e["type"] == "PlaybackStarted" && e["playback"]["id"] == "pb-1");
    assert!(started.is_some(), "{seen:?}");
    let finished = seen.last().expect("at least the match");
    assert_eq!(finished["playback"]["id"], "pb-1");
    assert_eq!(finished["playback"]["state"], "done");

    // Long enough a silence limit to catch the customer's answer 4.5 s after answering.
    let (status, body) = ari(
        &sim,
        Method::POST,
        "/ari/channels/call-1/record",
        &[
            ("name", "rec-1"),
            ("format", "wav"),
            ("maxDurationSeconds", "20"),
            ("maxSilenceSeconds", "5"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let seen = until(&mut ws, |e| e["type"] == "RecordingFinished").await;
    assert!(seen.iter().any(|e| e["type"] == "RecordingStarted"));
    assert_eq!(
        seen.last().expect("the match")["recording"]["name"],
        "rec-1"
    );

    let response = timeout(
        WAIT,
        client()
            .get(format!("{}/ari/recordings/stored/rec-1/file", sim.base_url))
            .basic_auth(sim.user(), Some(sim.password()))
            .send(),
    )
    .await
    .expect("in time")
    .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("ASCII"),
        "audio/wav"
    );
    let bytes = response.bytes().await.expect("the file");
    let wav = hound::WavReader::new(Cursor::new(bytes.to_vec())).expect("a WAV file");
    assert_eq!(wav.spec().sample_rate, 8_000);
    assert_eq!(wav.spec().channels, 1);
    assert_eq!(wav.spec().bits_per_sample, 16);
    // The customer spoke: the file has voice in it (0.8 s here).
    assert_eq!(wav.duration(), 6_400);
    assert_eq!(dialflow::classify::voice::voiced_ms(&bytes).unwrap(), 800);

    let (status, body) =
        send(client().get(format!("{}/sim/recordings/rec-1/transcript", sim.base_url))).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"transcript": "Yes, I am interested."}));

    let (status, body) = ari(&sim, Method::GET, "/ari/channels", &[]).await;
    assert_eq!(status, 200);
    assert!(
        body.as_array()
            .expect("a list")
            .iter()
            .any(|c| c["id"] == "call-1")
    );

    // `yes` hangs up 26.48 simulated seconds after answering.
    let seen = until(&mut ws, |e| is(e, "ChannelDestroyed", "call-1")).await;
    let request = seen
        .iter()
        .find(|e| is(e, "ChannelHangupRequest", "call-1"))
        .expect("a hang-up request first");
    assert_eq!(request["cause"], 16);
    assert!(request.get("soft").is_none(), "the customer's, not ours");
    assert!(seen.iter().any(|e| is(e, "StasisEnd", "call-1")));
    assert_eq!(seen.last().expect("the match")["cause"], 16);

    let (status, body) = ari(&sim, Method::DELETE, "/ari/channels/call-1", &[]).await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "Channel not found");
    sim.shutdown().await;
}

#[tokio::test]
async fn our_hang_up_ends_the_call() {
    let sim = start().await;
    let mut ws = connect(&sim).await;
    assert_eq!(originate(&sim, "yes", "bye-1").await.0, 200);
    until(&mut ws, |e| is(e, "StasisStart", "bye-1")).await;

    let (status, body) = ari(&sim, Method::DELETE, "/ari/channels/bye-1", &[]).await;
    assert_eq!((status, body), (204, Value::Null));
    let seen = until(&mut ws, |e| is(e, "ChannelDestroyed", "bye-1")).await;
    let kinds: Vec<&str> = seen
        .iter()
        .filter(|e| e["channel"]["id"] == "bye-1")
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["ChannelHangupRequest", "StasisEnd", "ChannelDestroyed"]
    );
    assert_eq!(seen.last().expect("the match")["cause"], 16);

    let (_, state) = send(client().get(format!("{}/sim/state", sim.base_url))).await;
    assert!(
        !state["live_channels"]
            .as_array()
            .expect("a list")
            .contains(&json!("bye-1")),
        "{state}"
    );
    assert_eq!(state["originates_received"], 1);
    assert!(state["events_sent"].as_u64().expect("a count") > 0);
}

#[tokio::test]
async fn credentials_are_required() {
    let sim = start().await;
    let url = format!("{}/ari/channels", sim.base_url);

    let (status, body) = send(client().get(&url)).await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({"message": "Authentication required"}));
    let (status, _) = send(client().get(&url).basic_auth(sim.user(), Some("wrong"))).await;
    assert_eq!(status, 401);
    let (status, _) = send(client().get(&url).query(&[("api_key", "dialflow:wrong")])).await;
    assert_eq!(status, 401);
    let (status, body) = send(
        client()
            .get(&url)
            .query(&[("api_key", "dialflow:dialflow")]),
    )
    .await;
    assert_eq!((status, body), (200, json!([])));

    let anonymous = format!("ws://{}/ari/events?app={APP}", sim.addr);
    match timeout(WAIT, connect_async(anonymous))
        .await
        .expect("in time")
    {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 401),
        other => panic!("expected 401, got {other:?}"),
    }
    let other_app = format!(
        "ws://{}/ari/events?app=someone-else&api_key=dialflow:dialflow",
        sim.addr
    );
    match timeout(WAIT, connect_async(other_app))
        .await
        .expect("in time")
    {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 400),
        other => panic!("expected 400, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let sim = start().await;
    assert_eq!(originate(&sim, "yes", "dup-1").await.0, 200);
    let (status, body) = originate(&sim, "yes", "dup-1").await;
    assert_eq!(status, 409);
    assert_eq!(
        body["message"],
        "Channel with given unique ID already exists"
    );

    // Parameters may come as a JSON body.
    let (status, body) = send(
        client()
            .post(format!("{}/ari/channels", sim.base_url))
            .basic_auth(sim.user(), Some(sim.password()))
            .json(&json!({"endpoint": "Local/yes@sim-customers", "app": APP, "channelId": "body-1", "timeout": 30})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "body-1");

    for bad in ["{\"endpoint\": ", "[1, 2]", "\"text\""] {
        let (status, body) = send(
            client()
                .post(format!("{}/ari/channels", sim.base_url))
                .basic_auth(sim.user(), Some(sim.password()))
                .header("content-type", "application/json")
                .body(bad),
        )
        .await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["message"].is_string(), "{body}");
    }
    let (status, body) = ari(&sim, Method::POST, "/ari/channels", &[("app", APP)]).await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Endpoint must be specified");
    let (status, _) = send(
        client()
            .get(format!("{}/ari/channels/%zz", sim.base_url))
            .basic_auth(sim.user(), Some(sim.password())),
    )
    .await;
    assert_eq!(status, 400);

    let (status, body) = ari(&sim, Method::GET, "/ari/recordings/stored/nope/file", &[]).await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "Recording not found");
    let (status, body) =
        send(client().get(format!("{}/sim/recordings/nope/transcript", sim.base_url))).await;
    assert_eq!(status, 404);
    assert!(body["message"].is_string());
    let (status, body) = send(
        client()
            .post(format!("{}/sim/faults", sim.base_url))
            .body("{\"no_such_fault\": 1}"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn a_busy_customer_ends_with_cause_17() {
    let sim = start().await;
    let mut ws = connect(&sim).await;
    assert_eq!(originate(&sim, "busy", "busy-1").await.0, 200);
    let seen = until(&mut ws, |e| is(e, "ChannelDestroyed", "busy-1")).await;
    let destroyed = seen.last().expect("the match");
    assert_eq!(destroyed["cause"], 17);
    assert_eq!(destroyed["cause_txt"], "User busy");
    assert!(!seen.iter().any(|e| e["type"] == "StasisStart"));
    assert!(
        seen.iter()
            .any(|e| e["type"] == "Dial" && e["dialstatus"] == "BUSY")
    );
}

#[tokio::test]
async fn dropped_websockets_close_and_clients_reconnect() {
    let sim = start().await;
    let mut ws = connect(&sim).await;
    sim.faults().drop_websockets();
    assert!(closes(&mut ws).await, "the handle's drop closes the socket");

    let mut ws = connect(&sim).await;
    let (status, _) = send(
        client()
            .post(format!("{}/sim/faults", sim.base_url))
            .json(&json!({"drop_websockets": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(closes(&mut ws).await, "POST /sim/faults closes it too");

    let mut ws = connect(&sim).await;
    assert_eq!(originate(&sim, "yes", "after-1").await.0, 200);
    until(&mut ws, |e| is(e, "StasisStart", "after-1")).await;
}

#[tokio::test]
async fn refused_originates_get_500() {
    let sim = start().await;
    sim.faults().refuse_originates(1);
    let (status, body) = originate(&sim, "yes", "refused-1").await;
    assert_eq!((status, body), (500, json!({"error": "Allocation failed"})));
    assert!(!sim.live_channels().await.contains(&"refused-1".to_string()));
    assert_eq!(originate(&sim, "yes", "refused-1").await.0, 200);
    assert_eq!(sim.originates_received(), 2);
}

#[tokio::test]
async fn failed_requests_match_method_and_path() {
    let sim = start().await;
    let (status, faults) = send(
        client()
            .post(format!("{}/sim/faults", sim.base_url))
            .json(&json!({"fail_next_requests": {"matching": "DELETE /ari/channels", "status": 503, "count": 2}})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(faults["fail_next_requests"][0]["count"], 2);

    assert_eq!(originate(&sim, "yes", "fail-1").await.0, 200);
    for _ in 0..2 {
        let (status, body) = ari(&sim, Method::DELETE, "/ari/channels/fail-1", &[]).await;
        assert_eq!(status, 503);
        assert!(body["message"].is_string());
    }
    assert_eq!(
        ari(&sim, Method::DELETE, "/ari/channels/fail-1", &[])
            .await
            .0,
        204
    );
    assert!(sim.faults().settings().fail_next_requests.is_empty());

    // The handle's way, on another route.
    sim.faults().fail_next_requests("GET /ari/channels", 500, 1);
    assert_eq!(ari(&sim, Method::GET, "/ari/channels", &[]).await.0, 500);
    assert_eq!(ari(&sim, Method::GET, "/ari/channels", &[]).await.0, 200);
}

#[tokio::test]
async fn events_of_lost_channels_never_arrive() {
    let sim = start().await;
    sim.faults().lose_events_for_channels(["lost-1"]);
    let mut ws = connect(&sim).await;
    assert_eq!(originate(&sim, "yes", "lost-1").await.0, 200);
    assert_eq!(originate(&sim, "yes", "kept-1").await.0, 200);
    // Events are in time order, and lost-1's were due first: had they been sent, they
    // would have arrived before kept-1's StasisStart.
    let seen = until(&mut ws, |e| is(e, "StasisStart", "kept-1")).await;
    let leaked: Vec<&Value> = seen
        .iter()
        .filter(|e| {
            let id = e["channel"]["id"]
                .as_str()
                .or(e["peer"]["id"].as_str())
                .unwrap_or("");
            id.starts_with("lost-1")
        })
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
    assert!(sim.events_lost() >= 5);
    assert!(sim.events_sent() > 0);
    // The channel itself is there: only its events are lost.
    assert!(sim.live_channels().await.contains(&"lost-1".to_string()));
}

#[tokio::test]
async fn a_timed_out_originate_is_done_but_never_answered() {
    let sim = start().await;
    let mut ws = connect(&sim).await;
    sim.faults().timeout_next_originates(1);
    let request = client()
        .post(format!("{}/ari/channels", sim.base_url))
        .basic_auth(sim.user(), Some(sim.password()))
        .query(&[
            ("endpoint", "Local/yes@sim-customers"),
            ("app", APP),
            ("channelId", "held-1"),
        ])
        .timeout(Duration::from_millis(400));
    let error = timeout(WAIT, request.send())
        .await
        .expect("the client gives up in time")
        .expect_err("never answered");
    assert!(error.is_timeout(), "{error}");
    // Yet the call was placed (and, 26 simulated seconds on, may already be over).
    until(&mut ws, |e| is(e, "StasisStart", "held-1")).await;
    assert_eq!(originate(&sim, "yes", "held-2").await.0, 200);

    // A request still held does not keep the server from shutting down.
    sim.faults().timeout_next_originates(1);
    let url = format!("{}/ari/channels", sim.base_url);
    let (user, password) = (sim.user().to_string(), sim.password().to_string());
    let pending = tokio::spawn(async move {
        client()
            .post(url)
            .basic_auth(user, Some(password))
            .query(&[("endpoint", "Local/yes@sim-customers"), ("app", APP)])
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    while sim.originates_received() < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    timeout(WAIT, sim.shutdown())
        .await
        .expect("shuts down in time");
    let answer = timeout(WAIT, pending)
        .await
        .expect("released in time")
        .expect("the task ran");
    assert!(
        matches!(answer, Ok(503) | Err(_)),
        "released by the shutdown: {answer:?}"
    );
}

#[tokio::test]
async fn rest_delay_holds_every_response() {
    let sim = start().await;
    sim.faults().set_rest_delay_ms(300);
    let started = Instant::now();
    assert_eq!(ari(&sim, Method::GET, "/ari/channels", &[]).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    sim.faults().set_rest_delay_ms(0);
    let started = Instant::now();
    assert_eq!(ari(&sim, Method::GET, "/ari/channels", &[]).await.0, 200);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn serve_runs_on_a_given_listener_until_told_to_stop() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("bound");
    // The faults handle given in the config steers the server it is given to.
    let faults = server::Faults::default();
    let config = SimConfig {
        faults: faults.clone(),
        ..SimConfig::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(server::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    faults.refuse_originates(1);
    let (status, body) = send(
        client()
            .post(format!("http://{addr}/ari/channels"))
            .basic_auth("dialflow", Some("dialflow"))
            .query(&[("endpoint", "Local/yes@sim-customers"), ("app", "dialflow")]),
    )
    .await;
    assert_eq!((status, body), (500, json!({"error": "Allocation failed"})));
    assert_eq!(faults.settings().refuse_originates, 0);

    stop.send(()).expect("the server is listening");
    timeout(WAIT, served)
        .await
        .expect("stops in time")
        .expect("the task ran")
        .expect("served without error");
}

/// `PUT /ari/applications/{app}/eventFilter` with a JSON body, as Asterisk takes it.
async fn set_filter(sim: &SimHandle, app: &str, filter: Value) -> (u16, Value) {
    let path = dialflow::ari::paths::application_event_filter(app);
    let url = format!("{}{path}", sim.base_url);
    let request = client()
        .put(url)
        .basic_auth(sim.user(), Some(sim.password()))
        .json(&filter);
    send(request).await
}

#[tokio::test]
async fn the_event_filter_keeps_back_the_types_the_application_did_not_ask_for() {
    let sim = start().await;
    let mut ws = connect(&sim).await;
    let allowed = json!([{"type": "StasisStart"}, {"type": "ChannelDestroyed"}]);
    // Another application, a list that is not one, an entry without a type: refused.
    let (status, _) = set_filter(&sim, "other", json!({ "allowed": allowed })).await;
    assert_eq!(status, 404);
    let (status, body) = set_filter(&sim, APP, json!({"allowed": {"type": "Dial"}})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("allowed"),
        "{body}"
    );
    let (status, _) = set_filter(&sim, APP, json!({"disallowed": [{"kind": "Dial"}]})).await;
    assert_eq!(status, 400);

    let (status, app) = set_filter(&sim, APP, json!({ "allowed": allowed })).await;
    assert_eq!(status, 200, "{app}");
    assert_eq!(
        (&app["name"], &app["events_allowed"]),
        (&json!(APP), &allowed)
    );
    assert_eq!(app["events_disallowed"], json!([]));

    // A request over the socket: its answer, a `RESTResponse`, is filtered out too.
    let request =
        json!({"type": "RESTRequest", "request_id": "r1", "method": "GET", "uri": "channels"});
    futures_util::SinkExt::send(&mut ws, Message::text(request.to_string()))
        .await
        .expect("the request is written");
    assert_eq!(originate(&sim, "yes", "filtered-1").await.0, 200);
    until(&mut ws, |e| is(e, "StasisStart", "filtered-1")).await;
    let (status, _) = ari(&sim, Method::DELETE, "/ari/channels/filtered-1", &[]).await;
    assert_eq!(status, 204);
    let seen = until(&mut ws, |e| is(e, "ChannelDestroyed", "filtered-1")).await;
    let kinds: Vec<&str> = seen.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(
        kinds
            .iter()
            .all(|k| ["StasisStart", "ChannelDestroyed"].contains(k)),
        "{kinds:?}"
    );
    let (_, state) = send(client().get(format!("{}/sim/state", sim.base_url))).await;
    // Dial, ChannelStateChange, ChannelHangupRequest, StasisEnd, the RESTResponse…
    assert!(state["events_filtered"].as_u64().unwrap() >= 5, "{state}");
    assert_eq!(state["event_filter"]["events_allowed"], allowed);

    // An empty body clears the filter: every type comes again.
    assert_eq!(set_filter(&sim, APP, json!({})).await.0, 200);
    assert_eq!(originate(&sim, "yes", "filtered-2").await.0, 200);
    let seen = until(&mut ws, |e| is(e, "StasisStart", "filtered-2")).await;
    assert!(seen.iter().any(|e| e["type"] == "Dial"), "{seen:?}");
}
