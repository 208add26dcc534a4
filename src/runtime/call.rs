//! One call's task: executes its machine's commands (timers, classifications, ARI
//! requests) and feeds the machine what comes back, until the call ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::prompts::PromptWatch;
use super::recover::{self, Missed};
use super::timers::CallTimers;
use super::{
    Arrival, CallOutcome, LiveReport, MAX_LATENCY_SAMPLES, ReportSink, Shared,
    hang_up_in_background,
};
use crate::ari::client::{AriError, MAX_RECORDING_BYTES};
use crate::ari::translate::{self, Deployment, Request};
use crate::core::call::{CallMachine, CallSetup, Command, Input, Millis, Report, Summary};
use crate::core::scenario::Scenario;
use crate::metrics;

/// A call in progress and what its task keeps for it.
struct CallTask<'a> {
    shared: &'a Arc<Shared>,
    attempt: String,
    deployment: Deployment,
    /// The call's own input queue, for its timers and classifications.
    tx: mpsc::UnboundedSender<Arrival>,
    machine: CallMachine,
    /// The lead's data for classifiers (an LLM gets it as data, never as instructions).
    lead: Arc<BTreeMap<String, String>>,
    timers: CallTimers,
    classifications: Vec<JoinHandle<()>>,
    reports: Vec<Report>,
    /// Reports made by the commands being carried out, not yet sent to `sink`.
    unsent: usize,
    sink: Option<ReportSink>,
    /// The campaign it dials for (its classification latency is counted there).
    campaign: Option<Arc<str>>,
    /// The desk `connect_agent` asks, and the agent's wait for it.
    agents: Option<super::AgentLink>,
    agent_wait: Option<JoinHandle<()>>,
    /// Told of the customer's answer once, then dropped.
    answered: Option<super::AnsweredSink>,
    /// When the machine started (the ring time counts from it).
    started: Millis,
    summary: Option<Summary>,
    unknown_originates: u32,
    /// When the event being handled arrived, until the first request it causes is sent.
    arrived: Option<Instant>,
    /// Recording files fetched to hear the customer, kept for their classification.
    heard: HashMap<String, Arc<[u8]>>,
    /// What the call waits on, to catch up after the event stream breaks.
    missed: Missed,
    /// The prompts' audio lengths, and how long the PBX really plays them.
    scenario: Arc<Scenario>,
    prompts: PromptWatch,
    /// Steps of the machine's path already shown on the live board.
    shown_steps: usize,
    /// Routes taken already counted in the flow's stats.
    counted_routes: usize,
}

/// One call: executes the machine's commands and feeds it what comes back.
pub(super) async fn run_call(
    shared: &Arc<Shared>,
    scenario: Arc<Scenario>,
    setup: CallSetup,
    deployment: Deployment,
    (tx, mut rx): (
        mpsc::UnboundedSender<Arrival>,
        mpsc::UnboundedReceiver<Arrival>,
    ),
    options: super::CallOptions,
) -> CallOutcome {
    let mut call = CallTask::new(shared, scenario, setup, deployment, tx);
    call.sink = options.sink;
    call.campaign = options.campaign.map(Arc::from);
    call.agents = options.agents;
    call.answered = options.answered;
    call.started = shared.clock.now();
    call.machine.start(call.started);
    loop {
        while let Some(command) = call.machine.poll_command() {
            call.execute(command).await;
        }
        call.send_live_reports();
        call.show_progress();
        call.tell_answer();
        if call.machine.is_finished() {
            break;
        }
        // Inputs first: what arrived before a timer's moment goes before it.
        let arrival = tokio::select! {
            biased;
            arrival = rx.recv() => match arrival {
                Some(arrival) => arrival,
                None => break,
            },
            timer = call.timers.next_due() => Arrival::Input(None, Input::Timer(timer)),
        };
        let Arrival::Input(at, input) = arrival else {
            call.catch_up(arrival).await;
            continue;
        };
        if call.missed.holds(recover::losses(shared), &input) {
            continue;
        }
        call.arrived = at;
        call.time_prompt(at, &input);
        call.feed(input).await;
    }
    call.finish()
}

