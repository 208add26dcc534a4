//! The simulated Asterisk on the network: an ARI server (REST + events WebSocket) around
//! one [`Pbx`], run in compressed real time, with faults that can be switched on while it
//! runs so clients can be tested against the failures a real Asterisk and network produce.
//!
//! One driver task owns the clock: it sleeps until the Pbx's next due time (or until a
//! request schedules something sooner), pops the due events and broadcasts them to every
//! connected WebSocket. Requests lock the Pbx only for the call into it.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::behaviours;
use super::event_filter::EventFilter;
use super::pbx::{self, Pbx};
use super::saturation::{Backlog, Saturation, Spoiled, Strain};
use super::sessions::{SessionLimited, Sessions};
use super::socket_requests;
use crate::ari::{Route, paths};

/// How the simulator runs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The Stasis application whose events the WebSocket serves (and every event names).
    pub app: String,
    pub user: String,
    pub password: String,
    /// Simulated milliseconds per real millisecond (1.0: real time; 50.0: 50× faster).
    pub speed: f64,
    /// Media name (`hello` of `sound:dialer/hello`) → length in milliseconds.
    pub prompts: HashMap<String, u64>,
    /// The faults active from the start.
    pub faults: Faults,
    /// Most TCP connections open at once (REST and WebSocket alike), as `sessionlimit`
    /// in Asterisk's `http.conf`: one more is closed at once, unanswered.
    pub session_limit: usize,
    /// Channels up past which the PBX degrades as an overloaded Asterisk does
    /// (`sim::saturation`); `None`, the default, never degrades.
    pub capacity: Option<usize>,
}

/// Asterisk's default `sessionlimit`.
pub const DEFAULT_SESSION_LIMIT: usize = 100;

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            app: "dialflow".into(),
            user: "dialflow".into(),
            password: "dialflow".into(),
            speed: 1.0,
            prompts: HashMap::new(),
            faults: Faults::default(),
            session_limit: DEFAULT_SESSION_LIMIT,
            capacity: None,
        }
    }
}

/// The faults the simulator injects: a handle, cheap to clone and shared with the server
/// it is given to, so faults can be switched on and off while it runs (also through
/// `POST /sim/faults`). Keep a clone of the one put in [`SimConfig`] to steer [`serve`].
#[derive(Clone, Default)]
pub struct Faults {
    shared: Arc<FaultsShared>,
}

struct FaultsShared {
    settings: Mutex<FaultSettings>,
    /// Bumped by `drop_websockets`; every socket closes when it changes.
    drops: watch::Sender<u64>,
}

impl Default for FaultsShared {
    fn default() -> Self {
        Self {
            settings: Mutex::new(FaultSettings::default()),
            drops: watch::Sender::new(0),
        }
    }
}

/// The state of the faults at one moment (what `GET /sim/faults` shows).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Real milliseconds every ARI REST response is held back (after the request is done,
    /// so its events may arrive before its answer, as over a slow link).
    pub rest_delay_ms: u64,
    /// Rules answering the next matching requests with an error, without doing them.
    pub fail_next_requests: Vec<FailRequests>,
    /// Rules holding back the answer of every matching request (on top of
    /// `rest_delay_ms`): one slow resource, as a list of hundreds of channels is on a
    /// loaded Asterisk.
    pub slow_requests: Vec<SlowRequests>,
    /// Channel ids whose events are dropped (the channel's Local half `<id>;2` included).
    pub lose_events_for_channels: Vec<String>,
    /// The next N originates are answered 500 `{"error":"Allocation failed"}`.
    pub refuse_originates: u32,
    /// The next N originates are performed but never answered ("outcome unknown").
    pub timeout_next_originates: u32,
    /// Every event of the channels the next N originates create is lost (their ids join
    /// `lose_events_for_channels`): a call Asterisk never reports on, whatever id the
    /// client chose for it.
    pub lose_events_of_next_originates: u32,
}

impl Faults {
    /// The faults now.
    pub fn settings(&self) -> FaultSettings {
        self.lock().clone()
    }
    /// Replaces every fault (not the WebSockets: see [`Faults::drop_websockets`]).
    pub fn set(&self, settings: FaultSettings) {
        *self.lock() = settings;
    }
    /// Closes every events WebSocket now; events produced before clients reconnect are lost.
    pub fn drop_websockets(&self) {
        self.shared.drops.send_modify(|n| *n += 1);
    }
    pub fn set_rest_delay_ms(&self, ms: u64) {
        self.lock().rest_delay_ms = ms;
    }
    /// Adds a rule: the next `count` requests whose `"METHOD /path"` contains `matching`
    /// (at its end, for a `matching` ending with `$`) get `status` (an invalid status
    /// code gives 500).
    pub fn fail_next_requests(&self, matching: impl Into<String>, status: u16, count: u32) {
        self.lock().fail_next_requests.push(FailRequests {
            matching: matching.into(),
            status,
            count,
        });
    }
    /// Adds a rule: every request whose `"METHOD /path"` contains `matching` (at its end,
    /// for a `matching` ending with `$`) is answered `delay_ms` real milliseconds late
    /// (after it is done), failed or not.
    pub fn slow_requests(&self, matching: impl Into<String>, delay_ms: u64) {
        self.lock().slow_requests.push(SlowRequests {
            matching: matching.into(),
            delay_ms,
        });
    }
    /// Replaces the channels whose events are lost.
    pub fn lose_events_for_channels<S: Into<String>>(&self, ids: impl IntoIterator<Item = S>) {
        self.lock().lose_events_for_channels = ids.into_iter().map(Into::into).collect();
    }
    pub fn refuse_originates(&self, count: u32) {
        self.lock().refuse_originates = count;
    }
    pub fn timeout_next_originates(&self, count: u32) {
        self.lock().timeout_next_originates = count;
    }
    pub fn lose_events_of_next_originates(&self, count: u32) {
        self.lock().lose_events_of_next_originates = count;
    }

