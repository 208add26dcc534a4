//! Running calls without a phone: scenario test cases against a simulated customer
//! (`scripted`), and recorded real-Asterisk traces answered request by request
//! (`recorded`). Both run the real `CallMachine` on a virtual clock.

pub mod recorded;
pub mod scripted;

use std::fmt::Write as _;
use std::sync::Arc;

use crate::core::call::{Command, Input, Millis, Report, Summary};
use crate::core::expr::Value;
use crate::core::scenario::Scenario;
use crate::core::testcase::TestCase;

/// Why a replay could not run to the end of the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("the call is stuck at {}: nothing more can happen and it has not ended (result so far `{result}`)", fmt_ms(at.0))]
    Stuck { at: Millis, result: String },
    #[error("the trace has no answer for request `{request}` (sent at {})", fmt_ms(at.0))]
    Unanswerable { request: String, at: Millis },
    #[error("trace: {0}")]
    Trace(String),
}

/// One line of what happened in a replayed call.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Command(Command),
    Input(Input),
    /// An ARI event as received (its type).
    Event(String),
}

/// Everything that happened in a replayed call, in order.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    pub entries: Vec<(Millis, Entry)>,
    pub reports: Vec<Report>,
    pub summary: Option<Summary>,
    /// Variables at the end of the call, for expectations.
    pub vars: Vec<(String, Value)>,
}

impl CallLog {
    fn command(&mut self, at: Millis, command: &Command) {
        match command {
            Command::Report(r) => self.reports.push(r.clone()),
            Command::Finish(s) => self.summary = Some(s.clone()),
            _ => {}
        }
        self.entries.push((at, Entry::Command(command.clone())));
    }

    fn input(&mut self, at: Millis, input: &Input) {
        self.entries.push((at, Entry::Input(input.clone())));
    }

    fn event(&mut self, at: Millis, kind: &str) {
        self.entries.push((at, Entry::Event(kind.to_string())));
    }

