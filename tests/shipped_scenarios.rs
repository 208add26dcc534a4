//! The scenarios dialflow ships compile cleanly, with their prompts, and draw completely.

use std::path::Path;

use dialflow::core::picture;
use dialflow::core::scenario::{Outcome, Target, Verb};
use dialflow::load::{self, LoadOptions};

fn compile(name: &str) -> std::sync::Arc<dialflow::core::scenario::Scenario> {
    let path = Path::new("scenarios").join(format!("{name}.yaml"));
    let compiled = load::compile_file(&path, &LoadOptions::default());
    let rendered = dialflow::render::human(&compiled.diagnostics, &compiled.sources, false);
    assert!(
        compiled.diagnostics.is_empty(),
        "{name} has diagnostics:\n{rendered}"
    );
    compiled
        .scenario
        .expect("a scenario without diagnostics compiles")
}

#[test]
fn every_shipped_scenario_compiles_without_warnings() {
    let files = load::scenario_files(&["scenarios".into()]).unwrap();
    assert!(files.len() >= 3);
    for file in files {
        let compiled = load::compile_file(&file, &LoadOptions::default());
        let rendered = dialflow::render::human(&compiled.diagnostics, &compiled.sources, false);
        assert!(
            compiled.diagnostics.is_empty(),
            "{}:\n{rendered}",
            file.display()
        );
        let scenario = compiled.scenario.unwrap();
        // Every prompt's length was read from its WAV file.
        for (prompt, length) in &scenario.prompts {
            assert!(
                length.is_some_and(|ms| ms > 500),
                "{}: prompt {prompt} has no length",
                file.display()
            );
        }
    }
}

#[test]
fn prompt_lengths_match_the_recorded_traces() {
    // dialplan.conf of the traces: hello 3.35 s, alo 4.10 s, number 4.13 s.
    let salehi = compile("salehi");
    assert!((3300..3400).contains(&salehi.prompts["hello"].unwrap()));
    assert!((4050..4150).contains(&salehi.prompts["alo"].unwrap()));
    assert!((4080..4180).contains(&salehi.prompts["number"].unwrap()));
}

#[test]
fn salehi_follows_the_seed_flow() {
    let s = compile("salehi");
    let hello = s.node(s.start);
    assert_eq!(hello.name, "hello");
    assert_eq!(hello.set_result.as_deref(), Some("hangup"));
    let understand = s.node(s.node_by_name("understand").unwrap());
    assert!(matches!(&understand.verb, Verb::Classify { filler: Some(f), .. } if f == "alo"));
    let intents: Vec<&str> = s.intents.iter().map(String::as_str).collect();
    assert_eq!(intents, ["number_question", "no", "yes", "unknown"]);
    assert_eq!(s.intent_rules.len(), 3);
    assert!(s.intent_rules[0].patterns[0].is_match("where did you get my number"));
    let no = understand.route(&Outcome::Intent("no".into())).unwrap();
    assert_eq!(no.result.as_deref(), Some("not_interested"));
    let explain = s.node(s.node_by_name("explain_number").unwrap());
    assert_eq!(explain.max_visits, Some(2));
    let exhausted = explain.route(&Outcome::Exhausted).unwrap();
    assert_eq!(exhausted.result.as_deref(), Some("unknown"));
    assert_eq!(
        s.results.status_of("failed:stt_failure"),
        Some("NOT_INTERESTED")
    );
}

#[test]
fn agrad_transfers_to_an_operator() {
    let s = compile("agrad");
    let transfer = s.node(s.node_by_name("transfer").unwrap());
    assert!(
        matches!(&transfer.verb, Verb::OriginateOperator { operator, timeout_ms: 15_000, .. } if operator == "sales")
    );
    let bridged = transfer.route(&Outcome::Bridged).unwrap();
    assert_eq!(bridged.result.as_deref(), Some("connected_to_operator"));
    assert!(bridged.report);
    // A failed operator leg keeps its failed:* result: the route sets none.
    assert_eq!(transfer.route(&Outcome::Failed).unwrap().result, None);
    assert_eq!(
        transfer.route(&Outcome::CustomerHangup).unwrap().target,
        Target::End
    );
    let say_yes = s.node(s.node_by_name("say_yes").unwrap());
    assert_eq!(say_yes.set_result.as_deref(), Some("disconnected"));
}

#[test]
fn reminder_has_amd_consent_and_voicemail() {
    let s = compile("reminder");
    assert_eq!(s.results.status_of("answered_human"), Some("CONNECTED"));
    let detect = s.node(s.node_by_name("detect").unwrap());
    assert!(matches!(detect.verb, Verb::Amd { .. }));
    let consent = s.node(s.node_by_name("consent").unwrap());
    assert!(
        matches!(&consent.verb, Verb::Gather { prompt: Some(p), max_digits: 1, timeout_ms: 5_000, .. } if p == "consent")
    );
    assert!(
        s.nodes
            .iter()
            .any(|n| matches!(n.verb, Verb::VoicemailDrop { .. }))
    );
}

#[test]
fn mermaid_draws_every_node_and_route() {
    let s = compile("agrad");
    let chart = picture::mermaid(&s);
    for node in &s.nodes {
        assert!(
            chart.contains(&node.name),
            "{} missing from:\n{chart}",
            node.name
        );
    }
    assert!(chart.contains("bridged → connected_to_operator (report)"));
    assert!(chart.contains("start --> n0"));
    let arrows = chart.lines().filter(|l| l.contains("-->")).count();
    assert!(arrows >= s.nodes.len(), "{chart}");
    let dot = picture::dot(&s);
    assert!(dot.starts_with("digraph \"agrad\""));
    assert_eq!(dot.matches("shape=").count(), s.nodes.len() + 2);
}

#[test]
fn the_hash_names_the_content() {
    let a = compile("salehi");
    let b = compile("salehi");
    assert_eq!(a.hash, b.hash);
    assert_ne!(a.hash, compile("agrad").hash);
    assert_eq!(a.hash.0.len(), 64);
}
