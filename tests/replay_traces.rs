//! Every call recorded from a real Asterisk replays through the shipped scenario that
//! follows its flow and ends with the result `shared/ari-traces/INDEX.md` gives it.
//! The traces are read from `../shared`, never copied into the project.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dialflow::ari::trace::{Trace, TraceLine, read_trace};
use dialflow::core::scenario::Scenario;
use dialflow::load::{self, LoadOptions};
use dialflow::replay::{ReplayError, recorded};

const TRACES: &str = "../shared/ari-traces";

fn scenario(name: &str) -> Arc<Scenario> {
    load::compile_file(
        &Path::new("scenarios").join(format!("{name}.yaml")),
        &LoadOptions::default(),
    )
    .scenario
    .unwrap_or_else(|| panic!("{name} compiles"))
}

fn trace(name: &str) -> Trace {
    let path = PathBuf::from(TRACES).join(format!("{name}.jsonl"));
    read_trace(&fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The shipped scenario whose flow a trace was recorded with (pre-answer traces follow any).
fn scenario_for(trace: &str) -> &'static str {
    if trace.starts_with("agrad") {
        "agrad"
    } else if trace.starts_with("reminder") {
        "reminder"
    } else {
        "salehi"
    }
}

/// (trace, expected result) from INDEX.md's table, for the traces that are call outcomes.
fn index() -> Vec<(String, String)> {
    let text = fs::read_to_string(Path::new(TRACES).join("INDEX.md")).expect("INDEX.md");
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells.get(1)?.trim_matches('`').to_string();
            let expected = cells.get(5)?.trim_matches('`').to_string();
            (expected != "–").then_some((name, expected))
        })
        .collect()
}

#[test]
fn every_outcome_trace_replays_to_its_expected_result() {
    let rows = index();
    assert!(
        rows.len() >= 22,
        "INDEX.md lists the outcome traces: {rows:?}"
    );
    let mut failures = Vec::new();
    for (name, expected) in &rows {
        let t = trace(name);
        assert_eq!(
            t.meta.expected_result.as_deref(),
            Some(expected.as_str()),
            "{name}: INDEX and meta agree"
        );
        let s = scenario(scenario_for(name));
        match recorded::run(&s, &t, recorded::stubs_for(&t)) {
            Ok(log) => {
                let result = log
                    .summary
                    .as_ref()
                    .map(|s| s.result.clone())
                    .unwrap_or_default();
                if &result != expected {
                    failures.push(format!(
                        "{name}: expected {expected}, got {result}\n{}",
                        log.narrate(&s)
                    ));
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn transcripts_go_only_with_the_statuses_that_carry_them() {
    for (name, carries) in [
        ("salehi_yes", true),
        ("salehi_no", true),
        ("salehi_silent", false),
        ("busy", false),
    ] {
        let t = trace(name);
        let s = scenario(scenario_for(name));
        let log = recorded::run(&s, &t, recorded::stubs_for(&t)).expect("replays");
        let last = log.reports.last().expect("a report");
        assert_eq!(last.transcript.is_some(), carries, "{name}: {last:?}");
        let mut statuses: Vec<&str> = log.reports.iter().map(|r| r.status.as_str()).collect();
        let before = statuses.len();
        statuses.dedup();
        assert_eq!(before, statuses.len(), "{name}: a status reported twice");
    }
}

#[test]
fn a_request_the_trace_cannot_answer_is_a_clear_error() {
    // The Salehi flow plays `hello` where the reminder trace sent the call to AMD.
    let t = trace("reminder_human_accept");
    let err = recorded::run(&scenario("salehi"), &t, recorded::stubs_for(&t)).unwrap_err();
    match &err {
        ReplayError::Unanswerable { request, .. } => {
            assert!(
                request.starts_with("POST /ari/channels/r1-c/play/"),
                "{request}"
            );
            assert!(request.contains("media=sound:dialer/hello"), "{request}");
        }
        other => panic!("expected an unanswerable request, got {other}"),
    }
    assert!(
        err.to_string()
            .contains("the trace has no answer for request")
    );
}

#[test]
fn real_trace_command_streams() {
    for name in [
        "salehi_number",
        "agrad_operator_noanswer",
        "reminder_human_deny",
        "busy",
    ] {
        let t = trace(name);
        let log = recorded::run(&scenario(scenario_for(name)), &t, recorded::stubs_for(&t))
            .expect("replays");
        insta::assert_snapshot!(format!("trace_{name}"), log.command_stream());
    }
}

/// Every recorded call, replayed with only the event types dialflow has Asterisk send
/// it (`translate::EVENT_TYPES_USED`, its application's event filter), asks for the same
/// requests at the same times and ends with the same result: the types filtered out
/// changed nothing.
#[test]
fn the_event_types_filtered_out_change_no_call() {
    use dialflow::ari::translate::EVENT_TYPES_USED;
    let mut filtered_out = 0;
    for (name, _) in index() {
        let whole = trace(&name);
        let mut used = whole.clone();
        used.lines.retain(|line| match line {
            TraceLine::Event { event, .. } => EVENT_TYPES_USED.contains(&event.type_name()),
            _ => true,
        });
        filtered_out += whole.lines.len() - used.lines.len();
        let s = scenario(scenario_for(&name));
        let replay = |t: &Trace| {
            let log = recorded::run(&s, t, recorded::stubs_for(t))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let result = log.summary.as_ref().map(|s| s.result.clone());
            (log.command_stream(), result)
        };
        assert_eq!(replay(&used), replay(&whole), "{name}");
    }
    // The traces hold ChannelVarset, ChannelDialplan, ChannelStateChange… by the dozen.
    assert!(
        filtered_out > 100,
        "only {filtered_out} events filtered out"
    );
}
