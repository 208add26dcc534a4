//! The per-call interpreter: runs one compiled scenario for one call, sans I/O.
//!
//! `start` and `handle(now, input)` push [`Command`]s that the caller drains with
//! [`CallMachine::poll_command`]. Time only arrives as an argument; a wait is a
//! `StartTimer` command whose expiry comes back as an input (str0m's run-loop shape).

mod agent;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::io::*;
use super::pre_answer;
use super::{FAILED_PREFIX, FailureReason};
use crate::core::expr::{self, Template, Value, VarPath};
use crate::core::scenario::{
    Case, HookScript, NodeId, Outcome, Scenario, Target, UNKNOWN_INTENT, Verb,
};

/// How a verb ended as it started, if it did: its outcome, and a failure's reason.
type AtOnce = Option<(Outcome, Option<String>)>;

/// A prompt whose length is unknown (checked without the environment) gets this long.
const UNKNOWN_PROMPT_MS: u64 = 60_000;
/// How long past its own timeout an operator leg may take to report its end.
const LEG_GRACE_MS: u64 = 5_000;
/// How long past the ring timeout the customer's leg may take to report its end.
const RING_GRACE_MS: u64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    Dialing,
    Running,
    Finished,
}

/// What the current node is waiting for.
#[derive(Debug)]
enum Wait {
    Nothing,
    Play {
        index: usize,
        playback: String,
        timer: TimerId,
    },
    Record {
        recording: String,
        timer: TimerId,
    },
    Classify {
        filler: Option<String>,
        result: Option<Classification>,
        timer: Option<TimerId>,
    },
    Gather {
        playback: Option<String>,
        digits: String,
        timer: Option<TimerId>,
    },
    Operator {
        channel: String,
        hold: Option<String>,
        timer: TimerId,
        answered: bool,
        entered: Vec<String>,
    },
    Agent(agent::AgentWait),
    /// The safe harbor's prompt, before the hang-up.
    Harbor {
        playback: String,
        timer: TimerId,
    },
    Amd {
        timer: TimerId,
    },
    Voicemail {
        timer: TimerId,
    },
    Pause {
        timer: Option<TimerId>,
    },
}

impl Wait {
    fn timer(&self) -> Option<TimerId> {
        match self {
            Wait::Nothing => None,
            Wait::Play { timer, .. }
            | Wait::Record { timer, .. }
            | Wait::Operator { timer, .. }
            | Wait::Harbor { timer, .. }
            | Wait::Amd { timer }
            | Wait::Voicemail { timer } => Some(*timer),
            Wait::Agent(w) => Some(w.timer),
            Wait::Classify { timer, .. } | Wait::Gather { timer, .. } | Wait::Pause { timer } => {
                *timer
            }
        }
    }
}

/// An operator leg of this call.
#[derive(Debug)]
struct OperatorLeg {
    channel: String,
    /// Still up as far as we know (not hung up, not destroyed).
    alive: bool,
    answered: bool,
    dialstatus: Option<String>,
}

impl OperatorLeg {
    fn new(channel: &str) -> Self {
        Self {
            channel: channel.to_string(),
            alive: true,
            answered: false,
            dialstatus: None,
        }
    }
}

/// One call: its scenario, where it is, and what it has decided so far.
#[derive(Debug)]
pub struct CallMachine {
    scenario: Arc<Scenario>,
    setup: CallSetup,
    customer: String,
    intents: Arc<[String]>,
    out: VecDeque<Command>,
    phase: Phase,

    originated_at: Millis,
    seen_event: bool,
    dialstatus: Option<String>,
    watchdog: Option<TimerId>,
    ring_guard: Option<TimerId>,
    max_duration: Option<TimerId>,

    current: Option<NodeId>,
    wait: Wait,
    customer_gone: bool,
    result: String,
    reported: Vec<String>,
    transcript: Option<String>,
    intent: Option<String>,
    digits: Option<String>,
    amd_status: Option<String>,
    amd_cause: Option<String>,
    vars: HashMap<String, Value>,
    visits: Vec<u32>,
    steps: u32,
    path: Vec<Step>,
    /// Every route taken: the node it left and the outcome that took it (the flow
    /// picture's edge counts).
    taken: Vec<(NodeId, Outcome)>,
    answered_at: Option<Millis>,
    ended_at: Option<Millis>,
    recordings: HashMap<NodeId, String>,
    last_recording: Option<String>,
    operators: Vec<OperatorLeg>,
    bridge: Option<String>,
    /// `connect_agent`: the agent leg rung for this call, the agent reserved now, the
    /// holding bridge, and what the call learned of its wait.
    agent_leg: Option<OperatorLeg>,
    agent: Option<String>,
    bridged_agent: Option<String>,
    holding: Option<String>,
    queued_at: Option<Millis>,
    agent_bridged_at: Option<Millis>,
    dropped: bool,
    counter: u32,
}

impl CallMachine {
    pub fn new(scenario: Arc<Scenario>, setup: CallSetup) -> Self {
        let customer = format!("{}-c", setup.attempt_id);
        let intents: Arc<[String]> = scenario.intents.clone().into();
        let visits = vec![0; scenario.nodes.len()];
        Self {
            scenario,
            setup,
            customer,
            intents,
            out: VecDeque::with_capacity(8),
            phase: Phase::New,
            originated_at: Millis(0),
            seen_event: false,
            dialstatus: None,
            watchdog: None,
            ring_guard: None,
            max_duration: None,
            current: None,
            wait: Wait::Nothing,
            customer_gone: false,
            result: String::new(),
            reported: Vec::new(),
            transcript: None,
            intent: None,
            digits: None,
            amd_status: None,
            amd_cause: None,
            vars: HashMap::new(),
            visits,
            steps: 0,
            path: Vec::new(),
            taken: Vec::new(),
            answered_at: None,
            ended_at: None,
            recordings: HashMap::new(),
            last_recording: None,
            operators: Vec::new(),
            bridge: None,
            agent_leg: None,
            agent: None,
            bridged_agent: None,
            holding: None,
            queued_at: None,
            agent_bridged_at: None,
            dropped: false,
            counter: 0,
        }
    }

