//! The dialflow command line as tests run it: in a folder, with its output.

use std::path::Path;
use std::process::{Command, Output};

use super::process::BIN;

/// Runs `dialflow ARGS` in `dir`.
pub fn dialflow(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("dialflow runs")
}

/// Runs `dialflow ARGS` in `dir`, which must succeed; its standard output.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    succeeded(dialflow(dir, args), args)
}

/// `ok`, sending the API token `token` (`DIALFLOW_API_TOKEN`), as for a daemon whose
/// tokens were given rather than made beside its store.
pub fn ok_with_token(dir: &Path, args: &[&str], token: &str) -> String {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env("DIALFLOW_API_TOKEN", token)
        .output()
        .expect("dialflow runs");
    succeeded(out, args)
}

fn succeeded(out: Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "dialflow {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `dialflow ARGS` in `dir`, which must fail; its standard error.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    let out = dialflow(dir, args);
    assert!(
        !out.status.success(),
        "dialflow {args:?} should fail:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}
