//! Scripted calls: a scenario test case plays a simulated customer (and operator) that
//! answers the machine's commands with ARI events, on a virtual clock. A minute-long
//! call runs in microseconds, and the events go through the same decoding and
//! translation as live ones.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use super::ari_json as ari;
use super::{CallLog, ReplayError};
use crate::ari::{events, translate};
use crate::core::call::{
    CallMachine, CallSetup, Classification, Command, Input, Leg, Millis, TimerId,
};
use crate::core::scenario::Scenario;
use crate::core::testcase::{Answer, OperatorScript, TestCase};

/// How long the simulated classifier takes.
const CLASSIFY_LATENCY_MS: u64 = 700;
/// How long a simulated customer speaks when they say something.
const SPEECH_MS: u64 = 2_000;
/// How long answering-machine detection takes for each verdict.
const AMD_HUMAN_MS: u64 = 2_100;
const AMD_MACHINE_MS: u64 = 14_000;
const AMD_NOTSURE_MS: u64 = 5_000;
/// A call that runs longer than this (virtual time) is stuck.
const MAX_CALL_MS: u64 = 4 * 3_600_000;

/// Something that will happen at a point of virtual time.
#[derive(Debug)]
enum Happening {
    Event(Value),
    Timer(TimerId),
    Classified(Classification),
    Refused(Input),
    CustomerHangsUp,
    Press(char),
}

/// The simulated far ends of one call.
struct World<'a> {
    case: &'a TestCase,
    scenario: &'a Scenario,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    happenings: HashMap<u64, Happening>,
    timers: HashMap<TimerId, u64>,
    customer: String,
    customer_up: bool,
    answered_at: Option<u64>,
    /// Until when each channel is busy playing or recording (actions on a channel queue).
    busy_until: HashMap<String, u64>,
    /// Playback id → (channel, prompt, sequence number of its finish).
    playbacks: HashMap<String, (String, String, u64)>,
    recordings: Vec<String>,
    operators: HashSet<String>,
    cancelled: HashSet<u64>,
}

impl<'a> World<'a> {
    fn at(&mut self, when: u64, what: Happening) -> u64 {
        self.seq += 1;
        self.queue.push(Reverse((when, self.seq)));
        self.happenings.insert(self.seq, what);
        self.seq
    }

    fn event(&mut self, delay: u64, value: Value) -> u64 {
        let when = self.now + delay;
        self.at(when, Happening::Event(value))
    }

    fn prompt_ms(&self, prompt: &str) -> u64 {
        self.scenario
            .prompts
            .get(prompt)
            .copied()
            .flatten()
            .unwrap_or(2_000)
    }

    fn channel_free_at(&self, channel: &str) -> u64 {
        self.busy_until
            .get(channel)
            .copied()
            .unwrap_or(0)
            .max(self.now)
    }

