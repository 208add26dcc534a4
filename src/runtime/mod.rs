//! The live runtime: drives `CallMachine`s against a real (or simulated) Asterisk over
//! ARI. One task per call owns its machine; a router task sends each event to the call
//! whose ids it carries; timers and classifications come back to the call as inputs.

pub mod batch;
pub mod clock;
pub mod events;
pub mod health;
pub mod rest;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::ari::translate::{self, Deployment};
use crate::classify::Classifier;
use crate::core::call::{CallMachine, CallSetup, Command, Input, Report, Summary};
use crate::core::scenario::Scenario;
use clock::Clock;
use events::StreamItem;
use rest::{AriClient, AriError};

/// Largest recording file fetched for classification.
pub const MAX_RECORDING_BYTES: usize = 8 * 1024 * 1024;

/// An input for a call, with when its event arrived from Asterisk (none for timers and
/// classifications), to measure how fast the runtime reacts.
type Arrival = (Option<Instant>, Input);

/// Tries for a hang-up that got no clear answer (0.5 s doubling: about 15 s in all).
const HANGUP_TRIES: u32 = 6;

/// Most latency samples kept.
const MAX_LATENCY_SAMPLES: usize = 1_000_000;

/// What a finished call produced.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    pub attempt_id: String,
    pub summary: Summary,
    pub reports: Vec<Report>,
    /// Originates whose outcome was unknown (sent, never answered by Asterisk).
    pub unknown_originates: u32,
    /// Every channel the call originated, customer leg first.
    pub channels: Vec<String>,
}

/// Everything the runtime's tasks share.
struct Shared {
    client: AriClient,
    clock: Clock,
    classifier: Classifier,
    /// Attempt id → the call's input queue. Every id a call chooses starts with
    /// `<attempt id>-`, so events route by that prefix.
    calls: Mutex<HashMap<String, mpsc::UnboundedSender<Arrival>>>,
    /// Microseconds from an event's arrival to the first request it caused (bounded sample).
    latencies: Mutex<Vec<u32>>,
    /// Attempt id → the channels it originated, for reconciling after a reconnect.
    channels: Mutex<HashMap<String, Vec<String>>>,
    /// Channels whose originate request has not been answered yet: a reconcile must not
    /// take their absence from Asterisk's list for a loss.
    originating: Mutex<std::collections::HashSet<String>>,
    /// Whether the event stream is up now.
    connected: watch::Sender<bool>,
    /// Event lag, REST latency and errors, for the dialer's pacing.
    health: Mutex<health::Health>,
}

/// The live runtime: an event router and the calls it feeds.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

/// Handles of the runtime's background task: the router, which reads the event stream.
pub struct RuntimeTasks {
    pub router: JoinHandle<()>,
    shutdown: watch::Sender<bool>,
}

impl RuntimeTasks {
    /// Stops the event stream and the router.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.router.await;
    }
}