    // -----------------------------------------------------------------------------------
    // The interface.

    /// Dials the customer.
    pub fn start(&mut self, now: Millis) {
        if self.phase != Phase::New {
            return;
        }
        self.phase = Phase::Dialing;
        self.originated_at = now;
        let telephony = &self.scenario.telephony;
        let ring = self.ring_timeout_ms();
        let watchdog = telephony.watchdog_ms.max(ring + RING_GRACE_MS);
        self.out.push_back(Command::Originate {
            channel: self.customer.clone(),
            leg: Leg::Customer,
            timeout_ms: ring,
        });
        self.watchdog = Some(self.timer(watchdog));
        self.ring_guard = Some(self.timer(ring + RING_GRACE_MS));
    }

    /// The next command to carry out, in order.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.out.pop_front()
    }

    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// The channel id of the customer's leg (known before the originate is sent).
    pub fn customer_channel(&self) -> &str {
        &self.customer
    }

    /// Whether events for this channel belong to this call.
    pub fn owns_channel(&self, channel: &str) -> bool {
        channel == self.customer
            || self.operators.iter().any(|o| o.channel == channel)
            || self.is_agent_leg(channel)
    }

    /// The result as it stands (provisional until the call finishes).
    pub fn result(&self) -> &str {
        &self.result
    }

    /// When the customer answered (on the call's clock), if they have.
    pub fn answered_at(&self) -> Option<Millis> {
        self.answered_at
    }

    /// The call's variables (`vars.*`), sorted by name.
    pub fn vars(&self) -> Vec<(String, Value)> {
        let mut vars: Vec<(String, Value)> = self
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    pub fn path(&self) -> &[Step] {
        &self.path
    }

    /// The routes taken so far: the node each left, and the outcome that took it.
    pub fn taken(&self) -> &[(NodeId, Outcome)] {
        &self.taken
    }

    pub fn scenario(&self) -> &Arc<Scenario> {
        &self.scenario
    }

    /// Feeds one input.
    pub fn handle(&mut self, now: Millis, input: Input) {
        if matches!(self.phase, Phase::Finished | Phase::New) {
            return;
        }
        match input {
            Input::Timer(id) => self.on_timer(now, id),
            Input::Shutdown => {
                if self.phase == Phase::Dialing {
                    self.finish_unanswered(now, FailureReason::Shutdown.result(), true);
                } else {
                    // We cut the call short: its provisional result (often `hangup`) would
                    // blame the customer. A status already reported (a bridged call's
                    // CONNECTED) stands.
                    if self.reported.is_empty() {
                        self.set_result(FailureReason::Shutdown.result());
                    }
                    self.end_call(now);
                }
            }
            Input::OriginateFailed { channel, .. } => {
                if channel == self.customer && self.phase == Phase::Dialing {
                    let result = self.scenario.telephony.originate_failed_result.clone();
                    self.finish_unanswered(now, result, false);
                } else if self.operator_index(&channel).is_some() {
                    self.mark_operator_gone(&channel);
                    self.operator_ended(now, Outcome::Failed);
                } else if self.is_agent_leg(&channel) {
                    self.on_agent_leg_gone(now, &channel);
                }
            }
            Input::ChannelProgress {
                channel,
                dialstatus,
            } => {
                if channel == self.customer {
                    self.seen_event = true;
                    if let Some(t) = self.watchdog.take() {
                        self.out.push_back(Command::CancelTimer { timer: t });
                    }
                    if let Some(d) = dialstatus.filter(|d| !d.is_empty()) {
                        self.dialstatus = Some(d);
                    }
                } else if let Some(i) = self.operator_index(&channel)
                    && let Some(d) = dialstatus.filter(|d| !d.is_empty())
                {
                    self.operators[i].dialstatus = Some(d);
                }
            }
            Input::StasisStarted { channel, args } => self.on_stasis_start(now, &channel, &args),
            Input::StasisEnded { .. } | Input::PlaybackStarted { .. } => {}
            Input::PlaybackFinished { playback, failed } => {
                self.on_playback_finished(now, &playback, failed)
            }
            Input::RecordingFinished {
                recording,
                talking_ms,
            } => {
                if matches!(&self.wait, Wait::Record { recording: r, .. } if *r == recording) {
                    if let Some(node) = self.current {
                        self.recordings.insert(node, recording.clone());
                    }
                    self.last_recording = Some(recording);
                    let outcome = if talking_ms == Some(0) {
                        Outcome::Silence
                    } else {
                        Outcome::Finished
                    };
                    self.complete(now, outcome, None);
                }
            }
            Input::RecordingFailed { recording } => {
                if matches!(&self.wait, Wait::Record { recording: r, .. } if *r == recording) {
                    if self.customer_gone {
                        self.complete(now, Outcome::Hangup, None);
                    } else {
                        self.complete(
                            now,
                            Outcome::Failed,
                            Some(FailureReason::Recording.as_str()),
                        );
                    }
                }
            }
            Input::Dtmf { channel, digit } => {
                if channel == self.customer {
                    self.on_digit(now, digit);
                }
            }
            Input::HangupRequested { channel, .. } => {
                if channel == self.customer {
                    if self.phase == Phase::Running {
                        self.customer_hung_up(now);
                    }
                } else if self.operator_index(&channel).is_some() {
                    self.operator_hung_up(now, &channel);
                } else if self.is_agent_leg(&channel) {
                    self.on_agent_leg_gone(now, &channel);
                }
            }
            Input::ChannelGone {
                channel,
                cause,
                cause_txt,
            } => {
                if channel == self.customer {
                    match self.phase {
                        Phase::Dialing => {
                            let rang_out =
                                now.since(self.originated_at) + 1_000 >= self.ring_timeout_ms();
                            let result = pre_answer::result_for(
                                &self.scenario.telephony,
                                cause,
                                &cause_txt,
                                self.dialstatus.as_deref(),
                                rang_out,
                            );
                            self.customer_gone = true;
                            self.finish_unanswered(now, result, false);
                        }
                        _ => self.customer_hung_up(now),
                    }
                } else if self.operator_index(&channel).is_some() {
                    self.operator_hung_up(now, &channel);
                } else if self.is_agent_leg(&channel) {
                    self.on_agent_leg_gone(now, &channel);
                }
            }
            Input::EnteredBridge { bridge, channel } => {
                if self.on_agent_bridge_entered(now, &bridge, &channel) {
                    return;
                }
                if self.bridge.as_deref() != Some(bridge.as_str()) {
                    return;
                }
                if let Wait::Operator {
                    entered,
                    channel: op,
                    ..
                } = &mut self.wait
                {
                    if !entered.contains(&channel) {
                        entered.push(channel);
                    }
                    let customer = self.customer.clone();
                    if entered.contains(&customer) && entered.contains(op) {
                        self.complete(now, Outcome::Bridged, None);
                    }
                }
            }
            Input::Classified(classification) => {
                if let Wait::Classify { filler, result, .. } = &mut self.wait {
                    *result = Some(classification);
                    if filler.is_none() {
                        self.finish_classify(now);
                    }
                }
            }
            Input::AgentAssigned { agent, reach } => self.on_agent_assigned(agent, reach),
            Input::NoDesk => self.agent_wait_ended(now, Outcome::NoAgent),
            Input::AgentHungUp => self.on_agent_hung_up(now),
            Input::CommandFailed { .. } => {
                // A bridge that cannot be made means no operator (or agent); other
                // refusals surface through the events that follow (or the node's timer).
                if self.agent_bridge_pending() {
                    self.agent_wait_ended(now, Outcome::Failed);
                } else if matches!(self.wait, Wait::Operator { answered: true, .. }) {
                    self.complete(
                        now,
                        Outcome::Failed,
                        Some(FailureReason::OperatorFailed.as_str()),
                    );
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Before the answer.

    fn finish_unanswered(&mut self, now: Millis, result: String, hang_up: bool) {
        if hang_up && !self.customer_gone {
            self.out.push_back(Command::Hangup {
                channel: self.customer.clone(),
            });
            self.customer_gone = true;
        }
        self.set_result(result);
        self.end_call(now);
    }

    fn on_stasis_start(&mut self, now: Millis, channel: &str, args: &[String]) {
        if channel == self.customer {
            if self.phase == Phase::Dialing {
                self.seen_event = true;
                for t in [self.watchdog.take(), self.ring_guard.take()]
                    .into_iter()
                    .flatten()
                {
                    self.out.push_back(Command::CancelTimer { timer: t });
                }
                self.phase = Phase::Running;
                self.answered_at = Some(now);
                self.max_duration = Some(self.timer(self.scenario.limits.max_duration_ms));
                let start = self.scenario.start;
                self.enter(now, start);
            } else if matches!(self.wait, Wait::Amd { .. })
                && args.first().is_some_and(|a| a == "amd")
            {
                let status = args.get(1).cloned().unwrap_or_default();
                self.amd_status = Some(status.clone());
                self.amd_cause = args.get(2).cloned();
                let outcome = match status.as_str() {
                    "HUMAN" => Outcome::Human,
                    "MACHINE" => Outcome::Machine,
                    _ => Outcome::NotSure,
                };
                self.complete(now, outcome, None);
            }
        } else if self.is_agent_leg(channel) {
            self.on_agent_answered(channel);
        } else if let Some(i) = self.operator_index(channel) {
            if self.operators[i].answered || !self.operators[i].alive {
                return; // Seen already (a reconnect repeats what it cannot know we saw).
            }
            self.operators[i].answered = true;
            let waiting_for_this =
                matches!(&self.wait, Wait::Operator { channel: op, .. } if op == channel);
            if !waiting_for_this || self.customer_gone {
                // Too late (the customer left, or this leg is from an earlier attempt).
                self.out.push_back(Command::Hangup {
                    channel: channel.to_string(),
                });
                self.operators[i].alive = false;
                return;
            }
            let bridge = self
                .bridge
                .clone()
                .unwrap_or_else(|| format!("{}-b", self.setup.attempt_id));
            if let Wait::Operator { hold, answered, .. } = &mut self.wait {
                *answered = true;
                if let Some(p) = hold.take() {
                    self.out.push_back(Command::StopPlayback { playback: p });
                }
            }
            if self.bridge.is_none() {
                self.out.push_back(Command::CreateBridge {
                    bridge: bridge.clone(),
                    holding: false,
                });
                self.bridge = Some(bridge.clone());
            }
            self.out.push_back(Command::AddToBridge {
                bridge,
                channels: vec![self.customer.clone(), channel.to_string()],
            });
        }
    }

    // -----------------------------------------------------------------------------------
    // Nodes.

    /// Enters `node` and runs on through nodes that finish at once (set, branch, hook)
    /// until one waits on the line or the call ends.
    fn enter(&mut self, now: Millis, mut node: NodeId) {
        loop {
            if self.phase == Phase::Finished {
                return;
            }
            self.steps += 1;
            if self.steps > self.scenario.limits.max_steps {
                self.set_result(FailureReason::StepBudget.result());
                self.end_call(now);
                return;
            }
            let scenario = Arc::clone(&self.scenario);
            let n = scenario.node(node);
            if let Some(max) = n.max_visits
                && self.visits[node.index()] >= max
            {
                self.current = Some(node);
                match self.follow(now, &Outcome::Exhausted, None) {
                    Some(next) => {
                        node = next;
                        continue;
                    }
                    None => return,
                }
            }
            self.visits[node.index()] += 1;
            self.path.push(Step { node, at: now });
            self.current = Some(node);
            if let Some(r) = &n.set_result {
                self.set_result(r.clone());
            }
            if n.report {
                self.report_now();
            }
            let Some((outcome, reason)) = self.start_verb(now, node) else {
                return;
            };
            match self.follow(now, &outcome, reason.as_deref()) {
                Some(next) => node = next,
                None => return,
            }
        }
    }

    /// Starts the current node's verb; `Some` when it finished at once.
    fn start_verb(&mut self, now: Millis, id: NodeId) -> AtOnce {
        let scenario = Arc::clone(&self.scenario);
        let verb = &scenario.node(id).verb;
        if self.customer_gone
            && let Some(ended) = self.start_without_customer(now, verb)
        {
            return ended;
        }
        match verb {
            Verb::Play { prompts } => self.start_play(&prompts[0]),
            Verb::Record {
                max_duration_ms,
                max_silence_ms,
                beep,
            } => self.start_record(*max_duration_ms, *max_silence_ms, *beep),
            Verb::Classify {
                recording,
                filler,
                timeout_ms,
                ..
            } => self.start_classify(*recording, filler.as_deref(), *timeout_ms),
            Verb::Branch { cases } => Some((self.branch(now, cases), None)),
            Verb::Gather {
                prompt, timeout_ms, ..
            } => self.start_gather(prompt.as_deref(), *timeout_ms),
            Verb::OriginateOperator {
                operator,
                caller_id,
                timeout_ms,
                hold,
            } => self.start_operator(operator, caller_id.as_ref(), *timeout_ms, hold.as_deref()),
            Verb::ConnectAgent {
                queue,
                timeout_ms,
                hold,
            } => self.start_connect_agent(now, queue, *timeout_ms, hold),
            Verb::Amd { timeout_ms } => self.start_amd(*timeout_ms),
            Verb::VoicemailDrop { prompt } => {
                let (_, timer) = self.play(prompt);
                self.wait = Wait::Voicemail { timer };
                None
            }
            Verb::Set { assignments } => {
                self.assign(now, assignments);
                Some((Outcome::Next, None))
            }
            Verb::Hook {
                script,
                function,
                outcomes,
            } => Some(self.hook_outcome(now, script, function, outcomes)),
            Verb::Wait { duration_ms } => {
                let timer = duration_ms.map(|ms| self.timer(ms));
                self.wait = Wait::Pause { timer };
                None
            }
            Verb::Hangup => {
                self.end_call(now);
                None
            }
        }
    }

    /// A verb started after the customer hung up: every verb that speaks to, hears or
    /// waits on them ends at once; `None` for the others, which run as usual.
    fn start_without_customer(&mut self, now: Millis, verb: &Verb) -> Option<AtOnce> {
        match verb {
            Verb::VoicemailDrop { .. } => {
                self.end_call(now);
                Some(None)
            }
            Verb::OriginateOperator { .. } | Verb::ConnectAgent { .. } => {
                Some(Some((Outcome::CustomerHangup, None)))
            }
            Verb::Play { .. }
            | Verb::Record { .. }
            | Verb::Classify { .. }
            | Verb::Gather { .. }
            | Verb::Amd { .. }
            | Verb::Wait { .. } => Some(Some((Outcome::Hangup, None))),
            Verb::Branch { .. } | Verb::Set { .. } | Verb::Hook { .. } | Verb::Hangup => None,
        }
    }

    /// `play`: the first prompt (the others follow as each finishes).
    fn start_play(&mut self, prompt: &str) -> AtOnce {
        let (playback, timer) = self.play(prompt);
        self.wait = Wait::Play {
            index: 0,
            playback,
            timer,
        };
        None
    }

    /// `record`: the customer into a recording named for this call, timed out a grace
    /// after its longest duration.
    fn start_record(&mut self, max_duration_ms: u64, max_silence_ms: u64, beep: bool) -> AtOnce {
        let n = self.next_id();
        let recording = format!("{}-r{n}", self.customer);
        self.out.push_back(Command::Record {
            channel: self.customer.clone(),
            recording: recording.clone(),
            max_duration_ms,
            max_silence_ms,
            beep,
        });
        let timer = self.timer(max_duration_ms + self.scenario.limits.prompt_grace_ms);
        self.wait = Wait::Record { recording, timer };
        None
    }

    /// `classify`: the named (or last) recording, with a filler playing meanwhile or
    /// else a timer; fails at once when there is no such recording.
    fn start_classify(
        &mut self,
        recording: Option<NodeId>,
        filler: Option<&str>,
        timeout_ms: u64,
    ) -> AtOnce {
        let name = match recording {
            Some(r) => self.recordings.get(&r).cloned(),
            None => self.last_recording.clone(),
        };
        let Some(name) = name else {
            return Some((Outcome::Failed, Some(FailureReason::Recording.to_string())));
        };
        // Classification starts now, while the filler plays.
        self.out.push_back(Command::Classify {
            recording: name,
            intents: Arc::clone(&self.intents),
            rules: Arc::clone(&self.scenario.intent_rules),
            language: self.scenario.language.clone(),
        });
        let (filler, timer) = match filler {
            Some(prompt) => {
                let (playback, _) = self.play_untimed(prompt);
                (Some(playback), None)
            }
            None => (None, Some(self.timer(timeout_ms))),
        };
        self.wait = Wait::Classify {
            filler,
            result: None,
            timer,
        };
        None
    }

    /// `branch`: the first case whose guard holds, else `else`.
    fn branch(&self, now: Millis, cases: &[Case]) -> Outcome {
        let elapsed = self.elapsed(now);
        let hit = cases.iter().position(|case| {
            expr::eval(&case.guard, &|p: &VarPath| self.var(p, elapsed)).is_ok_and(|v| v.truthy())
        });
        hit.map_or(Outcome::Else, |i| Outcome::Case(i as u16))
    }

    /// `gather`: digits, after a prompt (its end starts the timer) or a timer now.
    fn start_gather(&mut self, prompt: Option<&str>, timeout_ms: u64) -> AtOnce {
        self.digits = None;
        let (playback, timer) = match prompt {
            Some(p) => (Some(self.play_untimed(p).0), None),
            None => (None, Some(self.timer(timeout_ms))),
        };
        self.wait = Wait::Gather {
            playback,
            digits: String::new(),
            timer,
        };
        None
    }

    /// `originate_operator`: a new operator leg, named before its originate, with the
    /// customer on hold music meanwhile if the node has some.
    fn start_operator(
        &mut self,
        operator: &str,
        caller_id: Option<&String>,
        timeout_ms: u64,
        hold: Option<&str>,
    ) -> AtOnce {
        let n = self.next_id();
        let channel = format!("{}-op{n}", self.setup.attempt_id);
        self.operators.push(OperatorLeg {
            channel: channel.clone(),
            alive: true,
            answered: false,
            dialstatus: None,
        });
        self.out.push_back(Command::Originate {
            channel: channel.clone(),
            leg: Leg::Operator {
                operator: operator.to_string(),
                caller_id: caller_id.cloned(),
            },
            timeout_ms,
        });
        let hold = hold.map(|p| self.play_untimed(p).0);
        let timer = self.timer(timeout_ms + LEG_GRACE_MS);
        self.wait = Wait::Operator {
            channel,
            hold,
            timer,
            answered: false,
            entered: Vec::new(),
        };
        None
    }

    /// `amd`: the customer to the dialplan's answering-machine detection.
    fn start_amd(&mut self, timeout_ms: u64) -> AtOnce {
        self.out.push_back(Command::ContinueToAmd {
            channel: self.customer.clone(),
        });
        let timer = self.timer(timeout_ms);
        self.wait = Wait::Amd { timer };
        None
    }

    /// `set`: each template rendered with the values before any assignment; one that
    /// cannot be rendered unsets its variable.
    fn assign(&mut self, now: Millis, assignments: &[(VarPath, Template)]) {
        let elapsed = self.elapsed(now);
        let values: Vec<(String, Option<Value>)> = assignments
            .iter()
            .map(|(path, template)| {
                let value = template.render(&|p: &VarPath| self.var(p, elapsed)).ok();
                (path.0.last().cloned().unwrap_or_default(), value)
            })
            .collect();
        for (name, value) in values {
            match value {
                Some(v) => {
                    self.vars.insert(name, v);
                }
                None => {
                    self.vars.remove(&name);
                }
            }
        }
    }

    /// `hook`: the outcome the script's function names, or `failed` (`hook`) when it
    /// names none of the node's outcomes or fails.
    fn hook_outcome(
        &self,
        now: Millis,
        script: &HookScript,
        function: &str,
        outcomes: &[String],
    ) -> (Outcome, Option<String>) {
        let elapsed = self.elapsed(now);
        match self.run_hook(script, function, elapsed) {
            Some(name) if outcomes.contains(&name) => (Outcome::Hook(name), None),
            _ => (Outcome::Failed, Some(FailureReason::Hook.to_string())),
        }
    }

    /// Whether hearing the customer in the recording now finishing could change the
    /// call's way: its node routes `silence` apart from `finished`. When it cannot, the
    /// runtime need not fetch the audio to listen.
    pub fn silence_matters(&self) -> bool {
        self.current.is_some_and(|c| {
            let node = self.scenario.node(c);
            node.route(&Outcome::Silence) != node.route(&Outcome::Finished)
        })
    }

    /// The current node finished with `outcome`: follow its route.
    fn complete(&mut self, now: Millis, outcome: Outcome, reason: Option<&str>) {
        if let Some(next) = self.follow(now, &outcome, reason) {
            self.enter(now, next);
        }
    }

    /// Applies the current node's route for `outcome`; the next node, or `None` when the
    /// call ended.
    fn follow(&mut self, now: Millis, outcome: &Outcome, reason: Option<&str>) -> Option<NodeId> {
        let wait = std::mem::replace(&mut self.wait, Wait::Nothing);
        if let Some(t) = wait.timer() {
            self.out.push_back(Command::CancelTimer { timer: t });
        }
        let scenario = Arc::clone(&self.scenario);
        let Some(route) = self.current.and_then(|c| scenario.node(c).route(outcome)) else {
            // Terminal verbs have no routes; anything else is a compiler bug, ended safely.
            if !self
                .current
                .is_some_and(|c| scenario.node(c).verb.is_terminal())
            {
                self.set_result(FailureReason::NoRoute.result());
            }
            self.end_call(now);
            return None;
        };
        if let Some(from) = self.current {
            self.taken.push((from, outcome.clone()));
        }
        if let Some(r) = &route.result {
            self.set_result(r.clone());
        } else if outcome.is_failure() {
            self.set_result(format!(
                "{FAILED_PREFIX}{}",
                reason.unwrap_or(FailureReason::Unknown.as_str())
            ));
        }
        if route.report {
            self.report_now();
        }
        match route.target {
            Target::Node(next) => Some(next),
            Target::End => {
                self.end_call(now);
                None
            }
        }
    }

    fn on_timer(&mut self, now: Millis, id: TimerId) {
        if self.watchdog == Some(id) {
            self.watchdog = None;
            if self.phase == Phase::Dialing && !self.seen_event {
                let result = self.scenario.telephony.no_event_result.clone();
                self.finish_unanswered(now, result, true);
            }
            return;
        }
        if self.ring_guard == Some(id) {
            self.ring_guard = None;
            if self.phase == Phase::Dialing {
                // Rang past our own timeout; with not one event seen, the events were lost.
                let result = if self.seen_event {
                    self.scenario.telephony.rang_out_result.clone()
                } else {
                    self.scenario.telephony.no_event_result.clone()
                };
                self.finish_unanswered(now, result, true);
            }
            return;
        }
        if self.max_duration == Some(id) {
            self.end_call(now);
            return;
        }
        if self.wait.timer() != Some(id) {
            return; // A timer of a node already left.
        }
        match &self.wait {
            Wait::Play { playback, .. } => {
                let playback = playback.clone();
                self.out.push_back(Command::StopPlayback { playback });
                self.complete(now, Outcome::Failed, Some(FailureReason::Playback.as_str()));
            }
            Wait::Record { .. } => self.complete(
                now,
                Outcome::Failed,
                Some(FailureReason::Recording.as_str()),
            ),
            Wait::Classify { .. } => self.complete(
                now,
                Outcome::Failed,
                Some(FailureReason::SttFailure.as_str()),
            ),
            Wait::Gather { digits, .. } => {
                let outcome = if digits.is_empty() {
                    Outcome::Timeout
                } else {
                    Outcome::Digits
                };
                self.complete(now, outcome, None);
            }
            Wait::Operator { channel, hold, .. } => {
                let (channel, hold) = (channel.clone(), hold.clone());
                if let Some(p) = hold {
                    self.out.push_back(Command::StopPlayback { playback: p });
                }
                self.hang_up_operator(&channel);
                self.complete(now, Outcome::NoAnswer, None);
            }
            Wait::Agent(_) => self.on_agent_deadline(now),
            Wait::Harbor { .. } => self.end_call(now),
            Wait::Amd { .. } => {
                self.amd_status = Some("NOTSURE".into());
                self.complete(now, Outcome::NotSure, None);
            }
            Wait::Voicemail { .. } => self.end_call(now),
            Wait::Pause { .. } => self.complete(now, Outcome::Finished, None),
            Wait::Nothing => {}
        }
    }

    fn on_playback_finished(&mut self, now: Millis, playback: &str, failed: bool) {
        match &mut self.wait {
            Wait::Play {
                index,
                playback: current,
                timer,
            } if current == playback => {
                let timer = *timer;
                if failed {
                    let (outcome, reason) = if self.customer_gone {
                        (Outcome::Hangup, None)
                    } else {
                        (Outcome::Failed, Some(FailureReason::Playback.as_str()))
                    };
                    self.complete(now, outcome, reason);
                    return;
                }
                let next = *index + 1;
                let scenario = Arc::clone(&self.scenario);
                let prompts = match self.current.map(|c| &scenario.node(c).verb) {
                    Some(Verb::Play { prompts }) => prompts,
                    _ => return,
                };
                if next < prompts.len() {
                    self.out.push_back(Command::CancelTimer { timer });
                    let (playback, timer) = self.play(&prompts[next]);
                    self.wait = Wait::Play {
                        index: next,
                        playback,
                        timer,
                    };
                } else {
                    self.complete(now, Outcome::Finished, None);
                }
            }
            Wait::Classify {
                filler,
                timer,
                result,
            } if filler.as_deref() == Some(playback) => {
                *filler = None;
                if result.is_some() {
                    self.finish_classify(now);
                } else if self.customer_gone {
                    self.complete(now, Outcome::Hangup, None);
                } else if timer.is_none() {
                    let timeout = match self.current.map(|c| &self.scenario.node(c).verb) {
                        Some(Verb::Classify { timeout_ms, .. }) => *timeout_ms,
                        _ => 0,
                    };
                    let t = self.timer(timeout);
                    if let Wait::Classify { timer, .. } = &mut self.wait {
                        *timer = Some(t);
                    }
                }
            }
            Wait::Gather {
                playback: current,
                digits,
                timer,
            } if current.as_deref() == Some(playback) => {
                *current = None;
                if digits.is_empty() && timer.is_none() {
                    let timeout = match self.current.map(|c| &self.scenario.node(c).verb) {
                        Some(Verb::Gather { timeout_ms, .. }) => *timeout_ms,
                        _ => 0,
                    };
                    let t = self.timer(timeout);
                    if let Wait::Gather { timer, .. } = &mut self.wait {
                        *timer = Some(t);
                    }
                }
            }
            Wait::Operator {
                hold: Some(current),
                answered: false,
                ..
            } if current == playback => {
                // Hold music loops while the operator's phone rings.
                let prompt = match self.current.map(|c| &self.scenario.node(c).verb) {
                    Some(Verb::OriginateOperator { hold: Some(p), .. }) => p.clone(),
                    _ => return,
                };
                if failed || self.customer_gone {
                    if let Wait::Operator { hold, .. } = &mut self.wait {
                        *hold = None;
                    }
                    return;
                }
                let (pb, _) = self.play_untimed(&prompt);
                if let Wait::Operator { hold, .. } = &mut self.wait {
                    *hold = Some(pb);
                }
            }
            Wait::Voicemail { .. } => self.end_call(now),
            Wait::Harbor { playback: p, .. } if p == playback => self.end_call(now),
            Wait::Agent(_) => self.on_hold_finished(playback, failed),
            _ => {}
        }
    }

    fn finish_classify(&mut self, now: Millis) {
        let Wait::Classify {
            result: Some(result),
            ..
        } = &self.wait
        else {
            return;
        };
        let (outcome, reason) = match result.clone() {
            Classification::Intent { intent, transcript } => {
                let known = self.intents.contains(&intent);
                let intent = if known {
                    intent
                } else {
                    UNKNOWN_INTENT.to_string()
                };
                self.transcript = Some(transcript);
                self.intent = Some(intent.clone());
                // The scenario's `post` hook may correct the intent; it sees the intent and
                // transcript as `ctx.intent` / `ctx.transcript`. An undeclared answer is ignored.
                let scenario = Arc::clone(&self.scenario);
                let post = match self.current.map(|c| &scenario.node(c).verb) {
                    Some(Verb::Classify {
                        post: Some((script, function)),
                        ..
                    }) => Some((script, function)),
                    _ => None,
                };
                let intent =
                    match post.and_then(|(script, function)| self.run_hook(script, function, 0)) {
                        Some(corrected) if self.intents.contains(&corrected) => corrected,
                        _ => intent,
                    };
                self.intent = Some(intent.clone());
                (Outcome::Intent(intent), None)
            }
            Classification::Empty => {
                self.transcript = Some(String::new());
                (Outcome::Empty, None)
            }
            Classification::Failed { reason } => (Outcome::Failed, Some(reason)),
            Classification::Quota { reason } => (Outcome::Quota, Some(reason)),
        };
        self.complete(now, outcome, reason.as_deref());
    }

    fn on_digit(&mut self, now: Millis, digit: char) {
        let scenario = Arc::clone(&self.scenario);
        let Some(Verb::Gather {
            max_digits,
            terminator,
            digit_timeout_ms,
            ..
        }) = self.current.map(|c| &scenario.node(c).verb)
        else {
            return;
        };
        let Wait::Gather {
            playback,
            digits,
            timer,
        } = &mut self.wait
        else {
            return;
        };
        // The first key cuts the prompt off, as Asterisk's Read() does.
        if let Some(p) = playback.take() {
            self.out.push_back(Command::StopPlayback { playback: p });
        }
        if let Some(t) = timer.take() {
            self.out.push_back(Command::CancelTimer { timer: t });
        }
        if Some(digit) == *terminator {
            self.digits = Some(digits.clone());
            self.complete(now, Outcome::Digits, None);
            return;
        }
        digits.push(digit);
        self.digits = Some(digits.clone());
        if digits.chars().count() as u32 >= *max_digits {
            self.complete(now, Outcome::Digits, None);
        } else {
            let t = self.timer(*digit_timeout_ms);
            if let Wait::Gather { timer, .. } = &mut self.wait {
                *timer = Some(t);
            }
        }
    }

    fn customer_hung_up(&mut self, now: Millis) {
        if self.customer_gone {
            return;
        }
        self.customer_gone = true;
        match &self.wait {
            Wait::Nothing | Wait::Voicemail { .. } | Wait::Harbor { .. } => self.end_call(now),
            Wait::Agent(_) => self.agent_wait_ended(now, Outcome::CustomerHangup),
            Wait::Operator { channel, hold, .. } => {
                let (channel, hold) = (channel.clone(), hold.clone());
                if let Some(p) = hold {
                    self.out.push_back(Command::StopPlayback { playback: p });
                }
                self.hang_up_operator(&channel);
                self.complete(now, Outcome::CustomerHangup, None);
            }
            _ => self.complete(now, Outcome::Hangup, None),
        }
    }

    fn operator_hung_up(&mut self, now: Millis, channel: &str) {
        let Some(i) = self.operator_index(channel) else {
            return;
        };
        if !self.operators[i].alive {
            return;
        }
        self.operators[i].alive = false;
        let waiting = matches!(&self.wait, Wait::Operator { channel: op, .. } if op == channel);
        if waiting && !self.operators[i].answered {
            let busy = self.operators[i].dialstatus.as_deref() == Some("BUSY");
            self.operator_ended(
                now,
                if busy {
                    Outcome::Busy
                } else {
                    Outcome::NoAnswer
                },
            );
        } else if waiting {
            // Answered, then gone before the bridge held both.
            self.operator_ended(now, Outcome::NoAnswer);
        } else if self.operators[i].answered && self.phase == Phase::Running {
            // The operator left a bridged call: the conversation is over.
            match self.wait {
                Wait::Pause { .. } => self.complete(now, Outcome::Hangup, None),
                _ => self.end_call(now),
            }
        }
    }

    /// The operator leg ended before the bridge: `Busy` and `NoAnswer` as Asterisk said,
    /// `Failed` when Asterisk refused the originate.
    fn operator_ended(&mut self, now: Millis, outcome: Outcome) {
        if let Wait::Operator { hold, .. } = &mut self.wait
            && let Some(p) = hold.take()
        {
            self.out.push_back(Command::StopPlayback { playback: p });
        }
        if matches!(self.wait, Wait::Operator { .. }) {
            let reason =
                (outcome == Outcome::Failed).then_some(FailureReason::OperatorFailed.as_str());
            self.complete(now, outcome, reason);
        }
    }

    fn mark_operator_gone(&mut self, channel: &str) {
        if let Some(i) = self.operator_index(channel) {
            self.operators[i].alive = false;
        }
    }

    fn operator_index(&self, channel: &str) -> Option<usize> {
        self.operators.iter().position(|o| o.channel == channel)
    }

    /// Maps a Q.850 cause of an operator leg that never answered; kept beside the
    /// customer mapping so both read alike.
    fn hang_up_operator(&mut self, channel: &str) {
        if let Some(i) = self.operator_index(channel)
            && self.operators[i].alive
        {
            self.operators[i].alive = false;
            self.out.push_back(Command::Hangup {
                channel: channel.to_string(),
            });
        }
    }

    // -----------------------------------------------------------------------------------
    // Results, reports, the end.

    fn set_result(&mut self, result: String) {
        if result != self.result {
            self.result = result.clone();
            self.out.push_back(Command::SetResult { result });
        }
    }

    fn status(&self) -> String {
        self.scenario
            .results
            .status_of(&self.result)
            .unwrap_or("FAILED")
            .to_string()
    }

    /// Reports the current result's status unless this call already reported it.
    fn report_now(&mut self) {
        if self.result.is_empty() {
            return;
        }
        let status = self.status();
        if self.reported.contains(&status) {
            return;
        }
        self.reported.push(status.clone());
        let transcript = self
            .transcript
            .clone()
            .filter(|t| !t.is_empty() && self.scenario.results.carries_transcript(&status));
        self.out.push_back(Command::Report(Report {
            status,
            result: self.result.clone(),
            transcript,
        }));
    }

    fn end_call(&mut self, now: Millis) {
        if self.phase == Phase::Finished {
            return;
        }
        if let Some(t) = self.wait.timer() {
            self.out.push_back(Command::CancelTimer { timer: t });
        }
        self.wait = Wait::Nothing;
        for t in [
            self.watchdog.take(),
            self.ring_guard.take(),
            self.max_duration.take(),
        ]
        .into_iter()
        .flatten()
        {
            self.out.push_back(Command::CancelTimer { timer: t });
        }
        if !self.customer_gone {
            self.customer_gone = true;
            self.out.push_back(Command::Hangup {
                channel: self.customer.clone(),
            });
        }
        let alive: Vec<String> = self
            .operators
            .iter()
            .filter(|o| o.alive)
            .map(|o| o.channel.clone())
            .collect();
        for channel in alive {
            self.hang_up_operator(&channel);
        }
        self.hang_up_agent_leg();
        if self.queued_at.is_some() {
            self.out.push_back(Command::EndAgentCall);
        }
        for bridge in [self.bridge.take(), self.holding.take()]
            .into_iter()
            .flatten()
        {
            self.out.push_back(Command::DestroyBridge { bridge });
        }
        if self.result.is_empty() {
            self.set_result(self.scenario.telephony.other_result.clone());
        }
        self.report_now();
        let status = self.status();
        let transcript = self.transcript.clone().filter(|t| !t.is_empty());
        self.ended_at = Some(now);
        self.phase = Phase::Finished;
        self.out.push_back(Command::Finish(Summary {
            result: self.result.clone(),
            status,
            transcript,
            answered_at: self.answered_at,
            ended_at: now,
            path: self.path.clone(),
            facts: self.facts(),
        }));
    }

    // -----------------------------------------------------------------------------------
    // Helpers.

    /// What the call learned so far besides its result.
    pub fn facts(&self) -> CallFacts {
        CallFacts {
            amd_status: self.amd_status.clone(),
            amd_cause: self.amd_cause.clone(),
            digits: self.digits.clone(),
            agent: self.bridged_agent.clone(),
            queued_at: self.queued_at,
            agent_bridged_at: self.agent_bridged_at,
            dropped: self.dropped,
        }
    }

    fn ring_timeout_ms(&self) -> u64 {
        self.setup
            .ring_timeout_ms
            .unwrap_or(self.scenario.telephony.ring_timeout_ms)
    }

    fn next_id(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }

    fn timer(&mut self, after_ms: u64) -> TimerId {
        let id = TimerId(self.next_id());
        self.out.push_back(Command::StartTimer {
            timer: id,
            after_ms,
        });
        id
    }

    /// Plays a prompt with a safety timer of its length plus the grace.
    fn play(&mut self, prompt: &str) -> (String, TimerId) {
        let (playback, length) = self.play_untimed(prompt);
        let timer = self.timer(length + self.scenario.limits.prompt_grace_ms);
        (playback, timer)
    }

    fn play_untimed(&mut self, prompt: &str) -> (String, u64) {
        let n = self.next_id();
        let playback = format!("{}-p{n}", self.setup.attempt_id);
        self.out.push_back(Command::Play {
            channel: self.customer.clone(),
            playback: playback.clone(),
            prompt: prompt.to_string(),
        });
        let length = self
            .scenario
            .prompts
            .get(prompt)
            .copied()
            .flatten()
            .unwrap_or(UNKNOWN_PROMPT_MS);
        (playback, length)
    }

    fn elapsed(&self, now: Millis) -> u64 {
        self.answered_at.map_or(0, |a| now.since(a))
    }

    /// The value of a variable for guards and templates; `None` when it is unset.
    fn var(&self, path: &VarPath, elapsed_ms: u64) -> Option<Value> {
        let parts = &path.0;
        let first = parts.first()?.as_str();
        let second = parts.get(1).map(String::as_str);
        match (first, second) {
            ("intent", None) => self.intent.as_deref().map(Value::str),
            ("transcript", None) => self.transcript.as_deref().map(Value::str),
            ("digits", None) => self.digits.as_deref().map(Value::str),
            ("result", None) => Some(Value::str(self.result.as_str())),
            ("attempt", None) => Some(Value::Num(f64::from(self.setup.attempt))),
            ("elapsed", None) => Some(Value::Duration(elapsed_ms)),
            ("amd", Some("status")) => self.amd_status.as_deref().map(Value::str),
            ("amd", Some("cause")) => self.amd_cause.as_deref().map(Value::str),
            ("lead", Some("name")) => Some(Value::str(self.setup.lead.name.as_str())),
            ("lead", Some("phone")) => Some(Value::str(self.setup.lead.phone.as_str())),
            ("lead", Some("timezone")) => Some(Value::str(self.setup.lead.timezone.as_str())),
            // A column the lead's file lacks reads as empty, like an empty cell.
            ("lead", Some("custom")) => Some(Value::str(
                self.setup
                    .lead
                    .custom
                    .get(parts.get(2)?)
                    .map_or("", String::as_str),
            )),
            ("vars", Some(name)) => self.vars.get(name).cloned(),
            ("visits", Some(name)) => self
                .scenario
                .node_by_name(name)
                .map(|id| Value::Num(f64::from(self.visits[id.index()]))),
            _ => None,
        }
    }

    /// Runs a hook function with the call's data; its return value names an outcome.
    fn run_hook(&self, script: &HookScript, function: &str, elapsed_ms: u64) -> Option<String> {
        let mut ctx = rhai::Map::new();
        let text = |v: Option<&str>| rhai::Dynamic::from(v.unwrap_or("").to_string());
        ctx.insert("intent".into(), text(self.intent.as_deref()));
        ctx.insert("transcript".into(), text(self.transcript.as_deref()));
        ctx.insert("digits".into(), text(self.digits.as_deref()));
        ctx.insert("result".into(), text(Some(&self.result)));
        ctx.insert(
            "attempt".into(),
            rhai::Dynamic::from(i64::from(self.setup.attempt)),
        );
        ctx.insert("elapsed_ms".into(), rhai::Dynamic::from(elapsed_ms as i64));
        let mut lead = rhai::Map::new();
        lead.insert("name".into(), text(Some(&self.setup.lead.name)));
        lead.insert("phone".into(), text(Some(&self.setup.lead.phone)));
        lead.insert("timezone".into(), text(Some(&self.setup.lead.timezone)));
        let custom: rhai::Map = self
            .setup
            .lead
            .custom
            .iter()
            .map(|(k, v)| (k.as_str().into(), rhai::Dynamic::from(v.clone())))
            .collect();
        lead.insert("custom".into(), rhai::Dynamic::from_map(custom));
        ctx.insert("lead".into(), rhai::Dynamic::from_map(lead));
        let vars: rhai::Map = self
            .vars
            .iter()
            .map(|(k, v)| {
                let d = match v {
                    Value::Bool(b) => rhai::Dynamic::from(*b),
                    Value::Num(n) => rhai::Dynamic::from(*n),
                    other => rhai::Dynamic::from(other.to_string()),
                };
                (k.as_str().into(), d)
            })
            .collect();
        ctx.insert("vars".into(), rhai::Dynamic::from_map(vars));
        let mut scope = rhai::Scope::new();
        let arity = script
            .ast
            .iter_functions()
            .find(|f| f.name == function)
            .map(|f| f.params.len());
        let value: Result<rhai::Dynamic, _> = match arity {
            Some(0) => script.engine.call_fn(&mut scope, &script.ast, function, ()),
            Some(_) => script.engine.call_fn(
                &mut scope,
                &script.ast,
                function,
                (rhai::Dynamic::from_map(ctx),),
            ),
            None => return None,
        };
        value.ok().and_then(|v| v.into_string().ok())
    }
}