impl<'a> CallTask<'a> {
    fn new(
        shared: &'a Arc<Shared>,
        scenario: Arc<Scenario>,
        setup: CallSetup,
        deployment: Deployment,
        tx: mpsc::UnboundedSender<Arrival>,
    ) -> Self {
        let attempt = setup.attempt_id.clone();
        let mut lead = setup.lead.custom.clone();
        if !setup.lead.name.is_empty() {
            lead.insert("name".into(), setup.lead.name.clone());
        }
        Self {
            shared,
            attempt,
            deployment,
            tx,
            machine: CallMachine::new(Arc::clone(&scenario), setup),
            lead: Arc::new(lead),
            timers: CallTimers::default(),
            classifications: Vec::new(),
            reports: Vec::new(),
            unsent: 0,
            sink: None,
            campaign: None,
            agents: None,
            agent_wait: None,
            answered: None,
            started: Millis(0),
            summary: None,
            unknown_originates: 0,
            arrived: None,
            heard: HashMap::new(),
            missed: Missed::new(shared),
            scenario,
            prompts: PromptWatch::default(),
            shown_steps: 0,
            counted_routes: 0,
        }
    }

    /// Puts the node the call entered, if it entered one, on the live board, and
    /// counts the routes it took in the flow's stats.
    fn show_progress(&mut self) {
        let taken = self.machine.taken();
        if taken.len() > self.counted_routes {
            let now = self.shared.clock.wall_ms();
            for (node, outcome) in &taken[self.counted_routes..] {
                let name = &self.scenario.node(*node).name;
                self.shared
                    .flow
                    .record(&self.scenario.name, name, &outcome.name(), now);
            }
            self.counted_routes = taken.len();
        }
        let path = self.machine.path();
        if path.len() == self.shown_steps {
            return;
        }
        self.shown_steps = path.len();
        let Some(step) = path.last() else { return };
        let node = self.scenario.node(step.node);
        self.shared.board.entered(
            &self.attempt,
            &node.name,
            node.verb.keyword(),
            self.machine.answered_at().is_some(),
            self.shared.clock.wall_ms(),
        );
    }

    /// Tells whoever asked that the customer answered, once.
    fn tell_answer(&mut self) {
        let Some(at) = self.machine.answered_at() else {
            return;
        };
        if let Some(sink) = self.answered.take() {
            // Nobody listening any more is no fault of the call.
            let _ = sink.send(super::Answered {
                attempt_id: self.attempt.clone(),
                campaign: self.campaign.as_deref().map(str::to_string),
                rang_ms: at.0.saturating_sub(self.started.0),
            });
        }
    }

    /// Counts a finished prompt's stretch into the health the pacing reads.
    fn time_prompt(&mut self, at: Option<Instant>, input: &Input) {
        let Some(at) = at else { return };
        match input {
            Input::PlaybackStarted { playback } => self.prompts.started(playback, at),
            Input::PlaybackFinished { playback, failed } => {
                let speed = self.shared.clock.speed();
                if let Some(stretch) = self.prompts.finished(playback, *failed, at, speed)
                    && let Ok(mut health) = self.shared.health.lock()
                {
                    health.prompt(stretch);
                }
            }
            _ => {}
        }
    }

    /// Hands the machine one input (a finished recording with the voice measured in
    /// it, where that matters).
    async fn feed(&mut self, input: Input) {
        self.missed.input(&input);
        let input =
            if matches!(input, Input::RecordingFinished { .. }) && self.machine.silence_matters() {
                measure_voice(self.shared, input, &mut self.heard).await
            } else {
                input
            };
        self.machine.handle(self.shared.clock.now(), input);
    }

    /// Catches up after loss `epoch` of the event stream (`recover`): on the reconnect
    /// the call asks Asterisk itself; the channel list serves a call whose questions
    /// went unanswered; no list in time lets the held timers decide.
    async fn catch_up(&mut self, arrival: Arrival) {
        let (epoch, listed, gave_up) = match arrival {
            Arrival::Reconnected(epoch) => (epoch, None, false),
            Arrival::Listed(epoch, Some(listed)) => (epoch, Some(listed), false),
            Arrival::Listed(epoch, None) => (epoch, None, true),
            Arrival::Input(..) => return,
        };
        self.arrived = None;
        if !gave_up && self.missed.must_ask(epoch) {
            let channels = self
                .shared
                .channels
                .lock()
                .ok()
                .and_then(|c| c.get(&self.attempt).cloned())
                .unwrap_or_default();
            let customer = self.machine.customer_channel().to_string();
            let client = &self.shared.client;
            let Some(inputs) =
                recover::ask(client, &customer, channels, listed, &self.missed).await
            else {
                return;
            };
            self.missed.asked(epoch);
            for input in inputs {
                self.feed(input).await;
            }
        }
        let losses = recover::losses(self.shared);
        for timer in self.missed.caught_up(losses, epoch) {
            self.feed(timer).await;
        }
    }

