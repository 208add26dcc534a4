//! The simulator's saturation model over real loopback sockets, in raw ARI (reqwest and
//! tokio-tungstenite, not dialflow's runtime): at or under its capacity nothing
//! degrades; just past it REST and events slow while media is still whole; at twice
//! the capacity prompts play longer than their audio, recordings lose audio and the
//! customer's words, REST answers come late and events lag, and the simulator's
//! counters agree; back under capacity it recovers.
//!
//! Times in events are read from their ARI timestamps, which the simulator sets to when
//! each event happened: the gap between two of them is the model's, to the millisecond,
//! however loaded the machine running the test is.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dialflow::sim::saturation::Spoiled;
use dialflow::sim::server::{self, SimConfig, SimHandle};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

const APP: &str = "sattest";
const CAPACITY: usize = 4;
/// Compressed, but not so much that the model's delays (1 simulated s at twice the
/// capacity: 200 real ms) drown in the machine's own scheduling noise.
const SPEED: f64 = 5.0;
const PROMPT_MS: u64 = 2_000;
const WAIT: Duration = Duration::from_secs(10);
/// What the model holds REST and events back by at twice the capacity, in real time.
const SATURATED_DELAY: Duration = Duration::from_millis((1_000.0 / SPEED) as u64);

type Events = WebSocketStream<MaybeTlsStream<TcpStream>>;

mod common;
use common::process;