impl Runtime {
    /// Connects the event stream and starts routing. Returns once the first connection is
    /// up (or `connect_timeout` has passed, an error).
    pub async fn start(
        client: AriClient,
        clock: Clock,
        classifier: Classifier,
        connect_timeout: Duration,
    ) -> Result<(Runtime, RuntimeTasks), AriError> {
        let (connected, mut connected_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            client,
            clock,
            classifier,
            calls: Mutex::new(HashMap::new()),
            channels: Mutex::new(HashMap::new()),
            originating: Mutex::new(Default::default()),
            latencies: Mutex::new(Vec::new()),
            connected,
            health: Mutex::new(health::Health::default()),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let stream = events::EventStream::new(shared.client.events_url());
        let router = tokio::spawn(route(Arc::clone(&shared), stream, shutdown_rx));
        let wait = async {
            while !*connected_rx.borrow_and_update() {
                if connected_rx.changed().await.is_err() {
                    break;
                }
            }
        };
        if tokio::time::timeout(connect_timeout, wait).await.is_err() {
            let _ = shutdown.send(true);
            return Err(AriError::NotSent(format!(
                "no ARI event stream at {} within {connect_timeout:?}",
                shared.client.endpoint().base_url
            )));
        }
        Ok((Runtime { shared }, RuntimeTasks { router, shutdown }))
    }

    /// Classification latency per provider and errors by kind (none for the simulated
    /// classifier).
    pub fn classify_metrics(&self) -> Option<crate::classify::metrics::Snapshot> {
        self.shared.classifier.metrics()
    }

    /// The ARI client the calls use.
    pub fn client(&self) -> &AriClient {
        &self.shared.client
    }

    pub fn clock(&self) -> Clock {
        self.shared.clock
    }

    /// Takes the latency samples gathered so far: microseconds from an event's arrival
    /// to the first ARI request the call sent because of it.
    pub fn take_latencies(&self) -> Vec<u32> {
        self.shared
            .latencies
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// Ends every live call now (hanging up what is up): the end of a graceful shutdown.
    pub fn shutdown_calls(&self) {
        let senders: Vec<_> = self
            .shared
            .calls
            .lock()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default();
        for s in senders {
            let _ = s.send((None, Input::Shutdown));
        }
    }

    /// How Asterisk is coping (smoothed event lag, REST latency, error share).
    pub fn distress(&self) -> crate::core::campaign::pacing::Distress {
        self.shared
            .health
            .lock()
            .map(|h| h.distress())
            .unwrap_or_default()
    }

    /// Counts one ARI request into the health the pacing reads. The runtime calls it for
    /// each of its requests; tests call it to play a distressed Asterisk.
    pub fn record_request(&self, took: Duration, failed: bool) {
        if let Ok(mut health) = self.shared.health.lock() {
            health.request(took, failed);
        }
    }

    /// Whether the event stream is up: without it a new call would be blind, so the
    /// dialer holds originates until it is back.
    pub fn is_connected(&self) -> bool {
        *self.shared.connected.borrow()
    }

    /// Calls in progress.
    pub fn live_calls(&self) -> usize {
        self.shared.calls.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Runs one call to its end. `deployment` says how to dial it; `setup.attempt_id`
    /// must be unique and free of `-`.
    pub async fn call(
        &self,
        scenario: Arc<Scenario>,
        setup: CallSetup,
        deployment: Deployment,
    ) -> CallOutcome {
        let attempt = setup.attempt_id.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut calls) = self.shared.calls.lock() {
            calls.insert(attempt.clone(), tx.clone());
        }
        let mut guard = CallGuard {
            shared: Arc::clone(&self.shared),
            attempt,
            ended: false,
        };
        let mut outcome = run_call(&self.shared, scenario, setup, deployment, tx, rx).await;
        guard.ended = true;
        outcome.channels = guard.take_channels();
        outcome
    }
}

/// A call's entries in the shared maps, removed however the call ends: normally, by a
/// panic in its task, or by its future being dropped. In the last two cases its
/// channels are hung up too, since nothing else would.
struct CallGuard {
    shared: Arc<Shared>,
    attempt: String,
    ended: bool,
}

impl CallGuard {
    fn take_channels(&mut self) -> Vec<String> {
        self.shared
            .channels
            .lock()
            .ok()
            .and_then(|mut c| c.remove(&self.attempt))
            .unwrap_or_default()
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.shared.calls.lock() {
            calls.remove(&self.attempt);
        }
        let channels = self.take_channels();
        if let Ok(mut originating) = self.shared.originating.lock() {
            for c in &channels {
                originating.remove(c);
            }
        }
        if self.ended || channels.is_empty() {
            return;
        }
        // Dropped outside a runtime (its shutdown): nothing left to hang up with.
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        tracing::error!(attempt = %self.attempt, "a call ended abnormally: hanging up its channels");
        hang_up_in_background(&handle, self.shared.client.clone(), channels);
    }
}

/// Hangs `channels` up on a task of their own, retrying while Asterisk gives no clear
/// answer (`AriClient::hangup_surely`); what still fails is logged.
fn hang_up_in_background(
    runtime: &tokio::runtime::Handle,
    client: AriClient,
    channels: Vec<String>,
) {
    runtime.spawn(async move {
        for channel in channels {
            if let Err(e) = client.hangup_surely(&channel, HANGUP_TRIES).await {
                tracing::error!(%channel, error = %e, "cannot hang up a channel");
            }
        }
    });
}

/// The attempt an id belongs to: the part before its first `-`.
fn attempt_of(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

fn input_target(input: &Input) -> Option<&str> {
    match input {
        Input::OriginateFailed { channel, .. }
        | Input::ChannelProgress { channel, .. }
        | Input::StasisStarted { channel, .. }
        | Input::StasisEnded { channel }
        | Input::Dtmf { channel, .. }
        | Input::HangupRequested { channel, .. }
        | Input::ChannelGone { channel, .. }
        | Input::EnteredBridge { channel, .. } => Some(channel),
        Input::PlaybackStarted { playback } | Input::PlaybackFinished { playback, .. } => {
            Some(playback)
        }
        Input::RecordingFinished { recording, .. } | Input::RecordingFailed { recording } => {
            Some(recording)
        }
        Input::Timer(_) | Input::Classified(_) | Input::CommandFailed { .. } | Input::Shutdown => {
            None
        }
    }
}

/// Reads the event stream and sends every event to its call; reconciles after a
/// reconnect (in the background, so events keep flowing meanwhile).
async fn route(
    shared: Arc<Shared>,
    mut stream: events::EventStream,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            _ = shutdown.changed() => return,
        };
        match item {
            StreamItem::Event(event, arrived) => {
                if matches!(
                    event.as_ref(),
                    crate::ari::Event::Unknown { .. } | crate::ari::Event::Malformed { .. }
                ) {
                    tracing::debug!(
                        event = event.type_name(),
                        "skipping an event dialflow does not know"
                    );
                    continue;
                }
                if let Some(stamp) = event.timestamp()
                    && let Ok(mut health) = shared.health.lock()
                {
                    health.event(stamp);
                }
                let Some(input) = translate::input(&event) else {
                    continue;
                };
                let Some(target) = input_target(&input) else {
                    continue;
                };
                let attempt = attempt_of(target);
                let sender = shared
                    .calls
                    .lock()
                    .ok()
                    .and_then(|c| c.get(attempt).cloned());
                match (sender, input) {
                    (Some(sender), input) => {
                        let _ = sender.send((Some(arrived), input));
                    }
                    // A channel entered our app with no call behind it: an originate that
                    // reached Asterisk after its call gave up on it, or a leg whose call
                    // has ended. Nobody would ever hang it up.
                    (None, Input::StasisStarted { channel, .. }) => {
                        tracing::warn!(%channel, "hanging up a channel no live call owns");
                        hang_up_in_background(
                            &tokio::runtime::Handle::current(),
                            shared.client.clone(),
                            vec![channel],
                        );
                    }
                    (None, _) => {}
                }
            }
            StreamItem::Connected { reconnected } => {
                let _ = shared.connected.send(true);
                if reconnected {
                    tokio::spawn(reconcile(Arc::clone(&shared)));
                }
            }
            StreamItem::Disconnected { .. } => {
                let _ = shared.connected.send(false);
            }
        }
    }
}

/// After a reconnect: every channel a live call owns that Asterisk no longer has ended
/// while we were away. Tell its call, so it finishes instead of waiting forever.
async fn reconcile(shared: Arc<Shared>) {
    // What we own before asking: a channel originated after the list was taken must not
    // look lost.
    let owned: Vec<(String, Vec<String>)> = shared
        .channels
        .lock()
        .map(|c| c.iter().map(|(a, ch)| (a.clone(), ch.clone())).collect())
        .unwrap_or_default();
    let originating = shared
        .originating
        .lock()
        .map(|o| o.clone())
        .unwrap_or_default();
    // Tried again with backoff: without the list, a call that missed its hang-up
    // would wait for its timers.
    let mut wait = Duration::from_millis(250);
    let live = loop {
        match shared.client.channels().await {
            Ok(list) => break list,
            Err(e) if wait <= Duration::from_secs(8) => {
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "cannot list channels to reconcile after a reconnect");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot list channels to reconcile after a reconnect; giving up");
                return;
            }
        }
    };
    let (mut lost, mut answered) = (0, 0);
    for (attempt, channels) in owned {
        let sender = shared
            .calls
            .lock()
            .ok()
            .and_then(|c| c.get(&attempt).cloned());
        let Some(sender) = sender else { continue };
        for channel in channels {
            if originating.contains(&channel) {
                continue; // its originate is still on its way: not lost
            }
            match live.iter().find(|(id, _)| *id == channel) {
                None => {
                    lost += 1;
                    let cause_txt = "gone while disconnected".to_string();
                    let _ = sender.send((
                        None,
                        Input::ChannelGone {
                            channel,
                            cause: 0,
                            cause_txt,
                        },
                    ));
                }
                // Answered while we were away: the machine ignores this if it saw it.
                Some((_, state)) if state == "Up" => {
                    answered += 1;
                    let _ = sender.send((
                        None,
                        Input::StasisStarted {
                            channel,
                            args: Vec::new(),
                        },
                    ));
                }
                Some(_) => {}
            }
        }
    }
    tracing::info!(
        live = live.len(),
        lost,
        answered,
        "reconciled calls after reconnecting to ARI"
    );
}