    /// The names of the nodes the call entered, in order.
    pub fn path_names(&self, scenario: &Scenario) -> Vec<String> {
        self.summary
            .as_ref()
            .map(|s| {
                s.path
                    .iter()
                    .map(|step| scenario.node(step.node).name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The commands only, one per line, with times: what snapshot tests compare.
    pub fn command_stream(&self) -> String {
        let mut out = String::new();
        for (at, entry) in &self.entries {
            if let Entry::Command(c) = entry {
                let _ = writeln!(out, "{:>9} {}", fmt_ms(at.0), describe(c));
            }
        }
        out
    }

    /// The path with times, the commands, and the ending, for `dialflow replay`.
    pub fn narrate(&self, scenario: &Scenario) -> String {
        let mut out = String::new();
        for (at, entry) in &self.entries {
            let line = match entry {
                Entry::Command(c) => format!("  → {}", describe(c)),
                Entry::Input(i) => format!("  ← {}", describe_input(i)),
                Entry::Event(_) => continue,
            };
            if let Some(summary) = &self.summary
                && let Some(step) = summary.path.iter().find(|s| s.at == *at)
                && let Entry::Command(_) = entry
                && !out.contains(&format!("[{}]", scenario.node(step.node).name))
            {
                let node = scenario.node(step.node);
                let _ = writeln!(
                    out,
                    "{:>9} [{}] {}",
                    fmt_ms(at.0),
                    node.name,
                    node.verb.keyword()
                );
            }
            let _ = writeln!(out, "{:>9} {line}", fmt_ms(at.0));
        }
        if let Some(s) = &self.summary {
            let path: Vec<String> = s
                .path
                .iter()
                .map(|step| format!("{} ({})", scenario.node(step.node).name, fmt_ms(step.at.0)))
                .collect();
            let _ = writeln!(
                out,
                "\npath:   {}",
                if path.is_empty() {
                    "(not answered)".into()
                } else {
                    path.join(" → ")
                }
            );
            let _ = writeln!(out, "result: {}", s.result);
            let _ = writeln!(out, "status: {}", s.status);
            for r in &self.reports {
                let transcript = r
                    .transcript
                    .as_deref()
                    .map_or("no transcript".to_string(), |t| format!("transcript {t:?}"));
                let _ = writeln!(
                    out,
                    "report: {} (result {}, {transcript})",
                    r.status, r.result
                );
            }
        }
        out
    }
}

/// Milliseconds as `12.345s`.
pub fn fmt_ms(ms: u64) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

fn describe(c: &Command) -> String {
    match c {
        Command::Originate {
            channel,
            leg,
            timeout_ms,
        } => format!(
            "originate {channel} ({leg:?}, ring {})",
            fmt_ms(*timeout_ms)
        ),
        Command::Play {
            channel,
            playback,
            prompt,
        } => format!("play {prompt} on {channel} as {playback}"),
        Command::StopPlayback { playback } => format!("stop playback {playback}"),
        Command::Record {
            channel,
            recording,
            max_duration_ms,
            max_silence_ms,
            ..
        } => format!(
            "record {channel} as {recording} (≤{}, silence {})",
            fmt_ms(*max_duration_ms),
            fmt_ms(*max_silence_ms)
        ),
        Command::ContinueToAmd { channel } => format!("send {channel} through the AMD hop"),
        Command::CreateBridge {
            bridge,
            holding: false,
        } => format!("create bridge {bridge}"),
        Command::CreateBridge {
            bridge,
            holding: true,
        } => format!("create holding bridge {bridge}"),
        Command::StartMoh { bridge, class } => format!("music on hold {class} in {bridge}"),
        Command::RequestAgent { queue } => format!("ask for an agent of {queue}"),
        Command::ReleaseAgent => "give the agent back".to_string(),
        Command::AgentBridged => "agent bridged".to_string(),
        Command::EndAgentCall => "done with agents".to_string(),
        Command::AddToBridge { bridge, channels } => {
            format!("bridge {} in {bridge}", channels.join(" + "))
        }
        Command::DestroyBridge { bridge } => format!("destroy bridge {bridge}"),
        Command::Hangup { channel } => format!("hang up {channel}"),
        Command::StartTimer { timer, after_ms } => {
            format!("timer {} in {}", timer.0, fmt_ms(*after_ms))
        }
        Command::CancelTimer { timer } => format!("cancel timer {}", timer.0),
        Command::Classify { recording, .. } => format!("classify {recording}"),
        Command::SetResult { result } => format!("result := {result}"),
        Command::Report(r) => format!("report {} ({})", r.status, r.result),
        Command::Finish(s) => format!("finish: {} / {}", s.result, s.status),
    }
}

fn describe_input(i: &Input) -> String {
    match i {
        Input::Timer(t) => format!("timer {} fired", t.0),
        Input::Classified(c) => format!("classified: {c:?}"),
        other => format!("{other:?}"),
    }
}

/// The outcome of one scenario test case.
#[derive(Debug)]
pub struct CaseResult {
    pub name: String,
    pub line: u32,
    /// Empty when the case passed.
    pub failures: Vec<String>,
    pub log: Option<CallLog>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs a test case and checks its expectations.
pub fn check_case(scenario: &Arc<Scenario>, case: &TestCase) -> CaseResult {
    let mut failures = Vec::new();
    let log = match scripted::run(scenario, case) {
        Ok(log) => log,
        Err(err) => {
            return CaseResult {
                name: case.name.clone(),
                line: case.line,
                failures: vec![err.to_string()],
                log: None,
            };
        }
    };
    let summary = log.summary.clone().expect("a finished call has a summary");
    let e = &case.expect;
    if let Some(result) = &e.result
        && *result != summary.result
    {
        failures.push(format!(
            "result: expected `{result}`, got `{}`",
            summary.result
        ));
    }
    if let Some(status) = &e.status
        && *status != summary.status
    {
        failures.push(format!("status: expected {status}, got {}", summary.status));
    }
    if let Some(path) = &e.path {
        let got = log.path_names(scenario);
        if *path != got {
            failures.push(format!(
                "path: expected [{}], got [{}]",
                path.join(", "),
                got.join(", ")
            ));
        }
    }
    if let Some(reports) = &e.reports {
        let got: Vec<String> = log.reports.iter().map(|r| r.status.clone()).collect();
        if *reports != got {
            failures.push(format!(
                "reports: expected [{}], got [{}]",
                reports.join(", "),
                got.join(", ")
            ));
        }
    }
    if let Some(sent) = e.transcript_sent {
        let got = log.reports.last().is_some_and(|r| r.transcript.is_some());
        if sent != got {
            failures.push(format!("transcript_sent: expected {sent}, got {got}"));
        }
    }
    for (name, want) in &e.vars {
        let got = log
            .vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone());
        if got.as_ref() != Some(want) {
            failures.push(format!(
                "vars.{name}: expected {want}, got {}",
                got.map_or("nothing (never set)".to_string(), |v| v.to_string())
            ));
        }
    }
    CaseResult {
        name: case.name.clone(),
        line: case.line,
        failures,
        log: Some(log),
    }
}
