//! Scripted calls: a scenario test case plays the simulated customer (and operator) of the
//! simulated PBX (`sim::pbx`), which answers the machine's ARI requests with the events a
//! real Asterisk sends, on a virtual clock. A minute-long call runs in microseconds, and
//! every request and event goes through the same translation as a live call's.

use std::collections::HashMap;
use std::sync::Arc;

use super::{CallLog, ReplayError};
use crate::ari::events;
use crate::ari::translate::{self, Deployment};
use crate::core::call::{CallMachine, CallSetup, Classification, Command, Input, Millis, TimerId};
use crate::core::scenario::Scenario;
use crate::core::testcase::TestCase;
use crate::sim::pbx::{Behaviour, Pbx};

/// How long the simulated classifier takes.
const CLASSIFY_LATENCY_MS: u64 = 700;
/// A call that runs longer than this (virtual time) is stuck.
const MAX_CALL_MS: u64 = 4 * 3_600_000;
/// Prompts of a scenario checked without its audio files get this length.
const UNKNOWN_PROMPT_MS: u64 = 2_000;

/// Runs one test case of a scenario and returns what happened.
pub fn run(scenario: &Arc<Scenario>, case: &TestCase) -> Result<CallLog, ReplayError> {
    let setup = CallSetup {
        attempt_id: "t1".into(),
        lead: case.lead.clone(),
        attempt: case.attempt,
        ring_timeout_ms: None,
    };
    let mut machine = CallMachine::new(Arc::clone(scenario), setup);
    let prompts: HashMap<String, u64> = scenario
        .prompts
        .iter()
        .map(|(name, ms)| (name.clone(), ms.unwrap_or(UNKNOWN_PROMPT_MS)))
        .collect();
    let (customer, operator) = (case.customer.clone(), case.operator.clone());
    let mut pbx = Pbx::new(prompts, move |endpoint| {
        if endpoint.starts_with("Local/customer@") {
            Some(Behaviour::Customer(customer.clone()))
        } else if endpoint.starts_with("Local/operator@") {
            Some(Behaviour::Operator(operator.clone()))
        } else {
            None
        }
    });
    let deployment = Deployment::new("dialflow", scenario, "Local/customer@scripted".into())
        .with_operators_at(scenario, "Local/operator@scripted");
    let mut log = CallLog::default();
    let mut now: u64 = 0;
    let mut timers: Vec<(u64, TimerId)> = Vec::new();
    let mut classified: Vec<(u64, Classification)> = Vec::new();
    let mut recordings: Vec<String> = Vec::new();
    let mut immediate: Vec<Input> = Vec::new();
    machine.start(Millis(0));
    loop {
        while let Some(command) = machine.poll_command() {
            log.command(Millis(now), &command);
            match &command {
                Command::StartTimer { timer, after_ms } => timers.push((now + after_ms, *timer)),
                Command::CancelTimer { timer } => timers.retain(|(_, t)| t != timer),
                Command::Classify { recording, .. } => {
                    let n = recordings
                        .iter()
                        .position(|r| r == recording)
                        .unwrap_or(recordings.len());
                    classified.push((now + CLASSIFY_LATENCY_MS, case.classification(n)));
                }
                _ => {
                    if let Command::Record { recording, .. } = &command {
                        recordings.push(recording.clone());
                    }
                    if let Some(request) = translate::request(&command, &deployment) {
                        let response =
                            pbx.request(now, request.method, &request.path, &request.query);
                        if !(200..300).contains(&response.status) {
                            let message = response
                                .body
                                .as_ref()
                                .and_then(|b| b.get("message").or_else(|| b.get("error")))
                                .and_then(serde_json::Value::as_str)
                                .unwrap_or("")
                                .to_string();
                            immediate.extend(translate::refusal(
                                &command,
                                response.status,
                                &message,
                            ));
                        }
                    }
                }
            }
            for input in immediate.drain(..) {
                log.input(Millis(now), &input);
                machine.handle(Millis(now), input);
            }
        }
        if machine.is_finished() {
            log.vars = machine.vars();
            return Ok(log);
        }
        let timer_at = timers.iter().map(|t| t.0).min();
        let class_at = classified.iter().map(|c| c.0).min();
        let pbx_at = pbx.next_due();
        let Some(next) = [timer_at, class_at, pbx_at].into_iter().flatten().min() else {
            return Err(ReplayError::Stuck {
                at: Millis(now),
                result: machine.result().to_string(),
            });
        };
        if next > MAX_CALL_MS {
            return Err(ReplayError::Stuck {
                at: Millis(next),
                result: machine.result().to_string(),
            });
        }
        now = now.max(next);
        let input = if pbx_at == Some(next) {
            match pbx.pop_due(next) {
                Some((_, value)) => {
                    let event = events::from_value(value);
                    log.event(Millis(now), event.type_name());
                    translate::input(&event)
                }
                None => None,
            }
        } else if class_at == Some(next) {
            let i = classified.iter().position(|c| c.0 == next).expect("due");
            Some(Input::Classified(classified.remove(i).1))
        } else {
            let i = timers.iter().position(|t| t.0 == next).expect("due");
            Some(Input::Timer(timers.remove(i).1))
        };
        if let Some(input) = input {
            log.input(Millis(now), &input);
            machine.handle(Millis(now), input);
        }
    }
}
