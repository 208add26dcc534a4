//! Starting a node's verb: one function per verb. Each either finishes at once (the
//! outcome it gives) or sends its commands and sets what the machine waits for.

use std::sync::Arc;

use super::{CallMachine, LEG_GRACE_MS, OperatorLeg, Wait};
use crate::core::call::FailureReason;
use crate::core::call::io::{Command, Leg, Millis};
use crate::core::expr::{self, Value, VarPath};
use crate::core::scenario::{Case, HookScript, NodeId, Outcome, Verb};

/// How a verb's start went: `Some` outcome (and failure reason) when it finished at once.
type Started = Option<(Outcome, Option<String>)>;

impl CallMachine {
    /// Starts the current node's verb; `Some` when it finished at once.
    pub(super) fn start_verb(&mut self, now: Millis, id: NodeId) -> Started {
        let scenario = Arc::clone(&self.scenario);
        let verb = &scenario.node(id).verb;
        if self.customer_gone {
            // Only what needs no line still runs once the customer has hung up.
            match verb {
                Verb::Branch { .. } | Verb::Set { .. } | Verb::Hook { .. } | Verb::Hangup => {}
                Verb::VoicemailDrop { .. } => {
                    self.end_call(now);
                    return None;
                }
                Verb::OriginateOperator { .. } => return Some((Outcome::CustomerHangup, None)),
                _ => return Some((Outcome::Hangup, None)),
            }
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
            } => self.start_operator(operator, caller_id.as_deref(), *timeout_ms, hold.as_deref()),
            Verb::Amd { timeout_ms } => self.start_amd(*timeout_ms),
            Verb::VoicemailDrop { prompt } => {
                let (_, timer) = self.play(prompt);
                self.wait = Wait::Voicemail { timer };
                None
            }
            Verb::Set { assignments } => {
                self.set_vars(now, assignments);
                Some((Outcome::Next, None))
            }
            Verb::Hook {
                script,
                function,
                outcomes,
            } => Some(self.hook(now, script, function, outcomes)),
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

    fn start_play(&mut self, first: &str) -> Started {
        let (playback, timer) = self.play(first);
        self.wait = Wait::Play {
            index: 0,
            playback,
            timer,
        };
        None
    }

    fn start_record(&mut self, max_duration_ms: u64, max_silence_ms: u64, beep: bool) -> Started {
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

    fn start_classify(
        &mut self,
        recording: Option<NodeId>,
        filler: Option<&str>,
        timeout_ms: u64,
    ) -> Started {
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

    /// The first case whose guard holds, else `else`.
    fn branch(&self, now: Millis, cases: &[Case]) -> Outcome {
        let elapsed = self.elapsed(now);
        let hit = cases.iter().position(|case| {
            expr::eval(&case.guard, &|p: &VarPath| self.var(p, elapsed)).is_ok_and(|v| v.truthy())
        });
        hit.map_or(Outcome::Else, |i| Outcome::Case(i as u16))
    }

    fn start_gather(&mut self, prompt: Option<&str>, timeout_ms: u64) -> Started {
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

    fn start_operator(
        &mut self,
        operator: &str,
        caller_id: Option<&str>,
        timeout_ms: u64,
        hold: Option<&str>,
    ) -> Started {
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
                caller_id: caller_id.map(str::to_string),
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

    fn start_amd(&mut self, timeout_ms: u64) -> Started {
        self.out.push_back(Command::ContinueToAmd {
            channel: self.customer.clone(),
        });
        let timer = self.timer(timeout_ms);
        self.wait = Wait::Amd { timer };
        None
    }

    /// Renders every assignment first, then sets them: a template reads the values
    /// from before the node. A template that cannot render unsets its variable.
    fn set_vars(&mut self, now: Millis, assignments: &[(VarPath, expr::Template)]) {
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

    /// The hook's outcome: the one its function returns, if declared; else `failed`.
    fn hook(
        &mut self,
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
}
