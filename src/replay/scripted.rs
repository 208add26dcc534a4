//! Scripted calls: a scenario test case plays the simulated customer (and operator) of the
//! simulated PBX (`sim::pbx`), which answers the machine's ARI requests with the events a
//! real Asterisk sends, on a virtual clock. A minute-long call runs in microseconds, and
//! every request and event goes through the same translation as a live call's.

use std::collections::HashMap;
use std::sync::Arc;

use super::{CallLog, ReplayError};
use crate::ari::translate::{self, Deployment};
use crate::ari::{ErrorBody, events};
use crate::classify::rules;
use crate::core::call::{CallMachine, CallSetup, Classification, Command, Input, Millis, TimerId};
use crate::core::scenario::Scenario;
use crate::core::testcase::{Stubbed, TestCase};
use crate::sim::pbx::{Behaviour, Pbx};

/// How long the simulated classifier takes.
const CLASSIFY_LATENCY_MS: u64 = 700;
/// A call that runs longer than this (virtual time) is stuck.
const MAX_CALL_MS: u64 = 4 * 3_600_000;
/// Prompts of a scenario checked without its audio files get this length.
const UNKNOWN_PROMPT_MS: u64 = 2_000;

/// A scripted call's world: the simulated PBX, the virtual clock, and what the machine
/// asked for that is due later.
struct Scripted<'a> {
    case: &'a TestCase,
    pbx: Pbx,
    deployment: Deployment,
    log: CallLog,
    now: u64,
    timers: Vec<(u64, TimerId)>,
    classified: Vec<(u64, Classification)>,
    recordings: Vec<String>,
}

/// Runs one test case of a scenario and returns what happened.
pub fn run(scenario: &Arc<Scenario>, case: &TestCase) -> Result<CallLog, ReplayError> {
    let setup = CallSetup {
        attempt_id: "t1".into(),
        lead: case.lead.clone(),
        attempt: case.attempt,
        ring_timeout_ms: None,
        safe_harbor: None,
    };
    let mut machine = CallMachine::new(Arc::clone(scenario), setup);
    let mut call = Scripted {
        case,
        pbx: pbx_for(scenario, case),
        deployment: Deployment::new("dialflow", scenario, "Local/customer@scripted".into())
            .with_operators_at(scenario, "Local/operator@scripted"),
        log: CallLog::default(),
        now: 0,
        timers: Vec::new(),
        classified: Vec::new(),
        recordings: Vec::new(),
    };
    machine.start(Millis(0));
    loop {
        while let Some(command) = machine.poll_command() {
            call.log.command(Millis(call.now), &command);
            if let Some(refusal) = call.execute(&command) {
                call.handle(&mut machine, refusal);
            }
        }
        if machine.is_finished() {
            call.log.vars = machine.vars();
            return Ok(call.log);
        }
        if let Some(input) = call.next_input(&machine)? {
            call.handle(&mut machine, input);
        }
    }
}

/// The simulated PBX of a test case: its customer and operator behind the scripted
/// endpoints, the scenario's prompts with their lengths.
fn pbx_for(scenario: &Scenario, case: &TestCase) -> Pbx {
    let prompts: HashMap<String, u64> = scenario
        .prompts
        .iter()
        .map(|(name, ms)| (name.clone(), ms.unwrap_or(UNKNOWN_PROMPT_MS)))
        .collect();
    let (customer, operator) = (case.customer.clone(), case.operator.clone());
    Pbx::new(prompts, move |endpoint| {
        if endpoint.starts_with("Local/customer@") {
            Some(Behaviour::Customer(customer.clone()))
        } else if endpoint.starts_with("Local/operator@") {
            Some(Behaviour::Operator(operator.clone()))
        } else {
            None
        }
    })
}

impl Scripted<'_> {
    /// Logs `input` and hands it to the machine, now.
    fn handle(&mut self, machine: &mut CallMachine, input: Input) {
        self.log.input(Millis(self.now), &input);
        machine.handle(Millis(self.now), input);
    }

    /// Carries out one command: timers and classifications are noted for later, ARI
    /// requests go to the PBX. The input a refused request means, if any.
    fn execute(&mut self, command: &Command) -> Option<Input> {
        match command {
            Command::StartTimer { timer, after_ms } => {
                self.timers.push((self.now + after_ms, *timer));
            }
            Command::CancelTimer { timer } => self.timers.retain(|(_, t)| t != timer),
            Command::Classify {
                recording,
                intents,
                rules,
                ..
            } => {
                let n = self
                    .recordings
                    .iter()
                    .position(|r| r == recording)
                    .unwrap_or(self.recordings.len());
                // The live rules classifier's own function, so a test checks the
                // scenario's words as a call would use them.
                let result = match self.case.classification(n) {
                    Stubbed::Stub(stub) => stub.clone(),
                    Stubbed::Said(said) => rules::classify_with(said, intents, rules),
                };
                self.classified
                    .push((self.now + CLASSIFY_LATENCY_MS, result));
            }
            _ => {
                if let Command::Record { recording, .. } = command {
                    self.recordings.push(recording.clone());
                }
                let request = translate::request(command, &self.deployment)?;
                let response =
                    self.pbx
                        .request(self.now, request.method, &request.path, &request.query);
                if !(200..300).contains(&response.status) {
                    let message = response
                        .body
                        .as_ref()
                        .and_then(ErrorBody::text_of)
                        .unwrap_or("");
                    return translate::refusal(command, response.status, message);
                }
            }
        }
        None
    }

    /// Moves the clock to the next thing due (a PBX event, a classification, a timer)
    /// and takes it; stuck when nothing is due, or only after `MAX_CALL_MS`.
    fn next_input(&mut self, machine: &CallMachine) -> Result<Option<Input>, ReplayError> {
        let timer_at = self.timers.iter().map(|t| t.0).min();
        let class_at = self.classified.iter().map(|c| c.0).min();
        let pbx_at = self.pbx.next_due();
        let next = [timer_at, class_at, pbx_at].into_iter().flatten().min();
        let next = match next {
            Some(next) if next <= MAX_CALL_MS => next,
            _ => {
                return Err(ReplayError::Stuck {
                    at: Millis(next.unwrap_or(self.now)),
                    result: machine.result().to_string(),
                });
            }
        };
        self.now = self.now.max(next);
        Ok(if pbx_at == Some(next) {
            self.pbx.pop_due(next).and_then(|(_, value)| {
                let event = events::from_value(value);
                self.log.event(Millis(self.now), event.type_name());
                translate::input(&event)
            })
        } else if class_at == Some(next) {
            let i = self
                .classified
                .iter()
                .position(|c| c.0 == next)
                .expect("due");
            Some(Input::Classified(self.classified.remove(i).1))
        } else {
            let i = self.timers.iter().position(|t| t.0 == next).expect("due");
            Some(Input::Timer(self.timers.remove(i).1))
        })
    }
}
