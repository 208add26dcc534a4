//! The live runtime: drives `CallMachine`s against a real (or simulated) Asterisk over
//! ARI. One task per call owns its machine; a router task sends each event to the call
//! whose ids it carries; timers and classifications come back to the call as inputs.

pub mod backoff;
pub mod batch;
pub mod board;
mod call;
pub mod clock;
pub mod events;
pub mod flow;
pub mod health;
pub mod latency;
pub mod nailed;
mod prompts;
mod recover;
mod router;
mod timers;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::ari::client::{AriClient, AriError};
use crate::ari::translate::Deployment;
use crate::classify::Classifier;
use crate::core::call::{CallSetup, Input, Report, Summary};
use crate::core::scenario::Scenario;
use clock::Clock;

/// What reaches a call's task.
enum Arrival {
    /// An input, with when its event arrived from Asterisk (none for timers and
    /// classifications), to measure how fast the runtime reacts.
    Input(Option<Instant>, Input),
    /// The event stream is back after its loss number `epoch`: the call asks Asterisk
    /// what became of its channels and of the prompt or recording it waits on.
    Reconnected(u64),
    /// After loss `epoch`, what Asterisk's channel list says of each of the call's
    /// channels (`None`: gone); `None` in place of the list when it did not answer in
    /// time, so the call's timers decide again.
    Listed(u64, Option<recover::Listed>),
}

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

/// A report the machine made while its call goes on (an operator bridged with
/// `report: true`), handed to whoever started the call so it reaches the panel before
/// the call ends. Reports made with the call's end go only in its `CallOutcome`.
#[derive(Debug, Clone)]
pub struct LiveReport {
    pub attempt_id: String,
    pub report: Report,
    /// When it was made, on the campaigns' wall clock (`Clock::wall_ms`).
    pub at_wall_ms: u64,
    /// When the customer answered, on the same clock.
    pub answered_wall_ms: Option<u64>,
}

/// Where a call sends its `LiveReport`s.
pub type ReportSink = mpsc::UnboundedSender<LiveReport>;

/// A call's customer answered (sent once, at the answer): predictive dialing measures
/// the answer rate from answers as they happen, since counting them at the call's end
/// would count the quick unanswered ends first and make the answer rate look far lower
/// than it is while the first answered calls are still talking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub attempt_id: String,
    /// The campaign it dials for.
    pub campaign: Option<String>,
    /// How long the customer's phone rang (call time).
    pub rang_ms: u64,
}

/// Where a call sends its [`Answered`].
pub type AnsweredSink = mpsc::UnboundedSender<Answered>;