/// One call: executes the machine's commands and feeds it what comes back.
async fn run_call(
    shared: &Arc<Shared>,
    scenario: Arc<Scenario>,
    setup: CallSetup,
    deployment: Deployment,
    tx: mpsc::UnboundedSender<Arrival>,
    mut rx: mpsc::UnboundedReceiver<Arrival>,
) -> CallOutcome {
    let attempt = setup.attempt_id.clone();
    // The lead's data for classifiers (an LLM gets it as data, never as instructions).
    let mut lead = setup.lead.custom.clone();
    if !setup.lead.name.is_empty() {
        lead.insert("name".into(), setup.lead.name.clone());
    }
    let lead = Arc::new(lead);
    let mut machine = CallMachine::new(scenario, setup);
    let mut timers: HashMap<u32, JoinHandle<()>> = HashMap::new();
    let mut classifications: Vec<JoinHandle<()>> = Vec::new();
    let mut reports = Vec::new();
    let mut summary = None;
    let mut unknown_originates = 0;
    let mut arrived: Option<Instant> = None;
    // Recording files fetched to hear the customer, kept for their classification.
    let mut heard: HashMap<String, Arc<[u8]>> = HashMap::new();
    machine.start(shared.clock.now());
    loop {
        while let Some(command) = machine.poll_command() {
            match &command {
                Command::StartTimer { timer, after_ms } => {
                    let tx = tx.clone();
                    let (id, sleep) = (*timer, shared.clock.real(*after_ms));
                    timers.insert(
                        id.0,
                        tokio::spawn(async move {
                            tokio::time::sleep(sleep).await;
                            let _ = tx.send((None, Input::Timer(id)));
                        }),
                    );
                }
                Command::CancelTimer { timer } => {
                    if let Some(t) = timers.remove(&timer.0) {
                        t.abort();
                    }
                }
                Command::Classify {
                    recording,
                    intents,
                    rules,
                    ..
                } => {
                    let (tx, classifier, recording, intents, rules, lead) = (
                        tx.clone(),
                        shared.classifier.clone(),
                        recording.clone(),
                        Arc::clone(intents),
                        Arc::clone(rules),
                        Arc::clone(&lead),
                    );
                    let audio = heard.remove(&recording);
                    classifications.push(tokio::spawn(async move {
                        let result = classifier
                            .classify_audio(&recording, audio, &intents, &rules, &lead)
                            .await;
                        let _ = tx.send((None, Input::Classified(result)));
                    }));
                }
                Command::Report(r) => reports.push(r.clone()),
                Command::Finish(s) => summary = Some(s.clone()),
                Command::SetResult { .. } => {}
                _ => {
                    if let Command::Originate { channel, .. } = &command
                        && let Ok(mut channels) = shared.channels.lock()
                    {
                        // Known before the request: its first event may beat the response.
                        channels
                            .entry(attempt.clone())
                            .or_default()
                            .push(channel.clone());
                        if let Ok(mut o) = shared.originating.lock() {
                            o.insert(channel.clone());
                        }
                    }
                    if let Some(request) = translate::request(&command, &deployment) {
                        if let Some(at) = arrived.take() {
                            let micros = at.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                            if let Ok(mut l) = shared.latencies.lock()
                                && l.len() < MAX_LATENCY_SAMPLES
                            {
                                l.push(micros);
                            }
                        }
                        let sent = Instant::now();
                        let answer = shared.client.send(&request).await;
                        if let Command::Originate { channel, .. } = &command
                            && let Ok(mut o) = shared.originating.lock()
                        {
                            o.remove(channel);
                        }
                        if let Ok(mut health) = shared.health.lock() {
                            let failed = match &answer {
                                Ok(_) => false,
                                Err(AriError::Refused { status, .. }) => *status >= 500,
                                Err(_) => true,
                            };
                            health.request(sent.elapsed(), failed);
                        }
                        // A proxy's gateway error says nothing of whether the originate
                        // reached Asterisk: unknown, not refused.
                        let answer = match answer {
                            Err(AriError::Refused {
                                status: 502..=504,
                                message,
                            }) if matches!(command, Command::Originate { .. }) => {
                                Err(AriError::OutcomeUnknown(message))
                            }
                            other => other,
                        };
                        // A hang-up without a clear answer is tried again in the
                        // background, after the call has moved on or ended.
                        if let Command::Hangup { channel } = &command
                            && match &answer {
                                Err(AriError::Refused { status, .. }) => *status >= 500,
                                Err(_) => true,
                                Ok(_) => false,
                            }
                        {
                            hang_up_in_background(
                                &tokio::runtime::Handle::current(),
                                shared.client.clone(),
                                vec![channel.clone()],
                            );
                        }
                        match answer {
                            Ok(_) => {}
                            Err(AriError::Refused { status, message }) => {
                                if let Some(input) = translate::refusal(&command, status, &message)
                                {
                                    machine.handle(shared.clock.now(), input);
                                }
                            }
                            Err(AriError::NotSent(message)) => {
                                if let Some(input) = translate::refusal(&command, 503, &message) {
                                    machine.handle(shared.clock.now(), input);
                                }
                            }
                            Err(AriError::OutcomeUnknown(message)) => {
                                // It may have happened: wait for its events or the timers.
                                if matches!(command, Command::Originate { .. }) {
                                    unknown_originates += 1;
                                }
                                tracing::warn!(%attempt, %request, %message, "ARI request outcome unknown");
                            }
                        }
                    }
                }
            }
        }
        if machine.is_finished() {
            break;
        }
        let Some((at, input)) = rx.recv().await else {
            break;
        };
        arrived = at;
        let input = if matches!(input, Input::RecordingFinished { .. }) && machine.silence_matters()
        {
            measure_voice(shared, input, &mut heard).await
        } else {
            input
        };
        machine.handle(shared.clock.now(), input);
    }
    for (_, t) in timers {
        t.abort();
    }
    for c in classifications {
        c.abort();
    }
    let summary = summary.unwrap_or_else(|| Summary {
        result: machine.result().to_string(),
        status: "FAILED".into(),
        transcript: None,
        answered_at: None,
        ended_at: shared.clock.now(),
        path: machine.path().to_vec(),
    });
    CallOutcome {
        attempt_id: attempt,
        summary,
        reports,
        unknown_originates,
        channels: Vec::new(),
    }
}