    /// Carries out one command of the machine.
    async fn execute(&mut self, command: Command) {
        self.missed.command(&command);
        match &command {
            Command::StartTimer { timer, after_ms } => {
                let after = self.shared.clock.real(*after_ms);
                self.timers.start(*timer, after);
            }
            Command::CancelTimer { timer } => self.timers.cancel(*timer),
            Command::Classify { .. } => self.classify(&command),
            Command::Report(r) => {
                self.reports.push(r.clone());
                self.unsent += 1;
            }
            Command::Finish(s) => self.summary = Some(s.clone()),
            Command::SetResult { .. } => {}
            Command::RequestAgent { queue } => self.request_agent(queue),
            Command::ReleaseAgent => self.tell_desk(|desk, attempt| desk.release(attempt)),
            Command::AgentBridged => self.tell_desk(|desk, attempt| desk.bridged(attempt)),
            Command::EndAgentCall => {
                if let Some(wait) = self.agent_wait.take() {
                    wait.abort();
                }
                self.tell_desk(|desk, attempt| desk.finished(attempt));
            }
            _ => {
                match &command {
                    Command::Originate { channel, .. } => self.note_originating(channel),
                    Command::Play {
                        playback, prompt, ..
                    } => {
                        let length = self.scenario.prompts.get(prompt).copied().flatten();
                        self.prompts.asked(playback, length);
                    }
                    Command::StopPlayback { playback } => self.prompts.stopping(playback),
                    _ => {}
                }
                if let Some(request) = translate::request(&command, &self.deployment) {
                    self.send(&command, &request).await;
                }
            }
        }
    }

    /// Classifies a recording on a task of its own; the result comes back as an input.
    fn classify(&mut self, command: &Command) {
        let Command::Classify {
            recording,
            intents,
            rules,
            ..
        } = command
        else {
            return;
        };
        let (tx, classifier, recording, intents, rules, lead) = (
            self.tx.clone(),
            self.shared.classifier.clone(),
            recording.clone(),
            Arc::clone(intents),
            Arc::clone(rules),
            Arc::clone(&self.lead),
        );
        let audio = self.heard.remove(&recording);
        let (shared, campaign) = (Arc::clone(self.shared), self.campaign.clone());
        self.classifications.push(tokio::spawn(async move {
            let began = Instant::now();
            let result = classifier
                .classify_audio(&recording, audio, &intents, &rules, &lead)
                .await;
            if let Some(campaign) = campaign {
                shared.classify_latency.record(&campaign, began.elapsed());
            }
            let _ = tx.send(Arrival::Input(None, Input::Classified(result)));
        }));
    }

    /// Asks the desk for an agent; the reservation comes back as an input. Without a
    /// desk there is no agent, and the machine hears so at once.
    fn request_agent(&mut self, queue: &str) {
        let Some(link) = &self.agents else {
            self.machine.handle(self.shared.clock.now(), Input::NoDesk);
            return;
        };
        let answer = link.desk.request(crate::desk::Ticket {
            attempt: self.attempt.clone(),
            queue: queue.to_string(),
            agent: link.agent.clone(),
            campaign: self.campaign.as_deref().map(str::to_string),
            wrap_up_ms: link.wrap_up_ms,
        });
        let tx = self.tx.clone();
        self.agent_wait = Some(tokio::spawn(async move {
            if let Ok(a) = answer.await {
                let input = Input::AgentAssigned {
                    agent: a.agent,
                    reach: a.reach,
                };
                let _ = tx.send(Arrival::Input(None, input));
            }
        }));
    }

    fn tell_desk(&self, tell: impl FnOnce(&crate::desk::Desk, &str)) {
        if let Some(link) = &self.agents {
            tell(&link.desk, &self.attempt);
        }
    }

    /// Owns `channel` before its originate is sent: its first event may beat the response.
    fn note_originating(&self, channel: &str) {
        if let Ok(mut channels) = self.shared.channels.lock() {
            channels
                .entry(self.attempt.clone())
                .or_default()
                .push(channel.to_string());
            if let Ok(mut o) = self.shared.originating.lock() {
                o.insert(channel.to_string());
            }
        }
    }