    /// Never poisoned: nothing panics while holding it.
    fn lock(&self) -> MutexGuard<'_, FaultSettings> {
        self.shared
            .settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.settings().fmt(f)
    }
}

/// Answer the next `count` requests whose `"METHOD /path"` contains `matching` with `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailRequests {
    pub matching: String,
    pub status: u16,
    pub count: u32,
}

/// Answer every request whose `"METHOD /path"` contains `matching` `delay_ms` late.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowRequests {
    pub matching: String,
    pub delay_ms: u64,
}

/// A running in-process simulator; shuts it down when dropped.
pub struct SimHandle {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`; ARI lives under `/ari`, the simulator's controls under `/sim`.
    pub base_url: String,
    sim: Arc<Sim>,
    shutdown: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<io::Result<()>>>,
}

/// Runs the simulator on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let sim = Arc::new(Sim::new(config)?);
    run(listener, sim, shutdown).await
}

/// Starts a simulator on a free loopback port, for tests and the demo.
pub async fn spawn(config: SimConfig) -> io::Result<SimHandle> {
    let sim = Arc::new(Sim::new(config)?);
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let join = tokio::spawn(run(listener, Arc::clone(&sim), async move {
        // A dropped sender (the handle went away) also means stop.
        let _ = rx.await;
    }));
    Ok(SimHandle {
        addr,
        base_url: format!("http://{addr}"),
        sim,
        shutdown: Some(tx),
        join: Some(join),
    })
}

impl SimHandle {
    pub fn app(&self) -> &str {
        &self.sim.app
    }
    pub fn user(&self) -> &str {
        &self.sim.user
    }
    pub fn password(&self) -> &str {
        &self.sim.password
    }

    /// The events WebSocket URL, credentials included.
    pub fn events_url(&self) -> String {
        format!(
            "ws://{}{}?app={}&api_key={}",
            self.addr,
            paths::EVENTS,
            percent_encode(&self.sim.app),
            percent_encode(&format!("{}:{}", self.sim.user, self.sim.password))
        )
    }

    /// The simulated time now, in milliseconds since the start.
    pub fn now_ms(&self) -> u64 {
        self.sim.now_ms()
    }

    /// The faults handle, to switch faults on and off while the simulator runs.
    pub fn faults(&self) -> Faults {
        self.sim.faults.clone()
    }

    /// What the originate of channel `id` asked to dial.
    pub fn dialed(&self, id: &str) -> Option<Dialed> {
        self.sim.dialed.lock().ok()?.get(id).cloned()
    }

    /// `POST /ari/channels` requests received (refused and failed ones included).
    pub fn originates_received(&self) -> u64 {
        self.sim.originates.load(Ordering::Relaxed)
    }
    /// REST requests served over events WebSockets (`socket_requests`) rather than HTTP.
    pub fn socket_requests(&self) -> u64 {
        self.sim.socket_requests.load(Ordering::Relaxed)
    }
    /// Events the application's event filter kept from the sockets.
    pub fn events_filtered(&self) -> u64 {
        self.sim.events_filtered.load(Ordering::Relaxed)
    }
    /// The application's event filter as it stands.
    pub fn event_filter(&self) -> EventFilter {
        self.sim
            .event_filter
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default()
    }
    /// Event frames written to WebSockets (one per event per connected socket).
    pub fn events_sent(&self) -> u64 {
        self.sim.events_sent.load(Ordering::Relaxed)
    }
    /// Events dropped by `lose_events_for_channels` or because no socket was connected.
    pub fn events_lost(&self) -> u64 {
        self.sim.events_lost.load(Ordering::Relaxed)
    }
    /// Events of type `kind` (`PlaybackFinished`, …) lost, as `events_lost` counts them.
    pub fn events_lost_of(&self, kind: &str) -> u64 {
        self.sim
            .lost_kinds
            .lock()
            .map_or(0, |k| k.get(kind).copied().unwrap_or(0))
    }
    /// HTTP sessions (TCP connections) closed at once, unanswered, because
    /// `session_limit` were open.
    pub fn sessions_refused(&self) -> u64 {
        self.sim.sessions.refused()
    }
    /// HTTP sessions taken on since the start (refused ones not included).
    pub fn sessions_accepted(&self) -> u64 {
        self.sim.sessions.accepted()
    }
    /// Most HTTP sessions open at once since the start.
    pub fn sessions_peak(&self) -> usize {
        self.sim.sessions.peak()
    }
    /// HTTP sessions open now.
    pub fn sessions_open(&self) -> usize {
        self.sim.sessions.open()
    }
    /// What the saturation model spoiled since the start (all zero without a capacity).
    pub async fn saturation(&self) -> Spoiled {
        self.sim.saturation().await
    }
    /// Events WebSockets connected now.
    pub fn websockets(&self) -> usize {
        self.sim.websockets.load(Ordering::Relaxed)
    }
    /// Ids of the channels up or ringing.
    pub async fn live_channels(&self) -> Vec<String> {
        self.sim.pbx.lock().await.live_channels()
    }
    /// What the customer said into a stored recording.
    pub async fn transcript(&self, recording: &str) -> Option<String> {
        self.sim
            .pbx
            .lock()
            .await
            .transcript(recording)
            .map(str::to_string)
    }

    /// Stops the server (held requests and WebSockets are closed) and waits for it.
    /// Nothing to act on can go wrong here, so a failure is only logged.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(join) = self.join.take() {
            match join.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "the simulator failed"),
                Err(e) => tracing::error!(error = %e, "the simulator task failed"),
            }
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Room for events a slow socket has not written yet; a socket further behind is closed.
const EVENT_BACKLOG: usize = 16_384;
/// Most channel ids the originate log keeps.
const MAX_ORIGINATE_LOG: usize = 1_000_000;
/// Largest request body accepted (ARI bodies are a few parameters).
const MAX_BODY: usize = 64 * 1024;

/// The state shared by the driver, the request handlers and the handle.
struct Sim {
    app: String,
    user: String,
    password: String,
    /// `Basic <base64(user:password)>`'s token, to compare the header against.
    basic_token: String,
    speed: f64,
    start: Instant,
    /// The wall clock at `start`: events are stamped with when they happened.
    start_wall: jiff::Timestamp,
    pbx: tokio::sync::Mutex<Pbx>,
    strain: Strain,
    /// Wakes the driver when a request may have scheduled something sooner.
    wake: Notify,
    faults: Faults,
    events: broadcast::Sender<Utf8Bytes>,
    stop: watch::Sender<bool>,
    originates: AtomicU64,
    /// Channel id → originates asking for it: a client that dials one attempt twice
    /// shows here (the crash test reads it). Bounded, for long runs.
    originated: std::sync::Mutex<HashMap<String, u32>>,
    /// Channel id → the endpoint and caller id its originate asked for (bounded like
    /// `originated`): what a test checks of the dial string dialflow built.
    dialed: std::sync::Mutex<HashMap<String, Dialed>>,
    events_sent: AtomicU64,
    /// Requests read off events WebSockets.
    socket_requests: AtomicU64,
    events_lost: AtomicU64,
    /// The application's event type filter (`PUT /ari/applications/{app}/eventFilter`),
    /// and how many events it kept from the sockets.
    event_filter: std::sync::Mutex<EventFilter>,
    events_filtered: AtomicU64,
    /// Event type → how many of that type were lost.
    lost_kinds: std::sync::Mutex<HashMap<String, u64>>,
    websockets: AtomicUsize,
    session_limit: usize,
    sessions: Arc<Sessions>,
    /// The bytes served for a stored recording the customer said nothing into.
    wav: Bytes,
    /// And for one they spoke into.
    voiced_wav: Bytes,
}

impl Sim {
    fn new(config: SimConfig) -> io::Result<Self> {
        if !(config.speed.is_finite() && config.speed > 0.0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("speed must be a positive number, not {}", config.speed),
            ));
        }
        if config.capacity == Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the capacity must be at least 1",
            ));
        }
        if config.session_limit == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the session limit must be at least 1",
            ));
        }
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let (stop, _) = watch::channel(false);
        Ok(Self {
            basic_token: base64(format!("{}:{}", config.user, config.password).as_bytes()),
            app: config.app,
            user: config.user,
            password: config.password,
            speed: config.speed,
            start: Instant::now(),
            start_wall: jiff::Timestamp::now(),
            pbx: tokio::sync::Mutex::new(
                Pbx::new(config.prompts, behaviours::for_endpoint)
                    .with_saturation(Saturation::new(config.capacity)),
            ),
            strain: Strain::new(Saturation::new(config.capacity)),
            wake: Notify::new(),
            faults: config.faults,
            events,
            stop,
            originates: AtomicU64::new(0),
            originated: std::sync::Mutex::new(HashMap::new()),
            dialed: std::sync::Mutex::new(HashMap::new()),
            events_sent: AtomicU64::new(0),
            socket_requests: AtomicU64::new(0),
            events_lost: AtomicU64::new(0),
            event_filter: std::sync::Mutex::default(),
            events_filtered: AtomicU64::new(0),
            lost_kinds: std::sync::Mutex::new(HashMap::new()),
            websockets: AtomicUsize::new(0),
            session_limit: config.session_limit,
            sessions: Arc::default(),
            wav: Bytes::from(crate::classify::voice::tone_wav(500, 0)),
            voiced_wav: Bytes::from(crate::classify::voice::tone_wav(800, 8_000)),
        })
    }

    fn now_ms(&self) -> u64 {
        // `as` saturates, which is what a clock running for ages should do.
        (self.start.elapsed().as_secs_f64() * 1000.0 * self.speed) as u64
    }

    /// The real instant simulated time `at_ms` is reached.
    fn real_instant(&self, at_ms: u64) -> Instant {
        self.start
            .checked_add(self.real_duration(at_ms))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 86_400))
    }

    /// The real time `ms` simulated milliseconds take.
    fn real_duration(&self, ms: u64) -> Duration {
        Duration::try_from_secs_f64(ms as f64 / self.speed / 1000.0).unwrap_or(Duration::MAX)
    }

    /// ARI's timestamp for simulated time `at_ms`, on the wall clock.
    fn stamp(&self, at_ms: u64) -> String {
        let real = jiff::SignedDuration::try_from(self.real_duration(at_ms)).unwrap_or_default();
        self.start_wall
            .checked_add(real)
            .unwrap_or(self.start_wall)
            .strftime("%Y-%m-%dT%H:%M:%S%.3f%z")
            .to_string()
    }

    async fn saturation(&self) -> Spoiled {
        let spoiled = self.pbx.lock().await.spoiled();
        self.strain.report(spoiled)
    }

    /// Counts `event` as lost.
    fn lose(&self, event: &Value) {
        self.events_lost.fetch_add(1, Ordering::Relaxed);
        if let (Ok(mut kinds), Some(kind)) = (self.lost_kinds.lock(), event["type"].as_str()) {
            *kinds.entry(kind.to_string()).or_default() += 1;
        }
    }

    /// Whether the application's event filter lets `event` through.
    fn allows(&self, event: &Value) -> bool {
        self.allows_type(event["type"].as_str().unwrap_or_default())
    }

    fn allows_type(&self, kind: &str) -> bool {
        self.event_filter.lock().map_or(true, |f| f.allows(kind))
    }

    /// `PUT /ari/applications/{app}/eventFilter`, its body read into `params`.
    fn set_event_filter(&self, app: &str, params: &BTreeMap<String, String>) -> pbx::Response {
        let answer = |status, body| pbx::Response {
            status,
            body: Some(body),
        };
        if app != self.app {
            return answer(404, json!({"message": "Application not found"}));
        }
        let Ok(mut filter) = self.event_filter.lock() else {
            return answer(500, json!({"message": "Internal Server Error"}));
        };
        match filter.update(params) {
            Ok(()) => answer(200, filter.application_json(app)),
            Err(bad) => answer(400, json!({ "message": bad.to_string() })),
        }
    }

    /// Hands one event, due at simulated `at_ms`, to every connected socket, unless a
    /// fault loses it or the application's filter keeps it back.
    fn publish(&self, mut event: Value, at_ms: u64) {
        // Filtered out first: an event Asterisk would never send cannot be lost.
        if !self.allows(&event) {
            self.events_filtered.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let lost = {
            let faults = self.faults.lock();
            !faults.lose_events_for_channels.is_empty()
                && channels_of(&event).iter().any(|id| {
                    let base = id.rsplit_once(';').map_or(*id, |(base, _)| base);
                    faults
                        .lose_events_for_channels
                        .iter()
                        .any(|l| l == id || l == base)
                })
        };
        if lost {
            self.lose(&event);
            return;
        }
        if let Some(map) = event.as_object_mut() {
            map.insert("application".into(), self.app.clone().into());
            // Stamped with when it happened, as Asterisk does, so clients can measure
            // how late it comes (an overloaded PBX publishes it late).
            if map.contains_key("timestamp") {
                map.insert("timestamp".into(), self.stamp(at_ms).into());
            }
        }
        let text = Utf8Bytes::from(wire_text(&event));
        if self.events.send(text).is_err() {
            // Nobody listening: lost, as with Asterisk.
            self.lose(&event);
        }
    }
}

/// An event's text as Asterisk writes it: `type` first, then `timestamp`, then the rest
/// (clients may read the type before the whole event, as dialflow's decoder does).
fn wire_text(event: &Value) -> String {
    struct AsteriskOrder<'a>(&'a serde_json::Map<String, Value>);
    const FIRST: [&str; 2] = ["type", "timestamp"];
    impl serde::Serialize for AsteriskOrder<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = serializer.serialize_map(Some(self.0.len()))?;
            for key in FIRST {
                if let Some(value) = self.0.get(key) {
                    map.serialize_entry(key, value)?;
                }
            }
            for (key, value) in self.0 {
                if !FIRST.contains(&key.as_str()) {
                    map.serialize_entry(key, value)?;
                }
            }
            map.end()
        }
    }
    match event.as_object() {
        Some(map) => {
            serde_json::to_string(&AsteriskOrder(map)).unwrap_or_else(|_| event.to_string())
        }
        None => event.to_string(),
    }
}

/// The channel ids an event is about.
fn channels_of(event: &Value) -> Vec<&str> {
    let mut ids = Vec::new();
    for key in ["channel", "peer"] {
        if let Some(id) = event.get(key).and_then(|c| c["id"].as_str()) {
            ids.push(id);
        }
    }
    for key in ["playback", "recording"] {
        if let Some(id) = event
            .get(key)
            .and_then(|p| p["target_uri"].as_str())
            .and_then(|t| t.strip_prefix("channel:"))
        {
            ids.push(id);
        }
    }
    ids
}

async fn run(
    listener: TcpListener,
    sim: Arc<Sim>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let driver = tokio::spawn(drive(Arc::clone(&sim)));
    let signal = {
        let sim = Arc::clone(&sim);
        async move {
            shutdown.await;
            // Held requests and WebSockets end on this, so the graceful shutdown can finish.
            sim.stop.send_replace(true);
        }
    };
    let app = Router::new()
        .route("/sim/state", get(sim_state).fallback(not_allowed))
        .route("/sim/originates", get(sim_originates).fallback(not_allowed))
        .route(
            "/sim/faults",
            get(get_faults).post(post_faults).fallback(not_allowed),
        )
        .route(
            "/sim/recordings/{name}/transcript",
            get(transcript).fallback(not_allowed),
        )
        .fallback(ari)
        .with_state(Arc::clone(&sim));
    let listener = SessionLimited::new(listener, sim.session_limit, Arc::clone(&sim.sessions));
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .await;
    sim.stop.send_replace(true);
    let _ = driver.await;
    result
}

/// The clock: runs the Pbx's far ends and hands out its events when they fall due, or
/// as late as an overloaded PBX publishes them (`saturation`).
async fn drive(sim: Arc<Sim>) {
    let mut stop = sim.stop.subscribe();
    // The time a timer woke us for: reached even if float rounding puts `now` a hair
    // before it, so the loop never spins waiting for the clock to catch up.
    let mut floor = 0;
    let mut backlog = Backlog::default();
    loop {
        let (due, load) = {
            let mut pbx = sim.pbx.lock().await;
            let until = sim.now_ms().max(floor);
            while let Some((at, event)) = pbx.pop_due(until) {
                backlog.push(at, event);
            }
            sim.strain.set_load(pbx.load());
            (pbx.next_due(), pbx.load())
        };
        let lag = sim.strain.model().event_lag_ms(load);
        let released = backlog.release(sim.now_ms().max(floor), lag);
        if !released.is_empty() {
            sim.strain.note_event_lag(lag);
        }
        for (at, event) in released {
            sim.publish(event, at);
        }
        let next = due.into_iter().chain(backlog.next_release(lag)).min();
        let timer = async {
            match next {
                Some(at) => tokio::time::sleep_until(sim.real_instant(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = timer => floor = next.unwrap_or(floor),
            () = sim.wake.notified() => {}
            () = stopped(&mut stop) => return,
        }
    }
}

/// Completes once the server is stopping.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here, not in a `select!`.
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Every `/ari/...` request: credentials, faults, then the Pbx (or the events WebSocket).
async fn ari(State(sim): State<Arc<Sim>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let method = parts.method.clone();
    let (path, query) = match read_request(&sim, &parts) {
        Ok(read) => read,
        Err(refused) => return refused.into_response(),
    };
    let label = format!("{method} {path}");
    let route = Route::parse(method.as_str(), &path);
    if route == Some(Route::Events) {
        // A WebSocket upgrade is answered at once: the REST delay is about REST.
        if let (Plan::Fail(status), _) = plan_request(&sim, &label, false) {
            return message(status, "Simulated failure (fail_next_requests)");
        }
        return events_socket(sim, &mut parts, &query).await;
    }
    rest(&sim, (method, path, query), &parts.headers, body).await
}

/// A REST request, read and authorized: faults, then the Pbx. Served alike from HTTP
/// and from an events WebSocket (`socket_requests`).
async fn rest(
    sim: &Sim,
    (method, path, mut query): (axum::http::Method, String, BTreeMap<String, String>),
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let label = format!("{method} {path}");
    let route = Route::parse(method.as_str(), &path);
    let originate = route == Some(Route::Originate);
    if originate {
        sim.originates.fetch_add(1, Ordering::Relaxed);
    }
    // Read before the faults are consulted, so a malformed request uses none of them up.
    if let Err(response) = merge_body(headers, body, &mut query).await {
        return response;
    }
    if originate && let Some(id) = query.get("channelId") {
        note_originated(sim, id);
        note_dialed(sim, id, &query);
        lose_events_if_asked(sim, id);
    }
    let (plan, delay) = plan_request(sim, &label, originate);
    tracing::debug!(request = %label, ?plan, "simulated ARI request");
    let response = match plan {
        Plan::Fail(status) => message(status, "Simulated failure (fail_next_requests)"),
        Plan::Refuse => json_response(500, Some(json!({"error": "Allocation failed"}))),
        Plan::Perform { hold } => {
            // An overloaded PBX gets to the request late, and does it then.
            let saturated = sim.strain.rest_delay_ms();
            if saturated > 0 {
                tokio::time::sleep(sim.real_duration(saturated)).await;
            }
            let answer = match route {
                Some(Route::SetEventFilter { app }) => sim.set_event_filter(app, &query),
                _ => {
                    let mut pbx = sim.pbx.lock().await;
                    let answer = pbx.request(sim.now_ms(), method.as_str(), &path, &query);
                    sim.strain.set_load(pbx.load());
                    answer
                }
            };
            // The request may have scheduled events sooner than the driver's timer.
            sim.wake.notify_one();
            if hold {
                // Done, but never answered: the client times out not knowing the outcome.
                stopped(&mut sim.stop.subscribe()).await;
                return message(503, "The simulator is shutting down");
            }
            match route {
                Some(Route::StoredRecordingFile { name }) if answer.status == 200 => {
                    recording_file(sim, name).await
                }
                _ => json_response(answer.status, answer.body),
            }
        }
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    response
}

/// Why a request is refused before it reaches the PBX.
enum Unreadable {
    Path,
    NotAri,
    Query(BadParameter),
    Unauthorized,
}

impl IntoResponse for Unreadable {
    fn into_response(self) -> Response {
        match self {
            Unreadable::Path => message(400, "The path is not valid percent-encoded UTF-8"),
            Unreadable::NotAri => message(404, "Resource not found"),
            Unreadable::Query(e) => message(400, &e.to_string()),
            Unreadable::Unauthorized => unauthorized(),
        }
    }
}

/// An ARI request's path (percent-decoded, without a trailing `/`) and its query,
/// credentials checked and taken out.
fn read_request(
    sim: &Sim,
    parts: &axum::http::request::Parts,
) -> Result<(String, BTreeMap<String, String>), Unreadable> {
    let path = percent_decode(parts.uri.path(), false).ok_or(Unreadable::Path)?;
    if !paths::is_ari(&path) {
        return Err(Unreadable::NotAri);
    }
    let mut query: BTreeMap<String, String> = parse_form(parts.uri.query().unwrap_or(""))
        .map_err(Unreadable::Query)?
        .into_iter()
        .collect();
    if !authorized(sim, &parts.headers, query.get("api_key")) {
        return Err(Unreadable::Unauthorized);
    }
    query.remove("api_key");
    let path = if path.len() > 1 {
        path.trim_end_matches('/').to_string()
    } else {
        path
    };
    Ok((path, query))
}

/// Counts an originate of channel `id` into the log `/sim/originates` serves (bounded:
/// new ids stop being logged once it is full).
fn note_originated(sim: &Sim, id: &str) {
    if let Ok(mut seen) = sim.originated.lock()
        && (seen.len() < MAX_ORIGINATE_LOG || seen.contains_key(id))
    {
        *seen.entry(id.to_string()).or_default() += 1;
    }
}

/// What one originate asked to dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialed {
    pub endpoint: String,
    pub caller_id: Option<String>,
}

fn note_dialed(sim: &Sim, id: &str, query: &BTreeMap<String, String>) {
    let dialed = Dialed {
        endpoint: query.get("endpoint").cloned().unwrap_or_default(),
        caller_id: query.get("callerId").cloned(),
    };
    if let Ok(mut seen) = sim.dialed.lock()
        && seen.len() < MAX_ORIGINATE_LOG
    {
        seen.insert(id.to_string(), dialed);
    }
}

/// Asterisk's answer to a request without valid credentials.
fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"Asterisk REST Interface\"",
        )],
        axum::Json(json!({"message": "Authentication required"})),
    )
        .into_response()
}

/// A stored recording's file. It carries what the customer said, so that test
/// speech-to-text providers (which cannot hear silence) can "transcribe" it, and voice
/// where the customer spoke, so dialflow's measure of it hears them.
async fn recording_file(sim: &Sim, name: &str) -> Response {
    let said = sim
        .pbx
        .lock()
        .await
        .transcript(name)
        .unwrap_or("")
        .to_string();
    let audio = if said.trim().is_empty() {
        &sim.wav
    } else {
        &sim.voiced_wav
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "audio/wav")],
        with_said(audio, &said),
    )
        .into_response()
}

/// What the faults make of one request.
#[derive(Debug)]
enum Plan {
    Fail(u16),
    Refuse,
    Perform { hold: bool },
}

/// Whether a fault rule's `matching` applies to a request's `"METHOD /path"`: found in
/// it, or, ending with `$`, found at its end (`GET /ari/channels$` is the list alone,
/// not one channel).
fn label_matches(label: &str, matching: &str) -> bool {
    match matching.strip_suffix('$') {
        Some(end) => label.ends_with(end),
        None => label.contains(matching),
    }
}

/// Consumes the fault that applies to this request, if any, and the REST delay.
/// Applies `lose_events_of_next_originates` to the channel `id` an originate creates,
/// before the PBX performs it, so its first event is lost too.
fn lose_events_if_asked(sim: &Sim, id: &str) {
    let mut faults = sim.faults.lock();
    if faults.lose_events_of_next_originates > 0 {
        faults.lose_events_of_next_originates -= 1;
        faults.lose_events_for_channels.push(id.to_string());
    }
}

fn plan_request(sim: &Sim, label: &str, originate: bool) -> (Plan, u64) {
    let mut faults = sim.faults.lock();
    let slow = faults
        .slow_requests
        .iter()
        .filter(|r| label_matches(label, &r.matching))
        .map(|r| r.delay_ms)
        .max()
        .unwrap_or(0);
    let delay = faults.rest_delay_ms + slow;
    if let Some(rule) = faults
        .fail_next_requests
        .iter_mut()
        .find(|r| r.count > 0 && label_matches(label, &r.matching))
    {
        rule.count -= 1;
        let status = rule.status;
        faults.fail_next_requests.retain(|r| r.count > 0);
        return (Plan::Fail(status), delay);
    }
    if originate && faults.refuse_originates > 0 {
        faults.refuse_originates -= 1;
        return (Plan::Refuse, delay);
    }
    let hold = originate && faults.timeout_next_originates > 0;
    if hold {
        faults.timeout_next_originates -= 1;
    }
    (Plan::Perform { hold }, delay)
}

/// HTTP basic auth, or `api_key=user:password` in the query.
fn authorized(sim: &Sim, headers: &HeaderMap, api_key: Option<&String>) -> bool {
    if let Some(key) = api_key
        && key.split_once(':') == Some((sim.user.as_str(), sim.password.as_str()))
    {
        return true;
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("basic") && token.trim() == sim.basic_token
        })
}

/// ARI takes parameters in the body too: a JSON object, or a form. Query values win.
async fn merge_body(
    headers: &HeaderMap,
    body: Body,
    query: &mut BTreeMap<String, String>,
) -> Result<(), Response> {
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| message(413, "The request body is too large or unreadable"))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        let text =
            std::str::from_utf8(&bytes).map_err(|_| message(400, "The form body is not UTF-8"))?;
        for (k, v) in parse_form(text).map_err(|e| message(400, &e.to_string()))? {
            query.entry(k).or_insert(v);
        }
        return Ok(());
    }
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| message(400, &format!("The request body is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(message(400, "The request body must be a JSON object"));
    };
    for (k, v) in map {
        let v = match v {
            Value::Null => continue,
            Value::String(s) => s,
            // Numbers and flags as their text; objects (`variables`) kept as JSON text.
            other => other.to_string(),
        };
        query.entry(k).or_insert(v);
    }
    Ok(())
}

/// `GET /ari/events?app=NAME`: the upgrade, subscribed before it is answered so no event
/// produced after the client sees the handshake is missed.
async fn events_socket(
    sim: Arc<Sim>,
    parts: &mut axum::http::request::Parts,
    query: &BTreeMap<String, String>,
) -> Response {
    let Some(apps) = query.get("app") else {
        return message(400, "Missing parameter app");
    };
    if !apps.split(',').any(|a| a == sim.app) {
        // Asterisk would register the app and send nothing; failing says why nothing comes.
        return message(
            400,
            &format!("This simulator serves only the application '{}'", sim.app),
        );
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return message(rejection.status().as_u16(), &rejection.body_text()),
    };
    let events = sim.events.subscribe();
    let mut drops = sim.faults.shared.drops.subscribe();
    // Only drops asked for from now on close this socket.
    drops.mark_unchanged();
    upgrade.on_upgrade(move |socket| pump(socket, events, drops, sim))
}

/// Writes the events to one WebSocket until it closes, is dropped, or the server stops.
async fn pump(
    socket: WebSocket,
    mut events: broadcast::Receiver<Utf8Bytes>,
    mut drops: watch::Receiver<u64>,
    sim: Arc<Sim>,
) {
    sim.websockets.fetch_add(1, Ordering::Relaxed);
    let mut stop = sim.stop.subscribe();
    let (mut tx, mut rx) = socket.split();
    // Answers to requests made on this socket, each served on a task of its own (a slow
    // or held request must not hold the events back).
    let (answers, mut answered) = tokio::sync::mpsc::unbounded_channel::<String>();
    let close = |code: u16, reason: &'static str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        }))
    };
    loop {
        tokio::select! {
            // A drop closes the socket now, even with events still queued for it.
            biased;
            _ = drops.changed() => {
                let _ = tx.send(close(1001, "dropped by the simulator")).await;
                break;
            }
            () = stopped(&mut stop) => {
                let _ = tx.send(close(1001, "simulator shutting down")).await;
                break;
            }
            received = events.recv() => match received {
                Ok(text) => {
                    if tx.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                    sim.events_sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // Skipping events silently would desynchronise the client: make it
                    // reconnect and resynchronise instead.
                    tracing::warn!(missed, "events WebSocket too slow, closing it");
                    let _ = tx.send(close(1011, "too far behind")).await;
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            Some(answer) = answered.recv() => {
                if tx.send(Message::Text(answer.into())).await.is_err() {
                    break;
                }
            }
            incoming = rx.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(Message::Text(text))) => {
                    tokio::spawn(serve_socket_request(Arc::clone(&sim), text, answers.clone()));
                }
                Some(Ok(_)) => {}
            },
        }
    }
    sim.websockets.fetch_sub(1, Ordering::Relaxed);
}

/// Serves one `RESTRequest` read off an events WebSocket and queues its answer for it.
async fn serve_socket_request(
    sim: Arc<Sim>,
    text: Utf8Bytes,
    answers: tokio::sync::mpsc::UnboundedSender<String>,
) {
    sim.socket_requests.fetch_add(1, Ordering::Relaxed);
    let authorization = format!("Basic {}", sim.basic_token);
    let stamp = || socket_requests::Stamp {
        application: sim.app.clone(),
        timestamp: sim.stamp(sim.now_ms()),
    };
    let answer = match socket_requests::read(text.as_str(), &authorization, &stamp()) {
        Ok(request) => {
            let (request, echo) = request.into_parts();
            let (parts, body) = request.into_parts();
            let response = match read_request(&sim, &parts) {
                Ok((path, query)) => {
                    rest(
                        &sim,
                        (parts.method.clone(), path, query),
                        &parts.headers,
                        body,
                    )
                    .await
                }
                Err(refused) => refused.into_response(),
            };
            socket_requests::answer(echo, response, &stamp()).await
        }
        Err(refusal) => refusal,
    };
    // Asterisk sends its answers as events, through the application's filter: a filter
    // that leaves `RESTResponse` out leaves the client waiting.
    if !sim.allows_type("RESTResponse") {
        sim.events_filtered.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let _ = answers.send(answer);
}

async fn sim_state(State(sim): State<Arc<Sim>>) -> Response {
    let live = sim.pbx.lock().await.live_channels();
    let faults = sim.faults.settings();
    json_response(
        200,
        Some(json!({
            "app": sim.app,
            "now_ms": sim.now_ms(),
            "speed": sim.speed,
            "live_channels": live,
            "websockets": sim.websockets.load(Ordering::Relaxed),
            "session_limit": sim.session_limit,
            "sessions_open": sim.sessions.open(),
            "sessions_refused": sim.sessions.refused(),
            "originates_received": sim.originates.load(Ordering::Relaxed),
            "channel_ids_originated": sim.originated.lock().map(|s| s.len()).unwrap_or(0),
            "channel_ids_originated_twice": sim
                .originated
                .lock()
                .map(|s| {
                    let mut twice: Vec<&String> =
                        s.iter().filter(|(_, n)| **n > 1).map(|(id, _)| id).collect();
                    twice.sort();
                    json!(twice)
                })
                .unwrap_or_default(),
            "events_sent": sim.events_sent.load(Ordering::Relaxed),
            "socket_requests": sim.socket_requests.load(Ordering::Relaxed),
            "events_lost": sim.events_lost.load(Ordering::Relaxed),
            "events_filtered": sim.events_filtered.load(Ordering::Relaxed),
            "event_filter": sim.event_filter.lock().map(|f| f.application_json(&sim.app)).ok(),
            "saturation": sim.saturation().await,
            "faults": faults,
        })),
    )
}

/// `GET /sim/originates`: every channel id an originate asked for, with how often.
async fn sim_originates(State(sim): State<Arc<Sim>>) -> Response {
    let seen: BTreeMap<String, u32> = sim
        .originated
        .lock()
        .map(|s| s.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default();
    json_response(200, Some(json!(seen)))
}

async fn get_faults(State(sim): State<Arc<Sim>>) -> Response {
    let faults = sim.faults.settings();
    json_response(200, Some(json!(faults)))
}

/// `POST /sim/faults`: the fields given are set; `fail_next_requests` rules (one object or
/// a list) are added; `reset` clears every fault first; `drop_websockets` closes the sockets.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FaultsChange {
    reset: bool,
    drop_websockets: bool,
    rest_delay_ms: Option<u64>,
    fail_next_requests: Option<OneOrMany<FailRequests>>,
    slow_requests: Option<Vec<SlowRequests>>,
    lose_events_for_channels: Option<Vec<String>>,
    refuse_originates: Option<u32>,
    timeout_next_originates: Option<u32>,
    lose_events_of_next_originates: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

async fn post_faults(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let change: FaultsChange = if body.iter().all(u8::is_ascii_whitespace) {
        FaultsChange::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(change) => change,
            Err(e) => return message(400, &format!("Invalid faults: {e}")),
        }
    };
    let rules = match change.fail_next_requests {
        None => Vec::new(),
        Some(OneOrMany::One(rule)) => vec![rule],
        Some(OneOrMany::Many(rules)) => rules,
    };
    if let Some(bad) = rules
        .iter()
        .find(|r| StatusCode::from_u16(r.status).is_err())
    {
        return message(400, &format!("{} is not an HTTP status code", bad.status));
    }
    let faults = {
        let mut faults = sim.faults.lock();
        if change.reset {
            *faults = FaultSettings::default();
        }
        if let Some(ms) = change.rest_delay_ms {
            faults.rest_delay_ms = ms;
        }
        faults.fail_next_requests.extend(rules);
        if let Some(slow) = change.slow_requests {
            faults.slow_requests = slow;
        }
        if let Some(ids) = change.lose_events_for_channels {
            faults.lose_events_for_channels = ids;
        }
        if let Some(n) = change.refuse_originates {
            faults.refuse_originates = n;
        }
        if let Some(n) = change.timeout_next_originates {
            faults.timeout_next_originates = n;
        }
        if let Some(n) = change.lose_events_of_next_originates {
            faults.lose_events_of_next_originates = n;
        }
        faults.clone()
    };
    if change.drop_websockets {
        sim.faults.drop_websockets();
    }
    json_response(200, Some(json!(faults)))
}

async fn transcript(
    State(sim): State<Arc<Sim>>,
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let Ok(Path(name)) = name else {
        return message(400, "Invalid recording name");
    };
    let said = sim.pbx.lock().await.transcript(&name).map(str::to_string);
    match said {
        Some(said) => json_response(200, Some(json!({"transcript": said}))),
        None => message(404, "Recording not found"),
    }
}

async fn not_allowed() -> Response {
    message(405, "Method not allowed")
}

fn message(status: u16, text: &str) -> Response {
    json_response(status, Some(json!({"message": text})))
}

fn json_response(status: u16, body: Option<Value>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match body {
        Some(body) => (status, axum::Json(body)).into_response(),
        None => status.into_response(),
    }
}

/// The WAV with a `LIST`/`INFO`/`ICMT` chunk reading `said:<text>|`: WAV readers skip
/// it, test transcribers read it.
pub fn with_said(wav: &[u8], said: &str) -> Vec<u8> {
    let mut comment = format!("said:{said}|").into_bytes();
    comment.push(0);
    if comment.len() % 2 == 1 {
        comment.push(0);
    }
    let mut info = b"INFO".to_vec();
    info.extend_from_slice(b"ICMT");
    info.extend_from_slice(&(comment.len() as u32).to_le_bytes());
    info.extend_from_slice(&comment);
    let mut out = wav.to_vec();
    out.extend_from_slice(b"LIST");
    out.extend_from_slice(&(info.len() as u32).to_le_bytes());
    out.extend_from_slice(&info);
    if out.len() >= 8 {
        let riff = (out.len() - 8) as u32;
        out[4..8].copy_from_slice(&riff.to_le_bytes());
    }
    out
}

/// The text `with_said` put in a WAV, if any.
pub fn said_in(wav: &[u8]) -> Option<String> {
    let start = wav.windows(5).position(|w| w == b"said:")? + 5;
    let end = wav[start..].iter().position(|b| *b == b'|')? + start;
    String::from_utf8(wav[start..end].to_vec()).ok()
}

/// A query or form parameter that is not percent-encoded UTF-8 (Asterisk's wording).
#[derive(Debug, thiserror::Error)]
#[error("The parameter '{0}' is not valid percent-encoded UTF-8")]
struct BadParameter(String);

/// `a=1&b=x%20y` into pairs (`+` is a space), or the parameter that cannot be read.
fn parse_form(text: &str) -> Result<Vec<(String, String)>, BadParameter> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match (percent_decode(k, true), percent_decode(v, true)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(BadParameter(pair.to_string())),
            }
        })
        .collect()
}

fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("dialflow:dialflow", "ZGlhbGZsb3c6ZGlhbGZsb3c="),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn forms_decode_and_reject_bad_escapes() {
        assert_eq!(
            parse_form("endpoint=Local%2Fyes%40sim-customers&x=a+b&flag").unwrap(),
            vec![
                ("endpoint".into(), "Local/yes@sim-customers".into()),
                ("x".into(), "a b".into()),
                ("flag".into(), String::new()),
            ]
        );
        assert!(parse_form("a=%zz").is_err());
        assert!(parse_form("a=%+1").is_err());
        assert!(parse_form("a=%ff").is_err());
        assert_eq!(
            percent_decode(&paths::channel("a;2"), false).unwrap(),
            paths::channel("a;2")
        );
    }

    #[test]
    fn recordings_are_telephone_audio_with_voice_where_the_customer_spoke() {
        let silent = crate::classify::voice::tone_wav(500, 0);
        let reader = hound::WavReader::new(std::io::Cursor::new(&silent)).unwrap();
        assert_eq!(reader.spec().sample_rate, 8_000);
        assert_eq!(reader.spec().channels, 1);
        assert_eq!(reader.duration(), 4_000);
        let voiced = crate::classify::voice::tone_wav(800, 8_000);
        let said = with_said(&voiced, "yes");
        assert_eq!(crate::classify::voice::voiced_ms(&said).unwrap(), 800);
        assert_eq!(said_in(&said).as_deref(), Some("yes"));
        assert_eq!(
            crate::classify::voice::voiced_ms(&with_said(&silent, "")).unwrap(),
            0
        );
    }
}
