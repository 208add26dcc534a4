//! Snapshot tests of the compiler's diagnostics on deliberately broken scenarios.
//!
//! Every `tests/broken/*.yaml` holds one kind of mistake (one file holds five). Its
//! first line says which diagnostic codes it must produce, as data:
//!
//! ```yaml
//! # expect: unknown-target, unreachable-node -- what the mistake is
//! # at: 10:11, 11:3        (optional: line:column of every diagnostic, in order)
//! ```
//!
//! The rendered output (miette, no colours) of each file is an insta snapshot named
//! after the file's stem, so a change in wording or position shows up in review.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use dialflow::core::compile::Compiled;
use dialflow::core::diagnostic::Code;
use dialflow::load::{LoadOptions, compile_file};

/// Relative to the crate root (cargo's working directory for integration tests), so
/// the paths in rendered diagnostics, and thus the snapshots, are stable.
const BROKEN: &str = "tests/broken";
const PROMPTS: &str = "tests/broken/prompts";

/// What a broken file's header comments say it must produce.
#[derive(Debug)]
struct Expectation {
    codes: BTreeSet<String>,
    /// `line:column` of every diagnostic, in rendered order, when the file gives them.
    positions: Option<Vec<(u32, u32)>>,
}

fn broken_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(BROKEN)
        .expect("tests/broken exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

fn expectation(path: &Path) -> Expectation {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let list = first.strip_prefix("# expect:").unwrap_or_else(|| {
        panic!(
            "{}: the first line must be `# expect: code, … -- what is wrong`",
            path.display()
        )
    });
    let list = list.split(" -- ").next().unwrap_or_default();
    let codes: BTreeSet<String> = list
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();
    assert!(
        !codes.is_empty(),
        "{}: `# expect:` lists no code",
        path.display()
    );
    for code in &codes {
        assert!(
            Code::ALL.iter().any(|c| c.as_str() == code),
            "{}: `{code}` in `# expect:` is not a diagnostic code",
            path.display()
        );
    }
    let positions = lines
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix("# at:"))
        .map(|list| {
            list.split(',')
                .map(|p| {
                    let (line, column) = p
                        .trim()
                        .split_once(':')
                        .unwrap_or_else(|| panic!("{}: bad `# at:` entry `{p}`", path.display()));
                    (
                        line.parse().expect("a line number"),
                        column.parse().expect("a column number"),
                    )
                })
                .collect()
        });
    Expectation { codes, positions }
}

fn compile(path: &Path) -> Compiled {
    compile_file(
        path,
        &LoadOptions {
            prompts_dir: Some(PROMPTS.into()),
            no_environment: false,
            // The configuration the broken scenarios are checked against.
            queues: Some(BTreeSet::from(["sales".to_string(), "care".to_string()])),
        },
    )
}

/// Checks one file against its header; returns what is wrong, if anything.
fn check_expectation(path: &Path, compiled: &Compiled) -> Vec<String> {
    let name = path.display();
    let expected = expectation(path);
    let mut problems = Vec::new();
    if compiled.diagnostics.is_empty() {
        problems.push(format!(
            "{name}: no diagnostic at all (expected {:?})",
            expected.codes
        ));
        return problems;
    }
    let found: BTreeSet<String> = compiled
        .diagnostics
        .iter()
        .map(|d| d.code.as_str().to_string())
        .collect();
    if found != expected.codes {
        let missing: Vec<&String> = expected.codes.difference(&found).collect();
        let unexpected: Vec<&String> = found.difference(&expected.codes).collect();
        problems.push(format!(
            "{name}: codes differ: missing {missing:?}, unexpected {unexpected:?}"
        ));
    }
    if let Some(positions) = expected.positions {
        let actual: Vec<(u32, u32)> = compiled
            .diagnostics
            .iter()
            .map(|d| (d.position.line, d.position.column))
            .collect();
        if actual != positions {
            problems.push(format!(
                "{name}: positions differ: expected {positions:?}, found {actual:?}"
            ));
        }
    }
    problems
}

#[test]
fn broken_scenarios_render_their_diagnostics() {
    let files = broken_files();
    assert!(
        files.len() >= 34,
        "expected at least 34 broken scenarios, found {}",
        files.len()
    );
    let mut problems = Vec::new();
    for path in &files {
        let compiled = compile(path);
        let rendered = dialflow::render::human(&compiled.diagnostics, &compiled.sources, false);
        insta::with_settings!({ description => path.display().to_string(), omit_expression => true }, {
            insta::assert_snapshot!(stem(path), rendered);
        });
        problems.extend(check_expectation(path, &compiled));
    }
    // Every file is checked before failing, so one run lists every mismatch.
    assert!(
        problems.is_empty(),
        "{} broken scenario(s) do not produce what they expect:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_code_is_expected_by_some_broken_scenario() {
    let mut expected = BTreeSet::new();
    for path in broken_files() {
        expected.extend(expectation(&path).codes);
    }
    let uncovered: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !expected.contains(*c))
        .collect();
    assert!(
        uncovered.is_empty(),
        "no file in tests/broken expects {uncovered:?}"
    );
}

#[test]
fn broken_prompt_set_has_one_good_and_one_bad_wav() {
    let good = dialflow::load::prompt_length_ms(Path::new("tests/broken/prompts/test/hello.wav"));
    assert!(
        good.is_ok(),
        "hello.wav should be 8 kHz mono 16-bit: {good:?}"
    );
    let bad = dialflow::load::prompt_length_ms(Path::new("tests/broken/prompts/test/stereo.wav"));
    assert!(bad.is_err(), "stereo.wav should be rejected");
}
