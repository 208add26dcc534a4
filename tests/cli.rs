//! The `dialflow` binary end to end: exit codes and output of `check` and `graph`, and
//! the demo's care for existing files.

use std::process::Command;

fn dialflow(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dialflow"))
        .args(args)
        .output()
        .expect("run dialflow");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_passes_on_the_shipped_scenarios() {
    let (code, stdout, stderr) = dialflow(&["check", "scenarios/"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Every shipped scenario is checked, however many there are.
    let shipped = std::fs::read_dir("scenarios")
        .expect("scenarios folder")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "yaml"))
        .count();
    let summary = format!("checked {shipped} scenario file(s): 0 errors, 0 warnings");
    assert!(stdout.contains(&summary), "{stdout}");
}

#[test]
fn five_mistakes_give_five_positioned_diagnostics_in_one_run() {
    let file = "tests/broken/48_five_mistakes.yaml";
    let (code, stdout, _) = dialflow(&[
        "check",
        file,
        "--prompts",
        "tests/broken/prompts",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json output");
    let diagnostics = json[0]["diagnostics"].as_array().expect("diagnostics");
    assert!(diagnostics.len() >= 5, "{stdout}");
    let mut lines: Vec<u64> = diagnostics
        .iter()
        .map(|d| d["line"].as_u64().unwrap())
        .collect();
    lines.dedup();
    assert!(
        lines.len() >= 5,
        "five mistakes on five different lines: {lines:?}"
    );
    for d in diagnostics {
        assert_eq!(d["file"], file);
        assert!(d["column"].as_u64().unwrap() >= 1);
        assert!(d["code"].as_str().is_some_and(|c| !c.is_empty()));
    }
    let (_, _, stderr) = dialflow(&["check", file, "--prompts", "tests/broken/prompts"]);
    assert!(
        stderr.contains(&format!("{file}:")),
        "human output names the file: {stderr}"
    );
}

#[test]
fn check_reports_missing_paths_and_empty_folders() {
    let (code, _, stderr) = dialflow(&["check", "no/such/place.yaml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no such file or folder"), "{stderr}");
    let (code, _, stderr) = dialflow(&["check", "src/cli"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no scenario files"), "{stderr}");
}

#[test]
fn check_with_a_config_checks_queue_names_against_it() {
    let broken = "tests/broken/53_unknown_queue.yaml";
    let args = ["check", broken, "--prompts", "tests/broken/prompts"];
    // Without a configuration the queues are not known: nothing to say of `salse`.
    let (code, stdout, stderr) = dialflow(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let dir = std::env::temp_dir().join(format!("dialflow-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("dialflow.yaml");
    std::fs::write(
        &config,
        "ari: {url: \"http://127.0.0.1:8088\", user: u, password: p, app: dialflow}\n\
         dial: {template: \"PJSIP/{number}@trunk\"}\n\
         queues: {sales: {reach: nailed}, care: {}}\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (code, stdout, stderr) = dialflow(&[&args[..], &["--config", config]].concat());
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("unknown-queue"), "{stderr}");
    assert!(
        stderr.contains("the configured queues are care, sales"),
        "{stderr}"
    );
    // A configuration that cannot be read is an error of its own, not a pass.
    let (code, _, stderr) = dialflow(&[&args[..], &["--config", "no/such.yaml"]].concat());
    assert_eq!(code, 2);
    assert!(stderr.contains("no/such.yaml"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn graph_draws_the_whole_agrad_flow() {
    let (code, stdout, stderr) =
        dialflow(&["graph", "scenarios/agrad.yaml", "--format", "mermaid"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("flowchart TD"));
    for node in [
        "hello",
        "listen",
        "understand",
        "say_yes",
        "hold",
        "transfer",
        "talking",
        "goodbye",
    ] {
        assert!(
            stdout.contains(&format!("\"{node}<br/>")),
            "{node} missing:\n{stdout}"
        );
    }
    let (code, stdout, _) = dialflow(&["graph", "scenarios/agrad.yaml", "--format", "dot"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("digraph"));
    let (code, _, stderr) = dialflow(&["graph", "tests/broken/18_unknown_target.yaml"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("does not compile"), "{stderr}");
}

#[test]
fn the_demo_never_overwrites_an_existing_store() {
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("demo-existing-{}.redb", std::process::id()));
    std::fs::write(&path, b"someone's data").unwrap();
    let (code, stdout, stderr) =
        dialflow(&["demo", "--leads", "1", "--store", path.to_str().unwrap()]);
    assert_ne!(code, 0, "{stdout}");
    assert!(stderr.contains("exists already"), "{stderr}");
    assert_eq!(std::fs::read(&path).unwrap(), b"someone's data");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn test_runs_the_scenarios_own_words_where_no_classify_is_given() {
    let (code, stdout, stderr) =
        dialflow(&["test", "tests/scenarios/own_words.yaml", "--no-environment"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("4 passed, 0 failed"), "{stdout}");
}

/// The demo delivers its reports to its own panel receiver: one per attempt (Salehi
/// reports each call's status once), none left waiting or parked, none twice.
#[test]
fn the_demo_s_reports_all_reach_its_panel_once() {
    let (code, stdout, stderr) = dialflow(&["demo", "--leads", "20", "--concurrency", "20"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let number_before = |marker: &str| -> u64 {
        let at = stdout
            .find(marker)
            .unwrap_or_else(|| panic!("no `{marker}`: {stdout}"));
        let digits: String = stdout[..at]
            .chars()
            .rev()
            .skip_while(|c| c.is_whitespace())
            .take_while(char::is_ascii_digit)
            .collect();
        digits.chars().rev().collect::<String>().parse().unwrap()
    };
    let attempts = number_before(" attempts (");
    assert!(attempts >= 20, "{stdout}");
    assert_eq!(number_before(" report(s) delivered"), attempts, "{stdout}");
    assert!(stdout.contains(": 0 waiting, 0 parked"), "{stdout}");
    assert!(stdout.contains("; 0 delivered twice"), "{stdout}");
}
