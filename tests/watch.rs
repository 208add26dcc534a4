//! `check --watch` and `test --watch` as a user runs them: the real binary watching a
//! folder, files saved as editors save them (a temporary file renamed over the old one),
//! and only what changed read back from its standard output.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::dirs::TempDir;
use common::process::{BIN, Lines, Proc};

/// Generous: two other builds may be running on the machine.
const START: Duration = Duration::from_secs(120);
const CHANGE: Duration = Duration::from_secs(60);

fn own_words() -> String {
    std::fs::read_to_string("tests/scenarios/own_words.yaml").expect("own_words.yaml")
}

/// Saves as vim and VS Code do: the new text to a temporary file, renamed over the old.
fn save(dir: &TempDir, name: &str, text: &str) {
    let tmp = dir.write(&format!(".{name}.swp"), text);
    std::fs::rename(tmp, dir.join(name)).expect("the rename");
}

/// `dialflow COMMAND --watch` on `folder`; the process and its output, once it watches.
fn watching(command: &str, folder: &Path) -> (Proc, Lines) {
    let mut proc = Proc::spawn(
        Command::new(BIN)
            .args([command, "--watch", "--no-environment"])
            .arg(folder)
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let lines = Lines::of(proc.0.stdout.take().expect("stdout"));
    lines.until("watching", START);
    (proc, lines)
}

#[test]
fn check_watch_prints_a_new_error_then_its_fix() {
    let dir = TempDir::new("check-watch");
    save(&dir, "w.yaml", &own_words());
    let (proc, lines) = watching("check", dir.path());

    let typo = own_words().replace("later: { goto: bye,", "later: { goto: byee,");
    save(&dir, "w.yaml", &typo);
    let new = lines.until("unknown-target", CHANGE);
    assert!(new.starts_with("new"), "{new}");

    save(&dir, "w.yaml", &own_words());
    let fixed = lines.until("unknown-target", CHANGE);
    assert!(fixed.starts_with("fixed"), "{fixed}");
    drop(proc);
}

#[test]
fn test_watch_prints_the_cases_that_now_fail_then_pass() {
    let dir = TempDir::new("test-watch");
    save(&dir, "w.yaml", &own_words());
    let (proc, lines) = watching("test", dir.path());

    // The `later` words no longer name `farda`: that case fails, the others still pass.
    save(
        &dir,
        "w.yaml",
        &own_words().replace("[baadan, farda]", "[baadan]"),
    );
    let fails = lines.until("farda is later", CHANGE);
    assert!(fails.starts_with("now FAILS"), "{fails}");
    let why = lines.next(CHANGE).expect("the failure's details");
    assert!(
        why.contains("expected `call_later`, got `unknown`"),
        "{why}"
    );

    // A file that appears is watched too; its passing cases are not news.
    save(
        &dir,
        "x.yaml",
        &own_words().replace("name: own_words", "name: x"),
    );
    save(&dir, "w.yaml", &own_words());
    let passes = lines.until("farda is later", CHANGE);
    assert!(passes.starts_with("now passes"), "{passes}");
    assert!(!passes.contains("x.yaml"), "{passes}");
    drop(proc);
}
