//! Compiling the `tests:` section of a scenario: every case is checked against the
//! scenario (nodes, results, statuses, intents) so a stale test is a compile error.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::Cx;
use super::names::did_you_mean;
use crate::core::call::{Classification, Lead};
use crate::core::diagnostic::{Code, Severity};
use crate::core::expr::Value;
use crate::core::scenario::{NodeId, ResultTable};
use crate::core::source::{CustomerSrc, ExpectSrc, LeadSrc, S, Scalar, StubSrc, TestCaseSrc};
use crate::core::testcase::*;

pub(super) struct TestScope<'a> {
    pub ids: &'a HashMap<String, NodeId>,
    pub intents: &'a [String],
    pub results: &'a ResultTable,
}

impl Cx<'_> {
    pub(super) fn test_cases(
        &mut self,
        src: Option<&Vec<S<TestCaseSrc>>>,
        scope: &TestScope,
    ) -> Vec<TestCase> {
        let Some(cases) = src else { return Vec::new() };
        let mut names: HashSet<String> = HashSet::new();
        let mut out = Vec::new();
        for case in cases {
            let c = &case.value;
            if !names.insert(c.name.value.clone()) {
                self.error(
                    Code::DuplicateName,
                    self.span(&c.name.referenced),
                    format!("test `{}` is defined twice", c.name.value),
                );
            }
            out.push(self.test_case(c, scope));
        }
        out
    }

    fn test_case(&mut self, c: &TestCaseSrc, scope: &TestScope) -> TestCase {
        let (line, _) = self.src.line_col(self.span(&c.name.referenced).start);
        let customer = self.customer(c.customer.as_ref());
        let operator = self.operator_script(c);
        let classify = c
            .classify
            .iter()
            .flatten()
            .filter_map(|stub| self.classify_stub(stub, scope))
            .collect();
        let expect = self.expectations(&c.expect.value, scope, self.span(&c.expect.referenced));
        TestCase {
            name: c.name.value.clone(),
            line,
            customer,
            operator,
            classify,
            lead: c.lead.as_ref().map_or_else(Lead::default, lead),
            attempt: c.attempt.as_ref().map_or(1, |a| a.value.max(1)),
            expect,
        }
    }

    fn operator_script(&mut self, c: &TestCaseSrc) -> OperatorScript {
        match c.operator.as_ref().map(|o| o.value.as_str()) {
            None | Some("answer") => OperatorScript::Answer,
            Some("busy") => OperatorScript::Busy,
            Some("no_answer") => OperatorScript::NoAnswer,
            Some("refused") => OperatorScript::Refused,
            Some(other) => {
                let o = c
                    .operator
                    .as_ref()
                    .map(|o| o.referenced)
                    .unwrap_or(c.name.referenced);
                self.error(
                    Code::BadTest,
                    self.span(&o),
                    format!("operator `{other}` must be answer, busy, no_answer or refused"),
                );
                OperatorScript::Answer
            }
        }
    }

    /// What one stubbed classification gives; `None` for a stub that is none of them.
    fn classify_stub(&mut self, stub: &S<StubSrc>, scope: &TestScope) -> Option<Classification> {
        let at = self.span(&stub.referenced);
        let s = &stub.value;
        Some(match (&s.intent, &s.failed, &s.quota) {
            (Some(intent), None, None) if intent == "empty" => Classification::Empty,
            (Some(intent), None, None) => {
                if !scope.intents.contains(intent) {
                    let help = did_you_mean(intent, scope.intents.iter().map(String::as_str));
                    self.push(
                        Severity::Error,
                        Code::UnknownIntent,
                        at.clone(),
                        format!(
                            "test stub names intent `{intent}`, which the scenario does not declare"
                        ),
                        help,
                    );
                }
                let transcript = s
                    .transcript
                    .clone()
                    .unwrap_or_else(|| intent.replace('_', " "));
                Classification::Intent {
                    intent: intent.clone(),
                    transcript,
                }
            }
            (None, Some(reason), None) => Classification::Failed {
                reason: reason.clone(),
            },
            (None, None, Some(reason)) => Classification::Quota {
                reason: reason.clone(),
            },
            _ => {
                self.error(Code::BadTest, at, "a classify stub is an intent, `empty`, `{failed: reason}` or `{quota: reason}`");
                return None;
            }
        })
    }

    fn customer(&mut self, src: Option<&S<CustomerSrc>>) -> CustomerScript {
        let mut script = CustomerScript::default();
        let Some(src) = src else { return script };
        let c = &src.value;
        if let Some(answer) = &c.answer {
            script.answer = self.answer(answer);
        }
        script.says = c.says.iter().map(|s| s.value.clone()).collect();
        script.hangs_up_at_ms = c
            .hangs_up_at
            .as_ref()
            .map(|h| self.duration("hangs_up_at", &Some(h.clone()), 0, 0, 3_600_000));
        for press in &c.presses {
            let p = &press.value;
            let mut chars = p.digit.value.chars();
            let digit = match (chars.next(), chars.next()) {
                (Some(d), None) if d.is_ascii_digit() || matches!(d, '#' | '*' | 'A'..='D') => d,
                _ => {
                    self.error(
                        Code::BadTest,
                        self.span(&p.digit.referenced),
                        format!("`digit: {}` must be one DTMF key", p.digit.value),
                    );
                    continue;
                }
            };
            let at = self.duration("at", &Some(p.at.clone()), 0, 0, 3_600_000);
            script.presses.push((digit, at));
        }
        if let Some(amd) = &c.amd {
            if ["HUMAN", "MACHINE", "NOTSURE"].contains(&amd.value.as_str()) {
                script.amd = amd.value.clone();
            } else {
                self.error(
                    Code::BadTest,
                    self.span(&amd.referenced),
                    format!("`amd: {}` must be HUMAN, MACHINE or NOTSURE", amd.value),
                );
            }
        }
        script
    }

    /// When the test's customer answers, or the way they do not.
    fn answer(&mut self, answer: &S<Scalar>) -> Answer {
        match &answer.value {
            Scalar::Str(s) if s.chars().next().is_some_and(|ch| ch.is_ascii_digit()) => {
                Answer::After(self.duration("answer", &Some(answer.clone()), 2_000, 0, 600_000))
            }
            Scalar::Str(s) => match UNANSWERED.iter().find(|(name, _)| name == s) {
                Some((_, a)) => a.clone(),
                None => {
                    let names: Vec<&str> = UNANSWERED.iter().map(|(n, _)| *n).collect();
                    let help = did_you_mean(s, names.iter().copied()).unwrap_or_else(|| {
                        format!("use a duration or one of {}", names.join(", "))
                    });
                    self.push(
                        Severity::Error,
                        Code::BadTest,
                        self.span(&answer.referenced),
                        format!("`answer: {s}` is not a customer behaviour"),
                        Some(help),
                    );
                    Answer::After(2_000)
                }
            },
            other => {
                self.error(Code::BadTest, self.span(&answer.referenced), format!("`answer: {other}` must be a duration such as 2s, or a behaviour such as busy"));
                Answer::After(2_000)
            }
        }
    }

    fn expectations(&mut self, e: &ExpectSrc, scope: &TestScope, at: Range<usize>) -> Expectations {
        let mut out = Expectations::default();
        if let Some(r) = &e.result {
            self.check_result(&r.value, scope.results, self.span(&r.referenced));
            out.result = Some(r.value.clone());
        }
        if let Some(s) = &e.status {
            self.check_status(&s.value, &s.referenced);
            out.status = Some(s.value.clone());
        }
        if let Some(list) = &e.reports {
            for s in list {
                self.check_status(&s.value, &s.referenced);
            }
            out.reports = Some(list.iter().map(|s| s.value.clone()).collect());
        }
        if let Some(path) = &e.path {
            for node in path {
                if !scope.ids.contains_key(&node.value) {
                    let help = did_you_mean(&node.value, scope.ids.keys().map(String::as_str));
                    self.push(
                        Severity::Error,
                        Code::BadTest,
                        self.span(&node.referenced),
                        format!("expected path names `{}`, which is not a node", node.value),
                        help,
                    );
                }
            }
            out.path = Some(path.iter().map(|n| n.value.clone()).collect());
        }
        out.transcript_sent = e.transcript_sent.as_ref().map(|t| t.value);
        if let Some(vars) = &e.vars {
            for (k, v) in &vars.0 {
                let name = k
                    .value
                    .strip_prefix("vars.")
                    .unwrap_or(&k.value)
                    .to_string();
                let value = match &v.value {
                    Scalar::Str(s) => Value::str(s.as_str()),
                    Scalar::Num(n) => Value::Num(*n),
                    Scalar::Bool(b) => Value::Bool(*b),
                };
                out.vars.push((name, value));
            }
        }
        if e.result.is_none()
            && e.status.is_none()
            && e.path.is_none()
            && e.reports.is_none()
            && e.transcript_sent.is_none()
            && e.vars.is_none()
        {
            self.error(Code::BadTest, at, "a test case must expect something (result, status, path, reports, transcript_sent or vars)");
        }
        out
    }
}

fn lead(l: &LeadSrc) -> Lead {
    Lead {
        name: l.name.clone().unwrap_or_default(),
        phone: l.phone.clone().unwrap_or_default(),
        timezone: l.timezone.clone().unwrap_or_default(),
        custom: l
            .custom
            .as_ref()
            .map(|m| {
                m.0.iter()
                    .map(|(k, v)| (k.value.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}