/// Everything the runtime's tasks share.
struct Shared {
    client: AriClient,
    clock: Clock,
    classifier: Classifier,
    /// Attempt id → the call's input queue. Every id a call chooses starts with
    /// `<attempt id>-`, so events route by that prefix.
    calls: Mutex<HashMap<String, mpsc::UnboundedSender<Arrival>>>,
    /// Nailed agent legs by their id prefix, routed like calls but not counted as calls
    /// (`nailed`).
    legs: Mutex<HashMap<String, mpsc::UnboundedSender<Arrival>>>,
    /// Microseconds from an event's arrival to the first request it caused (bounded sample).
    latencies: Mutex<Vec<u32>>,
    /// Attempt id → the channels it originated, for reconciling after a reconnect.
    channels: Mutex<HashMap<String, Vec<String>>>,
    /// Channels whose originate request has not been answered yet: a reconcile must not
    /// take their absence from Asterisk's list for a loss.
    originating: Mutex<std::collections::HashSet<String>>,
    /// Whether the event stream is up now.
    connected: watch::Sender<bool>,
    /// How many times the event stream has been lost: a call that lived through a loss
    /// holds its timers until it has caught up with what it missed.
    losses: AtomicU64,
    /// Event lag, REST latency and errors, for the dialer's pacing.
    health: Mutex<health::Health>,
    /// What distress did to new originates, for logs and the run's summary.
    backoff: Mutex<backoff::Backoff>,
    /// Who is called and where each call is in its flow, for the dashboard.
    board: board::Board,
    /// The routes calls took over the last hour, per scenario, for the dashboard.
    flow: flow::FlowStats,
    /// Classification latency per campaign, for the dashboard's KPIs.
    classify_latency: latency::CampaignLatencies,
    /// Whether each connection of the event stream asks Asterisk to send only the event
    /// types the calls use (`translate::EVENT_TYPES_USED`).
    filter_events: bool,
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
        filter_events: bool,
    ) -> Result<(Runtime, RuntimeTasks), AriError> {
        let (connected, mut connected_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            client,
            clock,
            classifier,
            calls: Mutex::new(HashMap::new()),
            legs: Mutex::new(HashMap::new()),
            channels: Mutex::new(HashMap::new()),
            originating: Mutex::new(Default::default()),
            latencies: Mutex::new(Vec::new()),
            connected,
            losses: AtomicU64::new(0),
            health: Mutex::new(health::Health::at_speed(clock.speed())),
            backoff: Mutex::new(backoff::Backoff::default()),
            board: board::Board::default(),
            flow: flow::FlowStats::default(),
            classify_latency: latency::CampaignLatencies::default(),
            filter_events,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let stream = events::EventStream::new(shared.client.events_url())
            .with_tls(shared.client.tls_config())
            .with_rest(shared.client.socket_rest());
        let router = tokio::spawn(router::route(Arc::clone(&shared), stream, shutdown_rx));
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
            let _ = s.send(Arrival::Input(None, Input::Shutdown));
        }
    }

    /// Tells the live call `attempt` that its agent hung up from their screen: the
    /// call ends at once, its own task hanging up what it owns (`Input::AgentHungUp`).
    /// `false` when no such call is live (it ended meanwhile).
    pub fn end_call_for_agent(&self, attempt: &str) -> bool {
        let sender = self
            .shared
            .calls
            .lock()
            .ok()
            .and_then(|c| c.get(attempt).cloned());
        sender.is_some_and(|s| s.send(Arrival::Input(None, Input::AgentHungUp)).is_ok())
    }

    /// How Asterisk is coping (smoothed event lag, REST latency, queue wait, error share).
    pub fn distress(&self) -> crate::core::campaign::pacing::Distress {
        self.shared
            .health
            .lock()
            .map(|h| h.distress())
            .unwrap_or_default()
    }

    /// What new originates are paced by now: Asterisk's distress and the most calls at
    /// once it was seen to carry. Asked by whoever is about to start calls (the dialer,
    /// a batch), so the back-off logs when it slows or holds them and why, counts the
    /// time, and learns the ceiling from the calls up now.
    /// Whether strain sets a ceiling on calls at once (`ari.learn_capacity`).
    pub fn learn_capacity(&self, on: bool) {
        if let Ok(mut backoff) = self.shared.backoff.lock() {
            backoff.learning = on;
        }
    }

    pub fn pacing(&self) -> backoff::Pacing {
        let distress = self.distress();
        let assessment = crate::core::campaign::pacing::assess(&distress);
        let in_flight = u32::try_from(self.live_calls()).unwrap_or(u32::MAX);
        let Ok(mut backoff) = self.shared.backoff.lock() else {
            return backoff::Pacing {
                distress,
                ceiling: None,
                calls_up: in_flight,
            };
        };
        backoff.observe(Instant::now(), &distress, &assessment);
        backoff.learn(self.shared.clock.now().0, in_flight, &distress);
        backoff::Pacing {
            distress,
            ceiling: backoff.ceiling(),
            calls_up: in_flight,
        }
    }

    /// How long distress has slowed and held new originates, by deciding signal.
    pub fn backoff_metrics(&self) -> backoff::BackoffMetrics {
        self.shared
            .backoff
            .lock()
            .map(|b| b.metrics())
            .unwrap_or_default()
    }

    /// Counts one ARI request into the health the pacing reads: Asterisk took `took` to
    /// answer it, after it waited `queued` for a free connection. The runtime calls it
    /// for each of its requests; tests call it to play a distressed Asterisk.
    pub fn record_request(&self, took: Duration, queued: Duration, failed: bool) {
        if let Ok(mut health) = self.shared.health.lock() {
            health.request(took, queued, failed);
        }
    }

    /// Whether the event stream is up: without it a new call would be blind, so the
    /// dialer holds originates until it is back.
    pub fn is_connected(&self) -> bool {
        *self.shared.connected.borrow()
    }

    /// Every call in progress: who, for which campaign, in which node since when.
    pub fn live_board(&self) -> Vec<board::LiveCall> {
        self.shared.board.snapshot()
    }

    /// The routes of `scenario` taken in the last hour: (node, outcome) → count.
    pub fn flow_last_hour(
        &self,
        scenario: &str,
    ) -> std::collections::HashMap<(String, String), u64> {
        self.shared
            .flow
            .last_hour(scenario, self.shared.clock.wall_ms())
    }

    /// Classification latency of `campaign`'s latest calls.
    pub fn classify_percentiles(&self, campaign: &str) -> Option<latency::Percentiles> {
        self.shared.classify_latency.percentiles(campaign)
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
        let options = CallOptions::default();
        self.call_with(scenario, setup, deployment, options).await
    }

    /// `call`, for a campaign's call: on the live board under its campaign, and
    /// sending the reports the machine makes before the call's end to `options.sink`
    /// as they are made (they are in the outcome too).
    pub async fn call_with(
        &self,
        scenario: Arc<Scenario>,
        setup: CallSetup,
        deployment: Deployment,
        options: CallOptions,
    ) -> CallOutcome {
        let attempt = setup.attempt_id.clone();
        let now = self.shared.clock.wall_ms();
        self.shared.board.insert(board::LiveCall {
            attempt_id: attempt.clone(),
            phone: setup.lead.phone.clone(),
            name: setup.lead.name.clone(),
            campaign: options.campaign.clone(),
            scenario: scenario.name.clone(),
            node: None,
            verb: None,
            answered: false,
            started_ms: now,
            node_since_ms: now,
        });
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut calls) = self.shared.calls.lock() {
            calls.insert(attempt.clone(), tx.clone());
        }
        let mut guard = CallGuard {
            shared: Arc::clone(&self.shared),
            attempt,
            ended: false,
            desk: options.agents.as_ref().map(|a| Arc::clone(&a.desk)),
        };
        let mut outcome =
            call::run_call(&self.shared, scenario, setup, deployment, (tx, rx), options).await;
        guard.ended = true;
        outcome.channels = guard.take_channels();
        outcome
    }
}