    fn react(&mut self, command: &Command) {
        match command {
            Command::Originate {
                channel,
                leg: Leg::Customer,
                timeout_ms,
            } => match &self.case.customer.answer {
                Answer::After(ms) => {
                    self.event(20, ari::dial(channel, ""));
                    let ms = (*ms).max(30);
                    self.event(ms, ari::state_change(channel, "Up"));
                    self.event(ms, ari::dial(channel, "ANSWER"));
                    self.event(ms, ari::stasis_start(channel, &["customer", "test"]));
                    let answered = self.now + ms;
                    self.answered_at = Some(answered);
                    self.customer_up = true;
                    if let Some(h) = self.case.customer.hangs_up_at_ms {
                        self.at(answered + h, Happening::CustomerHangsUp);
                    }
                    for (digit, at) in &self.case.customer.presses {
                        self.at(answered + at, Happening::Press(*digit));
                    }
                }
                Answer::Hangup {
                    cause,
                    cause_txt,
                    dialstatus,
                } => {
                    self.event(20, ari::dial(channel, ""));
                    self.event(1_000, ari::hangup_request(channel, *cause, false));
                    self.event(1_000, ari::dial(channel, dialstatus));
                    self.event(1_001, ari::destroyed(channel, *cause, cause_txt));
                }
                Answer::NoAnswer => {
                    self.event(20, ari::dial(channel, ""));
                    self.event(*timeout_ms, ari::hangup_request(channel, 19, false));
                    self.event(
                        *timeout_ms + 1,
                        ari::destroyed(channel, 19, "User alerting, no answer"),
                    );
                }
                Answer::Lost => {}
                Answer::Refused => {
                    let input = translate::refusal(command, 500, "Allocation failed")
                        .expect("an originate refusal");
                    let when = self.now + 5;
                    self.at(when, Happening::Refused(input));
                }
            },
            Command::Originate {
                channel,
                leg: Leg::Operator { .. },
                timeout_ms,
            } => {
                self.operators.insert(channel.clone());
                match self.case.operator {
                    OperatorScript::Answer => {
                        self.event(20, ari::dial(channel, ""));
                        self.event(1_500, ari::dial(channel, "ANSWER"));
                        self.event(1_500, ari::stasis_start(channel, &["operator", "test"]));
                    }
                    OperatorScript::Busy => {
                        self.event(20, ari::dial(channel, ""));
                        self.event(500, ari::hangup_request(channel, 17, false));
                        self.event(500, ari::dial(channel, "BUSY"));
                        self.event(501, ari::destroyed(channel, 17, "User busy"));
                    }
                    OperatorScript::NoAnswer => {
                        self.event(20, ari::dial(channel, ""));
                        self.event(*timeout_ms, ari::hangup_request(channel, 19, false));
                        self.event(
                            *timeout_ms + 1,
                            ari::destroyed(channel, 19, "User alerting, no answer"),
                        );
                    }
                    OperatorScript::Refused => {
                        let input = translate::refusal(command, 500, "Allocation failed")
                            .expect("a refusal");
                        let when = self.now + 5;
                        self.at(when, Happening::Refused(input));
                    }
                }
            }
            Command::Play {
                channel,
                playback,
                prompt,
            } => {
                if !self.is_up(channel) {
                    let input =
                        translate::refusal(command, 404, "Channel not found").expect("a refusal");
                    let when = self.now + 1;
                    self.at(when, Happening::Refused(input));
                    return;
                }
                let start = self.channel_free_at(channel);
                let end = start + self.prompt_ms(prompt);
                self.busy_until.insert(channel.clone(), end);
                self.at(
                    start + 1,
                    Happening::Event(ari::playback_started(playback, channel, prompt)),
                );
                let finish = self.at(
                    end,
                    Happening::Event(ari::playback_finished(playback, channel, prompt, false)),
                );
                self.playbacks
                    .insert(playback.clone(), (channel.clone(), prompt.clone(), finish));
            }
            Command::StopPlayback { playback } => {
                if let Some((channel, prompt, finish)) = self.playbacks.remove(playback)
                    && !self.cancelled.contains(&finish)
                    && self.happenings.contains_key(&finish)
                {
                    self.cancelled.insert(finish);
                    self.busy_until.insert(channel.clone(), self.now);
                    self.event(
                        1,
                        ari::playback_finished(playback, &channel, &prompt, false),
                    );
                }
            }
            Command::Record {
                channel,
                recording,
                max_duration_ms,
                max_silence_ms,
                ..
            } => {
                if !self.is_up(channel) {
                    let input =
                        translate::refusal(command, 404, "Channel not found").expect("a refusal");
                    let when = self.now + 1;
                    self.at(when, Happening::Refused(input));
                    return;
                }
                let n = self.recordings.len();
                self.recordings.push(recording.clone());
                let speaks = self
                    .case
                    .customer
                    .says
                    .get(n)
                    .is_some_and(|s| !s.trim().is_empty());
                let length = if speaks {
                    SPEECH_MS + max_silence_ms
                } else {
                    *max_silence_ms
                };
                let length = length.min(*max_duration_ms).max(1);
                let start = self.channel_free_at(channel);
                self.busy_until.insert(channel.clone(), start + length);
                self.at(
                    start + 1,
                    Happening::Event(ari::recording_started(recording, channel)),
                );
                let talking = if speaks { SPEECH_MS.div_ceil(1000) } else { 0 };
                self.at(
                    start + length,
                    Happening::Event(ari::recording_finished(
                        recording,
                        channel,
                        talking,
                        length.div_ceil(1000),
                    )),
                );
            }
            Command::ContinueToAmd { channel } => {
                self.event(1, ari::stasis_end(channel));
                let status = self.case.customer.amd.clone();
                let (delay, cause) = match status.as_str() {
                    "HUMAN" => (AMD_HUMAN_MS, "HUMAN-808-800"),
                    "MACHINE" => (AMD_MACHINE_MS, "LONGGREETING-1500-1500"),
                    _ => (AMD_NOTSURE_MS, "TOOLONG-5000"),
                };
                self.event(delay, ari::stasis_start(channel, &["amd", &status, cause]));
                self.busy_until.insert(channel.clone(), self.now + delay);
            }
            Command::AddToBridge { bridge, channels } => {
                for channel in channels {
                    let at = self.channel_free_at(channel) + 1 - self.now;
                    self.event(at, ari::entered_bridge(bridge, channel));
                }
            }
            Command::CreateBridge { .. } | Command::DestroyBridge { .. } => {}
            Command::Hangup { channel } => {
                if channel == &self.customer && self.customer_up {
                    self.customer_up = false;
                    self.fail_playbacks(channel);
                    self.event(1, ari::hangup_request(channel, 32, true));
                    self.event(2, ari::stasis_end(channel));
                    self.event(2, ari::destroyed(channel, 16, "Normal Clearing"));
                } else if self.operators.remove(channel) {
                    self.event(1, ari::hangup_request(channel, 32, true));
                    self.event(2, ari::destroyed(channel, 16, "Normal Clearing"));
                }
            }
            Command::StartTimer { timer, after_ms } => {
                let when = self.now + after_ms;
                let seq = self.at(when, Happening::Timer(*timer));
                self.timers.insert(*timer, seq);
            }
            Command::CancelTimer { timer } => {
                if let Some(seq) = self.timers.remove(timer) {
                    self.cancelled.insert(seq);
                }
            }
            Command::Classify { recording, .. } => {
                let n = self
                    .recordings
                    .iter()
                    .position(|r| r == recording)
                    .unwrap_or(self.recordings.len());
                let result = self.case.classification(n);
                let when = self.now + CLASSIFY_LATENCY_MS;
                self.at(when, Happening::Classified(result));
            }
            Command::SetResult { .. } | Command::Report(_) | Command::Finish(_) => {}
        }
    }

