//! `dialflow schema` and the compiler agree: every shipped scenario and test fixture
//! validates against the schema, and a file with an unknown key or a value of the wrong
//! type is rejected by both.

use std::path::{Path, PathBuf};

use dialflow::core::compile::{self, Environment};
use dialflow::core::diagnostic::{Code, SourceText};
use dialflow::core::schema::scenario_schema;

fn validator() -> jsonschema::Validator {
    let schema = serde_json::to_value(scenario_schema()).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

/// The YAML as the JSON an editor's language server would check: YAML 1.2, where only
/// `true`/`false` are booleans (`yes` and `no` are intents), as the compiler reads it.
fn as_json(text: &str) -> Option<serde_json::Value> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options::<serde_json::Value>(text, options).ok()
}

/// The schema's complaints about a text (empty: it validates).
fn schema_errors(v: &jsonschema::Validator, text: &str) -> Vec<String> {
    let json = as_json(text).expect("the text is YAML");
    v.iter_errors(&json)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Whether the compiler finds the file's shape wrong (unknown key, wrong type, missing field).
fn compiler_rejects_shape(name: &str, text: &str) -> bool {
    let compiled = compile::compile(SourceText::new(name, text), &Environment::default());
    compiled
        .diagnostics
        .iter()
        .any(|d| d.code == Code::YamlSchema)
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_scenario_and_fixture_validates() {
    let v = validator();
    let files: Vec<PathBuf> = [yaml_files("scenarios"), yaml_files("tests/scenarios")].concat();
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let errors = schema_errors(&v, &text);
        assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
    }
}

#[test]
fn the_schema_and_the_compiler_agree_on_every_broken_file() {
    let v = validator();
    let mut compared = 0;
    let mut shape_errors = 0;
    for file in yaml_files("tests/broken") {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue; // not UTF-8: no editor's schema check applies
        };
        if as_json(&text).is_none() {
            continue; // not YAML at all: the language server's parser reports it
        }
        let by_compiler = compiler_rejects_shape(&file.display().to_string(), &text);
        let errors = schema_errors(&v, &text);
        assert_eq!(
            !errors.is_empty(),
            by_compiler,
            "{}: schema says {errors:#?}, compiler rejects its shape: {by_compiler}",
            file.display()
        );
        compared += 1;
        shape_errors += usize::from(by_compiler);
    }
    assert!(
        compared >= 40 && shape_errors >= 4,
        "{compared} {shape_errors}"
    );
}

/// A shipped scenario with one line changed.
fn salehi_with(find: &str, replace: &str) -> String {
    let text = std::fs::read_to_string(Path::new("scenarios/salehi.yaml")).expect("salehi");
    assert!(text.contains(find), "salehi.yaml has `{find}`");
    text.replacen(find, replace, 1)
}

/// Both the compiler and the schema reject `text`, the schema naming `key`.
fn both_reject(text: &str, key: &str) {
    assert!(
        compiler_rejects_shape("edited.yaml", text),
        "compiler accepts it"
    );
    let errors = schema_errors(&validator(), text);
    assert!(errors.iter().any(|e| e.contains(key)), "{errors:#?}");
}

#[test]
fn an_unknown_key_is_rejected_by_both() {
    both_reject(
        &salehi_with("    play: hello\n", "    play: hello\n    nxet: listen\n"),
        "nxet",
    );
}

#[test]
fn a_wrong_type_is_rejected_by_both() {
    both_reject(
        &salehi_with("    max_visits: 2 ", "    max_visits: twice "),
        "max_visits",
    );
}

#[test]
fn the_command_prints_the_schema() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dialflow"))
        .arg("schema")
        .output()
        .expect("dialflow runs");
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let schema = serde_json::to_value(scenario_schema()).expect("JSON");
    assert_eq!(printed, schema);
    assert_eq!(printed["title"], "dialflow scenario");
}