async fn start(capacity: usize) -> SimHandle {
    server::spawn(SimConfig {
        app: APP.into(),
        speed: SPEED,
        prompts: HashMap::from([("hello".to_string(), PROMPT_MS)]),
        capacity: Some(capacity),
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts")
}

/// An authenticated ARI request: its status, JSON body (`Null` when empty) and how long
/// the answer took.
async fn ari(
    sim: &SimHandle,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
) -> (u16, Value, Duration) {
    let request = dialflow::tls::system_http_client()
        .request(method, format!("{}{path}", sim.base_url))
        .basic_auth(sim.user(), Some(sim.password()))
        .query(query);
    let sent = Instant::now();
    let response = timeout(WAIT, request.send())
        .await
        .expect("answered in time")
        .expect("the request went through");
    let took = sent.elapsed();
    let status = response.status().as_u16();
    let text = response.text().await.expect("a readable body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, body, took)
}

async fn get_json(url: String) -> Value {
    let response = timeout(WAIT, dialflow::tls::system_http_client().get(url).send())
        .await
        .expect("answered in time")
        .expect("the request went through");
    response.json().await.expect("JSON")
}

/// An event and how late it arrived against its own timestamp (real ms).
struct Arrived {
    event: Value,
    late_ms: i64,
}

async fn next_event(ws: &mut Events) -> Arrived {
    loop {
        let frame = timeout(WAIT, ws.next())
            .await
            .expect("an event in time")
            .expect("the socket stays open")
            .expect("a readable frame");
        if let Message::Text(text) = frame {
            let event: Value = serde_json::from_str(&text).expect("events are JSON");
            let late_ms = jiff::Timestamp::now().as_millisecond() - stamp_ms(&event);
            return Arrived { event, late_ms };
        }
    }
}

/// Milliseconds since the epoch of an event's `timestamp`.
fn stamp_ms(event: &Value) -> i64 {
    let stamp = event["timestamp"].as_str().expect("a timestamp");
    jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", stamp)
        .and_then(|t| t.to_timestamp())
        .expect("an ARI timestamp")
        .as_millisecond()
}

/// Every event up to and including the first that matches.
async fn until(ws: &mut Events, matches: impl Fn(&Value) -> bool) -> Vec<Arrived> {
    let mut seen = Vec::new();
    loop {
        let arrived = next_event(ws).await;
        let done = matches(&arrived.event);
        seen.push(arrived);
        if done {
            return seen;
        }
    }
}

/// Originates customers `behaviour` as `ids` and waits until all are up.
async fn answered(sim: &SimHandle, ws: &mut Events, behaviour: &str, ids: &[String]) {
    let endpoint = format!("Local/{behaviour}@sim-customers");
    for id in ids {
        let (status, body, _) = ari(
            sim,
            Method::POST,
            "/ari/channels",
            &[("endpoint", &endpoint), ("app", APP), ("channelId", id)],
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let mut waiting: Vec<&String> = ids.iter().collect();
    while !waiting.is_empty() {
        let arrived = next_event(ws).await;
        if arrived.event["type"] == "StasisStart" {
            waiting.retain(|id| arrived.event["channel"]["id"] != id.as_str());
        }
    }
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// What one prompt and the recording after it looked like to a client.
struct Probe {
    /// PlaybackStarted to PlaybackFinished, in simulated ms (1 ms short of the audio).
    playback_ms: i64,
    /// RecordingStarted to RecordingFinished, in simulated ms.
    recording_ran_ms: i64,
    /// RecordingFinished's `duration`, in ms.
    recording_duration_ms: i64,
    transcript: String,
    /// The quicker of the two REST answers.
    rest: Duration,
    /// How late the call's events arrived against their timestamps, real ms.
    lateness_ms: Vec<i64>,
}

impl Probe {
    fn median_lateness_ms(&self) -> i64 {
        let mut late = self.lateness_ms.clone();
        late.sort_unstable();
        late[late.len() / 2]
    }
}

/// Plays the prompt on `channel` (a `yes` customer just answered), then records the
/// answer (queued after the prompt, with a silence limit long enough to catch the
/// customer's words 4.5 s after answering).
async fn probe(sim: &SimHandle, ws: &mut Events, channel: &str) -> Probe {
    let (status, body, play_took) = ari(
        sim,
        Method::POST,
        &format!("/ari/channels/{channel}/play/pb-{channel}"),
        &[("media", "sound:any/hello")],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body, record_took) = ari(
        sim,
        Method::POST,
        &format!("/ari/channels/{channel}/record"),
        &[
            ("name", &format!("rec-{channel}")),
            ("format", "wav"),
            ("maxDurationSeconds", "30"),
            ("maxSilenceSeconds", "5"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let seen = until(ws, |e| {
        e["type"] == "RecordingFinished" && e["recording"]["name"] == format!("rec-{channel}")
    })
    .await;
    let mine: Vec<&Arrived> = seen.iter().filter(|a| about(&a.event, channel)).collect();
    let stamp_of = |kind: &str| {
        let event = mine
            .iter()
            .find(|a| a.event["type"] == kind)
            .unwrap_or_else(|| panic!("a {kind} for {channel}"));
        stamp_ms(&event.event)
    };
    let sim_ms = |real: i64| (real as f64 * SPEED).round() as i64;
    let finished = &mine.last().expect("the RecordingFinished").event;
    let said = get_json(format!(
        "{}/sim/recordings/rec-{channel}/transcript",
        sim.base_url
    ))
    .await;
    Probe {
        playback_ms: sim_ms(stamp_of("PlaybackFinished") - stamp_of("PlaybackStarted")),
        recording_ran_ms: sim_ms(stamp_of("RecordingFinished") - stamp_of("RecordingStarted")),
        recording_duration_ms: finished["recording"]["duration"]
            .as_i64()
            .expect("duration")
            * 1000,
        transcript: said["transcript"].as_str().expect("a transcript").into(),
        rest: play_took.min(record_took),
        lateness_ms: mine.iter().map(|a| a.late_ms).collect(),
    }
}

/// Whether a playback or recording event is about `channel`.
fn about(event: &Value, channel: &str) -> bool {
    let target = format!("channel:{channel}");
    ["playback", "recording"]
        .iter()
        .any(|k| event[k]["target_uri"] == target.as_str())
}

/// The ARI timestamps are in whole ms, so a gap of them read in simulated time is off
/// by up to this much.
const STAMP_SLACK_MS: i64 = 2 * SPEED as i64;

async fn state(sim: &SimHandle) -> Spoiled {
    let state = get_json(format!("{}/sim/state", sim.base_url)).await;
    let spoiled: Spoiled = sim.saturation().await;
    // The state served agrees with the handle's accessor.
    let served: Spoiled =
        serde_json::from_value(state["saturation"].clone()).expect("GET /sim/state");
    assert_eq!(served, spoiled, "GET /sim/state");
    spoiled
}

fn assert_undegraded(probe: &Probe) {
    assert!(
        (probe.playback_ms - (PROMPT_MS as i64 - 1)).abs() <= STAMP_SLACK_MS,
        "the prompt played for its audio's length, not {} ms",
        probe.playback_ms
    );
    assert!(
        probe.recording_duration_ms >= probe.recording_ran_ms - STAMP_SLACK_MS,
        "the recording kept all it ran for: {} ms of {} ms",
        probe.recording_duration_ms,
        probe.recording_ran_ms
    );
    assert_eq!(probe.transcript, "Yes, I am interested.");
    assert!(
        probe.rest < SATURATED_DELAY,
        "REST answered promptly, not in {:?}",
        probe.rest
    );
    assert!(
        probe.median_lateness_ms() < SATURATED_DELAY.as_millis() as i64,
        "events came on time, not {:?} ms late",
        probe.lateness_ms
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_capacity_nothing_degrades() {
    let sim = start(CAPACITY).await;
    let (mut ws, _) = connect_async(sim.events_url()).await.expect("connects");
    answered(&sim, &mut ws, "number", &ids("load", CAPACITY - 1)).await;
    answered(&sim, &mut ws, "yes", &["probe".to_string()]).await;
    let probe = probe(&sim, &mut ws, "probe").await;
    assert_undegraded(&probe);
    let spoiled = state(&sim).await;
    assert_eq!(
        spoiled,
        Spoiled {
            capacity: Some(CAPACITY),
            load: CAPACITY,
            peak_load: CAPACITY,
            ..Spoiled::default()
        },
        "nothing spoiled"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn just_past_the_capacity_rest_and_events_slow_before_media_degrades() {
    // 10 % over: REST and events 100 simulated ms late, within media's headroom.
    let sim = start(10).await;
    let (mut ws, _) = connect_async(sim.events_url()).await.expect("connects");
    answered(&sim, &mut ws, "number", &ids("load", 10)).await;
    answered(&sim, &mut ws, "yes", &["probe".to_string()]).await;
    let probe = probe(&sim, &mut ws, "probe").await;
    assert_undegraded(&probe);
    let delay = Duration::from_millis((100.0 / SPEED) as u64);
    assert!(probe.rest >= delay, "REST is slower: {:?}", probe.rest);
    assert!(
        probe
            .lateness_ms
            .iter()
            .all(|late| *late >= delay.as_millis() as i64 - 1),
        "events lag: {:?} ms",
        probe.lateness_ms
    );
    let spoiled = state(&sim).await;
    assert_eq!(
        spoiled,
        Spoiled {
            capacity: Some(10),
            load: 11,
            peak_load: 11,
            peak_rest_delay_ms: 100,
            peak_event_lag_ms: 100,
            ..Spoiled::default()
        },
        "distress shows, nothing is spoiled"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_twice_the_capacity_prompts_stretch_recordings_are_cut_and_the_pbx_lags() {
    let sim = start(CAPACITY).await;
    let (mut ws, _) = connect_async(sim.events_url()).await.expect("connects");
    answered(&sim, &mut ws, "number", &ids("load", 2 * CAPACITY - 1)).await;
    answered(&sim, &mut ws, "yes", &["probe".to_string()]).await;
    let probe = probe(&sim, &mut ws, "probe").await;

    // Twice the capacity is an overload of 1, 0.8 past media's headroom: media runs
    // 1.24 times slower.
    let stretched = (PROMPT_MS as f64 * 1.24) as i64 - 1;
    assert!(
        (probe.playback_ms - stretched).abs() <= STAMP_SLACK_MS,
        "a {PROMPT_MS} ms prompt played for {} ms, not {stretched}",
        probe.playback_ms
    );
    let kept = (probe.recording_ran_ms as f64 / 1.24) as i64;
    assert!(
        probe.recording_duration_ms < probe.recording_ran_ms
            && probe.recording_duration_ms <= kept + 1000,
        "a recording that ran {} ms kept {} ms (about {kept} ms expected)",
        probe.recording_ran_ms,
        probe.recording_duration_ms
    );
    assert_eq!(
        probe.transcript, "Yes, I am",
        "the customer's last word is lost"
    );
    assert!(
        probe.rest >= SATURATED_DELAY,
        "REST answers are held back: {:?}",
        probe.rest
    );
    assert!(
        probe
            .lateness_ms
            .iter()
            .all(|late| *late >= SATURATED_DELAY.as_millis() as i64 - 1),
        "every event comes late: {:?} ms",
        probe.lateness_ms
    );

    let spoiled = state(&sim).await;
    assert_eq!(
        spoiled,
        Spoiled {
            capacity: Some(CAPACITY),
            load: 2 * CAPACITY,
            peak_load: 2 * CAPACITY,
            playbacks_stretched: 1,
            max_stretch_ms: 480,
            recordings_cut: 1,
            words_lost: 1,
            peak_rest_delay_ms: 1_000,
            peak_event_lag_ms: 1_000,
        },
        "the counters agree"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_under_capacity_it_recovers() {
    let sim = start(CAPACITY).await;
    let (mut ws, _) = connect_async(sim.events_url()).await.expect("connects");
    let load = ids("load", 2 * CAPACITY);
    answered(&sim, &mut ws, "number", &load).await;
    // Overloaded: a prompt stretches.
    let (status, body, _) = ari(
        &sim,
        Method::POST,
        &format!("/ari/channels/{}/play/pb-over", load[0]),
        &[("media", "sound:any/hello")],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    until(&mut ws, |e| {
        e["type"] == "PlaybackFinished" && e["playback"]["id"] == "pb-over"
    })
    .await;
    let overloaded = state(&sim).await;
    assert_eq!(overloaded.playbacks_stretched, 1);

    // Calls end: the load is back to the capacity, with the probe's call.
    for id in &load[CAPACITY - 1..] {
        let (status, _, _) = ari(&sim, Method::DELETE, &format!("/ari/channels/{id}"), &[]).await;
        assert_eq!(status, 204);
    }
    until(&mut ws, |e| {
        e["type"] == "ChannelDestroyed" && e["channel"]["id"] == load.last().unwrap().as_str()
    })
    .await;
    answered(&sim, &mut ws, "yes", &["probe".to_string()]).await;
    let probe = probe(&sim, &mut ws, "probe").await;
    assert_undegraded(&probe);
    let after = state(&sim).await;
    assert_eq!(after.load, CAPACITY);
    assert_eq!(
        (after.playbacks_stretched, after.recordings_cut),
        (1, 0),
        "nothing more spoiled once back under capacity: {after:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn dialflow_sim_takes_its_capacity_from_the_command_line() {
    let refused = Command::new(process::BIN)
        .args(["sim", "--listen", "127.0.0.1:0", "--capacity", "0"])
        .output()
        .expect("runs");
    assert!(!refused.status.success(), "a capacity of 0 is refused");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--capacity"));

    let mut child = process::Proc::spawn(
        Command::new(process::BIN)
            .args(["sim", "--listen", "127.0.0.1:0", "--capacity", "3"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let stdout = process::Lines::of(child.0.stdout.take().expect("piped"));
    let addr = process::url_address(&stdout.until("http://", WAIT));
    assert!(stdout.until("capacity:", WAIT).contains("3 channels up"));
    stdout.drain();
    let state = get_json(format!("http://{addr}/sim/state")).await;
    assert_eq!(state["saturation"]["capacity"], 3);
    assert_eq!(state["saturation"]["peak_load"], 0);
}
