//! The shipped scenarios' own test cases (every row of the outcome matrix) pass, and the
//! command streams of the main paths are pinned by snapshots.

use std::path::Path;
use std::sync::Arc;

use dialflow::core::scenario::Scenario;
use dialflow::load::{self, LoadOptions};
use dialflow::replay;

fn scenario(name: &str) -> Arc<Scenario> {
    let compiled = load::compile_file(
        &Path::new("scenarios").join(format!("{name}.yaml")),
        &LoadOptions::default(),
    );
    compiled
        .scenario
        .unwrap_or_else(|| panic!("{name} compiles"))
}

#[test]
fn every_in_file_case_passes() {
    for name in ["salehi", "agrad", "reminder"] {
        let s = scenario(name);
        assert!(s.tests.len() >= 8, "{name} has too few cases");
        for case in &s.tests {
            let result = replay::check_case(&s, case);
            assert!(
                result.passed(),
                "{name}: {}: {:?}",
                case.name,
                result.failures
            );
        }
    }
}

#[test]
fn a_wrong_expectation_fails() {
    let s = scenario("salehi");
    let mut case = s
        .tests
        .iter()
        .find(|c| c.name.starts_with("no is"))
        .unwrap()
        .clone();
    case.expect.result = Some("connected_to_operator".into());
    let result = replay::check_case(&s, &case);
    assert_eq!(
        result.failures,
        ["result: expected `connected_to_operator`, got `not_interested`"]
    );
}

/// The test cases of `tests/scenarios/own_words.yaml`, by name, with their scenario.
fn own_words() -> Arc<Scenario> {
    let options = LoadOptions {
        no_environment: true,
        ..LoadOptions::default()
    };
    load::compile_file(Path::new("tests/scenarios/own_words.yaml"), &options)
        .scenario
        .expect("own_words compiles")
}

/// The result a case of `own_words` ends with, run as `dialflow test` runs it.
fn result_of(s: &Arc<Scenario>, case: &str) -> String {
    let case = s
        .tests
        .iter()
        .find(|c| c.name.starts_with(case))
        .unwrap_or_else(|| panic!("case {case}"));
    let log = replay::scripted::run(s, case).expect("runs");
    log.summary.expect("a finished call has a summary").result
}

#[test]
fn a_case_without_classify_reaches_the_intent_its_words_name() {
    let s = own_words();
    assert_eq!(result_of(&s, "farda is later"), "call_later");
    assert_eq!(result_of(&s, "nemikham is no"), "not_interested");
}

#[test]
fn words_that_match_no_rule_are_unknown() {
    let s = own_words();
    assert_eq!(result_of(&s, "words the scenario does not know"), "unknown");
}

#[test]
fn an_explicit_classify_still_wins_over_the_words() {
    let s = own_words();
    // The customer says the `later` words, the stub says `no`: the stub decides.
    assert_eq!(result_of(&s, "an explicit classify"), "not_interested");
    for case in &s.tests {
        let result = replay::check_case(&s, case);
        assert!(result.passed(), "{}: {:?}", case.name, result.failures);
    }
}

fn stream(name: &str, case: &str) -> String {
    let s = scenario(name);
    let case = s
        .tests
        .iter()
        .find(|c| c.name == case)
        .unwrap_or_else(|| panic!("case {case}"));
    replay::scripted::run(&s, case)
        .expect("runs")
        .command_stream()
}

#[test]
fn salehi_yes_command_stream() {
    insta::assert_snapshot!(stream("salehi", "yes is a success without an operator"));
}

#[test]
fn salehi_number_loop_command_stream() {
    insta::assert_snapshot!(stream(
        "salehi",
        "asks where the number came from, then says yes"
    ));
}

#[test]
fn agrad_operator_answers_command_stream() {
    insta::assert_snapshot!(stream("agrad", "yes and the operator answers"));
}

#[test]
fn reminder_consent_command_stream() {
    insta::assert_snapshot!(stream(
        "reminder",
        "human presses 1 during the consent prompt"
    ));
}

#[test]
fn reminder_voicemail_command_stream() {
    insta::assert_snapshot!(stream(
        "reminder",
        "answering machine gets the voicemail after its greeting"
    ));
}