/// What a call is started with besides its scenario, setup and deployment.
#[derive(Debug, Default)]
pub struct CallOptions {
    /// Where reports made while the call goes on are sent.
    pub sink: Option<ReportSink>,
    /// The campaign it dials for, as the live board shows it.
    pub campaign: Option<String>,
    /// The desk its `connect_agent` asks; without one, no agent is ever found.
    pub agents: Option<AgentLink>,
    /// Where it tells of its customer's answer.
    pub answered: Option<AnsweredSink>,
}

/// The desk a call's `connect_agent` asks, and how long its agent's wrap-up lasts.
#[derive(Clone)]
pub struct AgentLink {
    pub desk: Arc<crate::desk::Desk>,
    pub wrap_up_ms: u64,
    /// Only this agent may take the call (their own callback, manual or preview call).
    pub agent: Option<String>,
}

impl std::fmt::Debug for AgentLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentLink")
            .field("wrap_up_ms", &self.wrap_up_ms)
            .finish_non_exhaustive()
    }
}

/// A call's entries in the shared maps, removed however the call ends: normally, by a
/// panic in its task, or by its future being dropped. In the last two cases its
/// channels are hung up too, since nothing else would.
struct CallGuard {
    shared: Arc<Shared>,
    attempt: String,
    ended: bool,
    /// Gives back whatever agent the call holds, however it ended.
    desk: Option<Arc<crate::desk::Desk>>,
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
        if let Some(desk) = &self.desk {
            desk.finished(&self.attempt);
        }
        if let Ok(mut calls) = self.shared.calls.lock() {
            calls.remove(&self.attempt);
        }
        self.shared.board.remove(&self.attempt);
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