    /// Sends the request of `command` and gives the machine what its answer means.
    async fn send(&mut self, command: &Command, request: &Request) {
        self.sample_latency();
        let sent = Instant::now();
        let exchange = self.shared.client.exchange(request).await;
        let answer = exchange.answer;
        if let Command::Originate { channel, .. } = command
            && let Ok(mut o) = self.shared.originating.lock()
        {
            o.remove(channel);
        }
        if let Ok(mut health) = self.shared.health.lock() {
            // Asterisk's part of the time apart from the wait for a free connection.
            let took = sent.elapsed().saturating_sub(exchange.queued);
            health.request(took, exchange.queued, is_failure(&answer));
        }
        let answer = unknown_if_gateway_failed(command, answer);
        // A hang-up without a clear answer is tried again in the background, after the
        // call has moved on or ended.
        if let Command::Hangup { channel } = command
            && is_failure(&answer)
        {
            hang_up_in_background(
                &tokio::runtime::Handle::current(),
                self.shared.client.clone(),
                vec![channel.clone()],
            );
        }
        if let Err(e) = answer {
            self.refused(command, request, e);
        }
    }

    /// Microseconds from the event being handled to this, its first request.
    fn sample_latency(&mut self) {
        if let Some(at) = self.arrived.take() {
            let took = at.elapsed();
            metrics::global().event_to_command(took);
            let micros = took.as_micros().min(u128::from(u32::MAX)) as u32;
            if let Ok(mut l) = self.shared.latencies.lock()
                && l.len() < MAX_LATENCY_SAMPLES
            {
                l.push(micros);
            }
        }
    }

    /// What a request that did not succeed means for the call.
    fn refused(&mut self, command: &Command, request: &Request, error: AriError) {
        let refusal = match error {
            AriError::Refused { status, message } => translate::refusal(command, status, &message),
            AriError::NotSent(message) => translate::refusal(command, 503, &message),
            AriError::OutcomeUnknown(message) => {
                // It may have happened: wait for its events or the timers.
                if matches!(command, Command::Originate { .. }) {
                    self.unknown_originates += 1;
                }
                let attempt = &self.attempt;
                tracing::warn!(%attempt, %request, %message, "ARI request outcome unknown");
                None
            }
        };
        if let Some(input) = refusal {
            self.machine.handle(self.shared.clock.now(), input);
        }
    }

    /// Sends the reports just made to the sink while the call goes on, so the panel
    /// hears of them now. Reports made with the call's end stay in the outcome only:
    /// they are written with the attempt's end, in its transaction.
    fn send_live_reports(&mut self) {
        let unsent = std::mem::take(&mut self.unsent);
        let Some(sink) = &self.sink else { return };
        if unsent == 0 || self.machine.is_finished() {
            return;
        }
        let now = self.shared.clock.now();
        let at_wall_ms = self.shared.clock.wall_ms();
        let answered_wall_ms = self
            .machine
            .answered_at()
            .map(|a| at_wall_ms.saturating_sub(now.since(a)));
        for report in &self.reports[self.reports.len() - unsent..] {
            let _ = sink.send(LiveReport {
                attempt_id: self.attempt.clone(),
                report: report.clone(),
                at_wall_ms,
                answered_wall_ms,
            });
        }
    }

    /// Stops what the call left running and tells how it ended.
    fn finish(self) -> CallOutcome {
        for c in self.classifications.into_iter().chain(self.agent_wait) {
            c.abort();
        }
        let machine = &self.machine;
        let summary = self.summary.unwrap_or_else(|| Summary {
            result: machine.result().to_string(),
            status: "FAILED".into(),
            transcript: None,
            answered_at: None,
            ended_at: self.shared.clock.now(),
            path: machine.path().to_vec(),
            facts: machine.facts(),
        });
        CallOutcome {
            attempt_id: self.attempt,
            summary,
            reports: self.reports,
            unknown_originates: self.unknown_originates,
            channels: Vec::new(),
        }
    }
}

/// Whether an answer counts as Asterisk failing: lost, or a 5xx (a 4xx is the request's
/// fault, not Asterisk's).
fn is_failure(answer: &Result<Option<serde_json::Value>, AriError>) -> bool {
    match answer {
        Ok(_) => false,
        Err(AriError::Refused { status, .. }) => *status >= 500,
        Err(_) => true,
    }
}

/// A proxy's gateway error says nothing of whether the originate reached Asterisk:
/// unknown, not refused.
fn unknown_if_gateway_failed(
    command: &Command,
    answer: Result<Option<serde_json::Value>, AriError>,
) -> Result<Option<serde_json::Value>, AriError> {
    match answer {
        Err(AriError::Refused {
            status: 502..=504,
            message,
        }) if matches!(command, Command::Originate { .. }) => {
            Err(AriError::OutcomeUnknown(message))
        }
        other => other,
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
    let talking_ms = match shared
        .client
        .recording_file(&recording, MAX_RECORDING_BYTES)
        .await
    {
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