    fn is_up(&self, channel: &str) -> bool {
        if channel == self.customer {
            self.customer_up
        } else {
            self.operators.contains(channel)
        }
    }

    /// A channel that goes away ends its playing and queued prompts as failed.
    fn fail_playbacks(&mut self, channel: &str) {
        let ids: Vec<String> = self
            .playbacks
            .iter()
            .filter(|(_, (c, _, _))| c == channel)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            if let Some((_, prompt, finish)) = self.playbacks.remove(&id)
                && self.happenings.contains_key(&finish)
            {
                self.cancelled.insert(finish);
                self.event(1, ari::playback_finished(&id, channel, &prompt, true));
            }
        }
        self.busy_until.insert(channel.to_string(), self.now);
    }
}

/// Runs one test case of a scenario and returns what happened.
pub fn run(scenario: &Arc<Scenario>, case: &TestCase) -> Result<CallLog, ReplayError> {
    let setup = CallSetup {
        attempt_id: "t1".into(),
        lead: case.lead.clone(),
        attempt: case.attempt,
        ring_timeout_ms: None,
    };
    let mut machine = CallMachine::new(Arc::clone(scenario), setup);
    let mut world = World {
        case,
        scenario,
        now: 0,
        seq: 0,
        queue: BinaryHeap::new(),
        happenings: HashMap::new(),
        timers: HashMap::new(),
        customer: machine.customer_channel().to_string(),
        customer_up: false,
        answered_at: None,
        busy_until: HashMap::new(),
        playbacks: HashMap::new(),
        recordings: Vec::new(),
        operators: HashSet::new(),
        cancelled: HashSet::new(),
    };
    let mut log = CallLog::default();
    machine.start(Millis(0));
    loop {
        while let Some(command) = machine.poll_command() {
            log.command(Millis(world.now), &command);
            world.react(&command);
        }
        if machine.is_finished() {
            log.vars = machine.vars();
            return Ok(log);
        }
        let Some(Reverse((when, seq))) = world.queue.pop() else {
            return Err(ReplayError::Stuck {
                at: Millis(world.now),
                result: machine.result().to_string(),
            });
        };
        let Some(happening) = world.happenings.remove(&seq) else {
            continue;
        };
        if world.cancelled.remove(&seq) {
            continue;
        }
        world.now = when;
        if when > MAX_CALL_MS {
            return Err(ReplayError::Stuck {
                at: Millis(when),
                result: machine.result().to_string(),
            });
        }
        let now = Millis(when);
        let input = match happening {
            Happening::Event(value) => {
                let event = events::from_value(value);
                log.event(now, event.type_name());
                translate::input(&event)
            }
            Happening::Timer(timer) => {
                world.timers.remove(&timer);
                Some(Input::Timer(timer))
            }
            Happening::Classified(c) => Some(Input::Classified(c)),
            Happening::Refused(input) => Some(input),
            Happening::CustomerHangsUp => {
                if world.customer_up {
                    world.customer_up = false;
                    let channel = world.customer.clone();
                    world.fail_playbacks(&channel);
                    world.event(0, ari::hangup_request(&channel, 16, false));
                    world.event(1, ari::stasis_end(&channel));
                    world.event(1, ari::destroyed(&channel, 16, "Normal Clearing"));
                }
                None
            }
            Happening::Press(digit) => {
                if world.customer_up {
                    let channel = world.customer.clone();
                    world.event(0, ari::dtmf(&channel, digit));
                }
                None
            }
        };
        if let Some(input) = input {
            log.input(now, &input);
            machine.handle(now, input);
        }
    }
}