/// A finished recording gets how much the customer spoke into it, measured from its
/// audio (Asterisk's own figure is whole seconds and unreliable). Unknown when the
/// file cannot be had: the call then goes on as if they spoke, and classification
/// (which fetches it too) decides.
async fn measure_voice(
    shared: &Shared,
    input: Input,
    heard: &mut HashMap<String, Arc<[u8]>>,
) -> Input {
    let Input::RecordingFinished {
        recording,
        talking_ms: None,
    } = input
    else {
        return input;
    };
    let file = format!("/ari/recordings/stored/{recording}/file");
    let talking_ms = match shared.client.get_bytes(&file, MAX_RECORDING_BYTES).await {
        Ok(wav) => match crate::classify::voice::voiced_ms(&wav) {
            Ok(ms) => {
                heard.insert(recording.clone(), Arc::from(wav));
                Some(ms)
            }
            Err(e) => {
                tracing::warn!(%recording, error = %e, "cannot measure the voice in a recording");
                None
            }
        },
        Err(e) => {
            tracing::warn!(%recording, error = %e, "cannot fetch a recording to measure its voice");
            None
        }
    };
    Input::RecordingFinished {
        recording,
        talking_ms,
    }
}

/// Counts of results and statuses over many calls.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub results: BTreeMap<String, usize>,
    pub statuses: BTreeMap<String, usize>,
}

impl Tally {
    pub fn add(&mut self, outcome: &CallOutcome) {
        *self
            .results
            .entry(outcome.summary.result.clone())
            .or_default() += 1;
        *self
            .statuses
            .entry(outcome.summary.status.clone())
            .or_default() += 1;
    }
}
