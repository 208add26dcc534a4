//! Replaying a trace recorded from a real Asterisk: the machine's requests are answered
//! with the recorded responses, and the recorded events are delivered in their order and
//! at their times. Ids the recording client chose (or Asterisk chose) are mapped to the
//! ones the machine chose as they are learned from matching requests.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::{CallLog, ReplayError};
use crate::ari::trace::{HttpExchange, Trace, TraceLine};
use crate::ari::translate::{self, Deployment, Request};
use crate::ari::{ErrorBody, Route};
use crate::core::call::{
    CallMachine, CallSetup, Classification, Command, Input, Lead, Millis, TimerId,
};
use crate::core::scenario::Scenario;

/// How long after a `Classify` command the stubbed classifier answers.
const CLASSIFY_LATENCY_MS: u64 = 300;

/// The intents the seed flows' classifier gave each simulated customer of
/// `shared/ari-traces/dialplan.conf`, one per recording.
pub fn intents_for(customer: &str) -> &'static [&'static str] {
    match customer {
        "yes" | "yes-hangup" => &["yes"],
        "no" => &["no"],
        "number" => &["number_question", "yes"],
        "unknown" => &["unknown"],
        _ => &[],
    }
}

/// The stubbed classifier's answers for a trace: its meta line's customer behaviour and
/// what the customer said in each recording (empty speech → `empty`).
pub fn stubs_for(trace: &Trace) -> Vec<Classification> {
    let intents = intents_for(trace.meta.customer.as_deref().unwrap_or(""));
    trace
        .meta
        .said
        .iter()
        .enumerate()
        .map(|(i, said)| match intents.get(i) {
            Some(intent) if !said.trim().is_empty() => Classification::Intent {
                intent: (*intent).to_string(),
                transcript: said.clone(),
            },
            _ if said.trim().is_empty() => Classification::Empty,
            _ => Classification::Intent {
                intent: "unknown".into(),
                transcript: said.clone(),
            },
        })
        .collect()
}

struct Replay<'a> {
    lines: &'a [TraceLine],
    consumed: Vec<bool>,
    cursor: usize,
    now: u64,
    /// Trace id → machine id.
    ids: HashMap<String, String>,
    timers: Vec<(u64, u32, TimerId)>,
    classified: Vec<(u64, Classification)>,
    stubs: Vec<Classification>,
    recordings: Vec<String>,
    deployment: Deployment,
    log: CallLog,
}

/// Replays `trace` through a fresh machine for `scenario`.
pub fn run(
    scenario: &Arc<Scenario>,
    trace: &Trace,
    stubs: Vec<Classification>,
) -> Result<CallLog, ReplayError> {
    let lines = &trace.lines;
    let start = lines.iter().find_map(line_time).unwrap_or(0.0) as u64;
    let setup = CallSetup {
        attempt_id: "r1".into(),
        lead: Lead::default(),
        attempt: 1,
        ring_timeout_ms: recorded_ring_timeout_ms(lines),
        safe_harbor: None,
    };
    let mut machine = CallMachine::new(Arc::clone(scenario), setup);
    let mut replay = Replay {
        lines,
        consumed: vec![false; lines.len()],
        cursor: 0,
        now: start,
        ids: HashMap::new(),
        timers: Vec::new(),
        classified: Vec::new(),
        stubs,
        recordings: Vec::new(),
        deployment: replay_deployment(trace, scenario),
        log: CallLog::default(),
    };
    machine.start(Millis(start));
    loop {
        while let Some(command) = machine.poll_command() {
            replay.log.command(Millis(replay.now), &command);
            if let Some(input) = replay.answer(&command)? {
                replay.handle(&mut machine, input);
            }
        }
        if machine.is_finished() {
            replay.log.vars = machine.vars();
            return Ok(replay.log);
        }
        replay.advance(&mut machine)?;
    }
}

/// The recording client's own ring timeout, so "rang until the timeout" means the same.
fn recorded_ring_timeout_ms(lines: &[TraceLine]) -> Option<u64> {
    lines.iter().find_map(|l| match l {
        TraceLine::Http(h) if route_of(h) == Some(Route::Originate) => h
            .request
            .query
            .get("timeout")
            .and_then(|t| t.parse::<u64>().ok())
            .map(|s| s * 1000),
        _ => None,
    })
}

/// How the replayed machine's commands become requests: the trace's app, fixed names
/// for the rest (the requests are matched by shape, not by these).
fn replay_deployment(trace: &Trace, scenario: &Scenario) -> Deployment {
    Deployment {
        app: trace.meta.app.clone(),
        customer_endpoint: "customer".into(),
        operators: Default::default(),
        caller_ids: Default::default(),
        customer_caller_id: None,
        sound_prefix: "dialer".into(),
        amd_context: "dialer-amd".into(),
        formats: String::new(),
        scenario_name: scenario.name.clone(),
    }
}

/// The request a recorded exchange made, if dialflow knows it.
fn route_of(exchange: &HttpExchange) -> Option<Route<'_>> {
    Route::parse(&exchange.request.method, &exchange.request.path)
}

