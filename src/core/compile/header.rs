//! The header pass: the scenario's name and prompt set, its intents, its result
//! vocabulary, telephony and limits — everything the nodes are checked against.

use std::collections::HashMap;
use std::ops::Range;

use serde_saphyr::Location;

use super::Cx;
use super::names::{
    did_you_mean, is_file_name, is_identifier, is_result_name, reserved_outcome_names,
};
use super::parse::Header;
use crate::core::diagnostic::{Code, Severity};
use crate::core::scenario::{
    IntentRule, Limits, PANEL_STATUSES, ResultTable, Telephony, UNKNOWN_INTENT, VerbKind,
};
use crate::core::source::{IntentRuleSrc, LimitsSrc, S, TelephonySrc};

/// The intents a scenario declares (`unknown` always last) and their rules.
pub(super) struct Intents {
    pub(super) names: Vec<String>,
    pub(super) rules: Vec<IntentRule>,
}

impl Cx<'_> {
    /// The scenario's name and prompt set, each a plain file name.
    pub(super) fn names(&mut self, header: &Header) -> (String, String) {
        let name = header.name.value.trim().to_string();
        if name.is_empty() || !is_file_name(&name) {
            self.error(
                Code::BadName,
                self.span(&header.name.referenced),
                format!("scenario name `{name}` must be letters, digits, `_` or `-`"),
            );
        }
        let prompt_set = header.prompts.value.clone();
        if !is_file_name(&prompt_set) {
            self.error(Code::BadName, self.span(&header.prompts.referenced), format!("prompt set `{prompt_set}` must be a folder name under prompts/ (letters, digits, `_` or `-`)"));
        }
        (name, prompt_set)
    }

    /// The declared intents, each an identifier declared once that is no outcome of
    /// `classify` itself; `unknown` is always one, and always last.
    pub(super) fn intents(&mut self, header: &Header) -> Intents {
        let mut intents = Intents {
            names: Vec::new(),
            rules: Vec::new(),
        };
        let mut intent_at: HashMap<String, Range<usize>> = HashMap::new();
        let reserved = reserved_outcome_names(VerbKind::Classify);
        for (intent, rule) in &header.intents.0 {
            let bytes = self.span(&intent.referenced);
            let n = intent.value.as_str();
            if !is_identifier(n) {
                self.error(
                    Code::BadName,
                    bytes,
                    format!("intent `{n}` must be an identifier (letters, digits, `_`)"),
                );
            } else if reserved.iter().any(|r| r == n) {
                self.error(
                    Code::BadName,
                    bytes,
                    format!("intent `{n}` clashes with classify's built-in outcome `{n}`"),
                );
            } else if let Some(first) = intent_at.get(n) {
                let (line, _) = self.src.line_col(first.start);
                self.error(
                    Code::DuplicateName,
                    bytes,
                    format!("intent `{n}` is declared twice (first on line {line})"),
                );
            } else {
                if let Some(rule) = rule {
                    let rule = self.intent_rule(n, rule);
                    intents.rules.push(rule);
                }
                intent_at.insert(n.to_string(), bytes);
                if n != UNKNOWN_INTENT {
                    intents.names.push(n.to_string());
                }
            }
        }
        intents.names.push(UNKNOWN_INTENT.to_string());
        intents
    }

    /// How the rules classifier recognises intent `n`: its keywords and patterns.
    fn intent_rule(&mut self, n: &str, rule: &IntentRuleSrc) -> IntentRule {
        let mut patterns = Vec::new();
        for p in &rule.patterns {
            match regex::RegexBuilder::new(&p.value)
                .case_insensitive(true)
                .build()
            {
                Ok(re) => patterns.push(re),
                Err(e) => {
                    let msg = e.to_string();
                    let last = msg.lines().last().unwrap_or("invalid pattern").trim();
                    let last = last.trim_start_matches("error: ");
                    self.error(
                        Code::BadRegex,
                        self.span(&p.referenced),
                        format!("pattern of intent `{n}` is not a regular expression: {last}"),
                    );
                }
            }
        }
        let keywords = rule
            .keywords
            .iter()
            .map(|k| k.value.clone())
            .filter(|k| !k.trim().is_empty())
            .collect();
        IntentRule {
            intent: n.to_string(),
            keywords,
            patterns,
        }
    }

    /// The result vocabulary: the defaults, then the scenario's `results:` and
    /// `transcript_statuses:` and `success_statuses:`.
    pub(super) fn results(&mut self, header: &Header) -> ResultTable {
        let mut results = ResultTable::default();
        if let Some(map) = &header.results {
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for (result, status) in &map.0 {
                let rb = self.span(&result.referenced);
                let r = result.value.as_str();
                if !is_result_name(r) {
                    self.error(Code::BadName, rb.clone(), format!("result `{r}` must be lower-case letters, digits, `_` and `:` (a trailing `*` matches a prefix)"));
                    continue;
                }
                if let Some(first) = seen.get(r) {
                    let (line, _) = self.src.line_col(*first);
                    self.error(
                        Code::DuplicateName,
                        rb,
                        format!("result `{r}` is mapped twice (first on line {line})"),
                    );
                    continue;
                }
                seen.insert(r, rb.start);
                // A bad status is reported once; the result still counts as declared so
                // its uses are not reported again.
                let status_ok = self.check_status(&status.value, &status.referenced);
                results.set(r, if status_ok { &status.value } else { "FAILED" });
            }
        }
        if let Some(list) = &header.transcript_statuses {
            results.transcript_statuses = self.statuses(list);
        }
        if let Some(list) = &header.success_statuses {
            results.success_statuses = self.statuses(list);
        }
        results
    }

    /// The panel statuses of a list, each checked (the wrong ones reported, left out).
    fn statuses(&mut self, list: &[S<String>]) -> Vec<String> {
        let mut statuses = Vec::new();
        for s in list {
            if self.check_status(&s.value, &s.referenced) {
                statuses.push(s.value.clone());
            }
        }
        statuses
    }

    /// Whether `status` is a panel status; reports it when not.
    pub(super) fn check_status(&mut self, status: &str, loc: &Location) -> bool {
        if PANEL_STATUSES.contains(&status) {
            return true;
        }
        let help = did_you_mean(status, PANEL_STATUSES)
            .or_else(|| Some(format!("panel statuses are {}", PANEL_STATUSES.join(", "))));
        self.push(
            Severity::Error,
            Code::UnknownStatus,
            self.span(loc),
            format!("`{status}` is not a panel status"),
            help,
        );
        false
    }

    /// Reports a result the scenario does not know.
    pub(super) fn check_result(
        &mut self,
        result: &str,
        results: &ResultTable,
        bytes: Range<usize>,
    ) {
        if results.knows(result) {
            return;
        }
        let exact: Vec<&str> = results
            .entries
            .iter()
            .map(|(r, _)| r.as_str())
            .filter(|r| !r.ends_with('*'))
            .collect();
        let help = did_you_mean(result, exact.iter().copied())
            .unwrap_or_else(|| format!("declare it under `results:` with its panel status, e.g. `results: {{ {result}: UNKNOWN }}`"));
        self.push(
            Severity::Error,
            Code::UnknownResult,
            bytes,
            format!("result `{result}` is not in the scenario's result vocabulary"),
            Some(help),
        );
    }

    /// The `telephony:` section over the defaults.
    pub(super) fn telephony(
        &mut self,
        src: Option<&S<TelephonySrc>>,
        results: &ResultTable,
    ) -> Telephony {
        let mut t = Telephony::default();
        let Some(src) = src else { return t };
        let src = &src.value;
        t.ring_timeout_ms = self.duration(
            "ring_timeout",
            &src.ring_timeout,
            t.ring_timeout_ms,
            1_000,
            600_000,
        );
        t.watchdog_ms = self.duration(
            "watchdog",
            &src.watchdog,
            t.ring_timeout_ms + 30_000,
            1_000,
            3_600_000,
        );
        if let (Some(w), true) = (&src.watchdog, t.watchdog_ms <= t.ring_timeout_ms) {
            self.error(Code::BadDuration, self.span(&w.referenced), "`watchdog` must be longer than `ring_timeout`, or a ringing call would count as lost");
        }
        if let Some(map) = &src.causes {
            for (result, causes) in &map.0 {
                self.check_result(&result.value, results, self.span(&result.referenced));
                for c in causes {
                    if c.value > 127 {
                        self.error(
                            Code::BadValue,
                            self.span(&c.referenced),
                            format!("hangup cause {} is not a Q.850 cause (0–127)", c.value),
                        );
                    }
                }
                let list: Vec<u16> = causes.iter().map(|c| c.value).collect();
                t.causes.retain(|(r, _)| r != &result.value);
                t.causes.push((result.value.clone(), list));
            }
        }
        if let Some(map) = &src.cause_text {
            for (result, texts) in &map.0 {
                self.check_result(&result.value, results, self.span(&result.referenced));
                let list: Vec<String> = texts.iter().map(|c| c.value.to_lowercase()).collect();
                t.cause_text.retain(|(r, _)| r != &result.value);
                t.cause_text.push((result.value.clone(), list));
            }
        }
        t
    }

    /// The `limits:` section over the defaults.
    pub(super) fn limits(&mut self, src: Option<&S<LimitsSrc>>) -> Limits {
        let mut l = Limits::default();
        let Some(src) = src else { return l };
        let src = &src.value;
        if let Some(steps) = &src.max_steps {
            if steps.value == 0 || steps.value > 100_000 {
                self.error(
                    Code::BadValue,
                    self.span(&steps.referenced),
                    "`max_steps` must be between 1 and 100000",
                );
            } else {
                l.max_steps = steps.value;
            }
        }
        l.max_duration_ms = self.duration(
            "max_duration",
            &src.max_duration,
            l.max_duration_ms,
            1_000,
            4 * 3_600_000,
        );
        l.prompt_grace_ms = self.duration(
            "prompt_grace",
            &src.prompt_grace,
            l.prompt_grace_ms,
            0,
            600_000,
        );
        l
    }
}