fn line_time(line: &TraceLine) -> Option<f64> {
    match line {
        TraceLine::Http(h) => Some(h.t_ms),
        TraceLine::Event { t_ms, .. } => Some(*t_ms),
        TraceLine::Meta(_) => None,
    }
}

impl Replay<'_> {
    /// Logs `input` and hands it to the machine, now.
    fn handle(&mut self, machine: &mut CallMachine, input: Input) {
        self.log.input(Millis(self.now), &input);
        machine.handle(Millis(self.now), input);
    }

    /// Moves time to the next thing due, a timer or classification or the next trace
    /// line, and delivers it; stuck when there is none.
    fn advance(&mut self, machine: &mut CallMachine) -> Result<(), ReplayError> {
        let next_line = self.next_event_line();
        let line_at = next_line.map(|i| line_time(&self.lines[i]).unwrap_or(0.0) as u64);
        let timer_at = self.timers.iter().map(|t| t.0).min();
        let class_at = self.classified.iter().map(|c| c.0).min();
        let soonest_internal = [timer_at, class_at].into_iter().flatten().min();
        match (soonest_internal, line_at, next_line) {
            (Some(t), line, _) if line.is_none_or(|l| t <= l) => {
                self.now = self.now.max(t);
                let input = self.take_due(t, class_at == Some(t));
                self.handle(machine, input);
            }
            (_, Some(at), Some(i)) => {
                self.cursor = i + 1;
                self.now = self.now.max(at);
                self.deliver_line(machine, i);
            }
            _ => {
                return Err(ReplayError::Stuck {
                    at: Millis(self.now),
                    result: machine.result().to_string(),
                });
            }
        }
        Ok(())
    }

    /// The classification (or else the timer) due at `t`, taken off its list.
    fn take_due(&mut self, t: u64, classification: bool) -> Input {
        if classification {
            let i = self
                .classified
                .iter()
                .position(|c| c.0 == t)
                .expect("due classification");
            Input::Classified(self.classified.remove(i).1)
        } else {
            let i = self
                .timers
                .iter()
                .position(|x| x.0 == t)
                .expect("due timer");
            Input::Timer(self.timers.remove(i).2)
        }
    }

    /// The event on trace line `i`, ids mapped to the machine's.
    fn deliver_line(&mut self, machine: &mut CallMachine, i: usize) {
        let lines = self.lines;
        if let TraceLine::Event { event, .. } = &lines[i] {
            self.log.event(Millis(self.now), event.type_name());
            if let Some(input) = translate::input(event) {
                let input = self.map_input(input);
                self.handle(machine, input);
            }
        }
    }

    /// The next event line at or after the cursor. Requests the machine never made are
    /// passed over: their events still arrive, carrying ids no call owns.
    fn next_event_line(&self) -> Option<usize> {
        (self.cursor..self.lines.len()).find(|&i| matches!(self.lines[i], TraceLine::Event { .. }))
    }

    /// Handles a command: timers and classification here, ARI requests against the trace.
    fn answer(&mut self, command: &Command) -> Result<Option<Input>, ReplayError> {
        match command {
            Command::StartTimer { timer, after_ms } => {
                self.timers.push((self.now + after_ms, timer.0, *timer));
                return Ok(None);
            }
            Command::CancelTimer { timer } => {
                self.timers.retain(|t| t.2 != *timer);
                return Ok(None);
            }
            Command::Classify { recording, .. } => {
                let n = self
                    .recordings
                    .iter()
                    .position(|r| r == recording)
                    .unwrap_or(self.recordings.len());
                // The runtime fetches the recording: that is the trace's GET of the file.
                if let Some(trace_name) = self.trace_id(recording) {
                    let file = Route::StoredRecordingFile { name: &trace_name };
                    if let Some(i) = self.find(|h| route_of(h) == Some(file)) {
                        self.consumed[i] = true;
                    }
                }
                let stub = self.stubs.get(n).cloned().unwrap_or(Classification::Empty);
                self.classified.push((self.now + CLASSIFY_LATENCY_MS, stub));
                return Ok(None);
            }
            Command::Record { recording, .. } => self.recordings.push(recording.clone()),
            _ => {}
        }
        let Some(request) = translate::request(command, &self.deployment) else {
            return Ok(None);
        };
        let Some(i) = self.find(|h| self.matches(&request, h)) else {
            return Err(ReplayError::Unanswerable {
                request: request.to_string(),
                at: Millis(self.now),
            });
        };
        self.consumed[i] = true;
        let TraceLine::Http(exchange) = &self.lines[i] else {
            unreachable!("find returns http lines")
        };
        self.learn(&request, exchange);
        if exchange.response.is_success() {
            return Ok(None);
        }
        let message = exchange
            .response
            .body
            .as_ref()
            .and_then(ErrorBody::text_of)
            .unwrap_or("")
            .to_string();
        Ok(translate::refusal(
            command,
            exchange.response.status,
            &message,
        ))
    }

    fn find(&self, pred: impl Fn(&HttpExchange) -> bool) -> Option<usize> {
        (0..self.lines.len()).find(|&i| match &self.lines[i] {
            TraceLine::Http(h) => !self.consumed[i] && pred(h),
            _ => false,
        })
    }

    fn trace_id(&self, ours: &str) -> Option<String> {
        self.ids
            .iter()
            .find(|(_, v)| v.as_str() == ours)
            .map(|(k, _)| k.clone())
    }

    /// Whether a recorded request is the one the machine makes: the same request (method
    /// and path shape), the same resource (ids mapped, or not yet known), and for
    /// originates the same leg, for prompts the same prompt.
    fn matches(&self, ours: &Request, theirs: &HttpExchange) -> bool {
        let (Some(our_route), Some(their_route)) =
            (Route::parse(ours.method, &ours.path), route_of(theirs))
        else {
            return false;
        };
        if our_route.kind() != their_route.kind()
            || !self.same_id(our_route.resource(), their_route.resource())
        {
            return false;
        }
        let (ours_q, theirs_q) = (&ours.query, &theirs.request.query);
        match (our_route, their_route) {
            (Route::Originate, _) => {
                let kind = |q: &BTreeMap<String, String>| {
                    q.get("appArgs")
                        .and_then(|a| a.split(',').next().map(str::to_string))
                };
                kind(ours_q) == kind(theirs_q)
            }
            // We name our playbacks (`/play/{id}`); the recording client let Asterisk do it.
            (Route::Play { playback: o, .. }, Route::Play { playback: th, .. }) => {
                let prompt = |q: &BTreeMap<String, String>| {
                    q.get("media")
                        .and_then(|m| m.rsplit(['/', ':']).next().map(str::to_string))
                };
                (th.is_none() || self.same_id(o, th)) && prompt(ours_q) == prompt(theirs_q)
            }
            _ => true,
        }
    }

    /// Whether our id and the trace's name the same thing: equal, mapped to each other,
    /// or the trace's seen for the first time and ours not mapped to another.
    fn same_id(&self, ours: Option<&str>, theirs: Option<&str>) -> bool {
        let (o, th) = match (ours, theirs) {
            (None, None) => return true,
            (Some(o), Some(th)) => (o, th),
            _ => return false,
        };
        if o == th {
            return true;
        }
        match self.ids.get(th) {
            Some(mapped) => mapped == o,
            None => !self.ids.values().any(|v| v == o),
        }
    }

    /// Learns the id mapping a matched request reveals.
    fn learn(&mut self, ours: &Request, theirs: &HttpExchange) {
        let our_route = Route::parse(ours.method, &ours.path);
        if let (Some(o), Some(th)) = (
            our_route.and_then(|r| r.resource()),
            route_of(theirs).and_then(|r| r.resource()),
        ) && o != th
            && !self.ids.contains_key(th)
        {
            self.ids.insert(th.to_string(), o.to_string());
        }
        let t = &theirs.request;
        for key in ["channelId", "name", "bridgeId"] {
            if let (Some(o), Some(th)) = (ours.query.get(key), t.query.get(key)) {
                self.ids.insert(th.clone(), o.clone());
            }
        }
        // Asterisk chose the playback id in the recording: it is in the response.
        if let Some(Route::Play {
            playback: Some(our_id),
            ..
        }) = our_route
            && let Some(id) = theirs
                .response
                .body
                .as_ref()
                .and_then(|b| b.get("id"))
                .and_then(Value::as_str)
        {
            self.ids.insert(id.to_string(), our_id.to_string());
        }
    }

    fn map(&self, id: &str) -> String {
        self.ids.get(id).cloned().unwrap_or_else(|| id.to_string())
    }

    fn map_input(&self, input: Input) -> Input {
        match input {
            Input::ChannelProgress {
                channel,
                dialstatus,
            } => Input::ChannelProgress {
                channel: self.map(&channel),
                dialstatus,
            },
            Input::StasisStarted { channel, args } => Input::StasisStarted {
                channel: self.map(&channel),
                args,
            },
            Input::StasisEnded { channel } => Input::StasisEnded {
                channel: self.map(&channel),
            },
            Input::PlaybackStarted { playback } => Input::PlaybackStarted {
                playback: self.map(&playback),
            },
            Input::PlaybackFinished { playback, failed } => Input::PlaybackFinished {
                playback: self.map(&playback),
                failed,
            },
            Input::RecordingFinished {
                recording,
                talking_ms,
            } => Input::RecordingFinished {
                recording: self.map(&recording),
                talking_ms,
            },
            Input::RecordingFailed { recording } => Input::RecordingFailed {
                recording: self.map(&recording),
            },
            Input::Dtmf { channel, digit } => Input::Dtmf {
                channel: self.map(&channel),
                digit,
            },
            Input::HangupRequested { channel, cause } => Input::HangupRequested {
                channel: self.map(&channel),
                cause,
            },
            Input::ChannelGone {
                channel,
                cause,
                cause_txt,
            } => Input::ChannelGone {
                channel: self.map(&channel),
                cause,
                cause_txt,
            },
            Input::EnteredBridge { bridge, channel } => Input::EnteredBridge {
                bridge: self.map(&bridge),
                channel: self.map(&channel),
            },
            other => other,
        }
    }
}
