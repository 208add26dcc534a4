//! `dialflow test`: run the test cases written in scenario files against simulated calls.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::EnvironmentArgs;
use super::changes::{Entry, Kind, Snapshot};
use crate::core::scenario::Scenario;
use crate::core::testcase::TestCase;
use crate::load::{self, LoadOptions};
use crate::render;
use crate::replay;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Scenario files or folders of them.
    #[arg(default_value = "scenarios")]
    pub paths: Vec<PathBuf>,
    /// Run only the cases whose name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Print the whole call (commands, inputs, path) of failing cases.
    #[arg(long, short)]
    pub verbose: bool,
    /// Run again on every save, printing only the cases that now fail or now pass.
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub env: EnvironmentArgs,
}

pub fn run(args: &TestArgs) -> ExitCode {
    let code = test_once(args);
    if !args.watch {
        return code;
    }
    let options = args.env.load_options();
    super::watch::watch(&args.paths, |file, snap| {
        snapshot(file, args, &options, snap)
    })
}

/// The outcome of every case of one file (or that it does not compile), for `--watch`
/// to compare.
fn snapshot(file: &Path, args: &TestArgs, options: &LoadOptions, snap: &mut Snapshot) {
    let compiled = load::compile_file(file, options);
    let Some(scenario) = compiled.scenario else {
        let why = render::summary(&compiled.diagnostics);
        let shown = format!("{}: does not compile ({why})", file.display());
        let group = file.display().to_string();
        snap.insert(format!("{group}|compile"), Entry::problem(group, shown));
        return;
    };
    for case in selected(&scenario, args.filter.as_deref()) {
        let result = replay::check_case(&scenario, case);
        let entry = Entry {
            kind: Kind::Case,
            group: file.display().to_string(),
            bad: !result.passed(),
            shown: format!("{}:{}  {}", file.display(), case.line, case.name),
            details: result.failures,
        };
        snap.insert(format!("{}|{}", file.display(), case.name), entry);
    }
}

/// The scenario's cases whose name contains `filter` (all without one).
fn selected<'a>(scenario: &'a Scenario, filter: Option<&str>) -> Vec<&'a TestCase> {
    scenario
        .tests
        .iter()
        .filter(|c| filter.is_none_or(|f| c.name.contains(f)))
        .collect()
}

fn test_once(args: &TestArgs) -> ExitCode {
    let files = match load::scenario_files(&args.paths) {
        Ok(files) => files,
        Err(msg) => {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    let options = args.env.load_options();
    let (mut passed, mut failed, mut broken) = (0usize, 0usize, 0usize);
    for file in &files {
        let compiled = load::compile_file(file, &options);
        let Some(scenario) = compiled.scenario else {
            eprint!(
                "{}",
                render::human(
                    &compiled.diagnostics,
                    &compiled.sources,
                    super::stderr_color()
                )
            );
            println!(
                "FAIL  {}: does not compile ({})",
                file.display(),
                render::summary(&compiled.diagnostics)
            );
            broken += 1;
            continue;
        };
        let cases = selected(&scenario, args.filter.as_deref());
        if cases.is_empty() {
            println!("      {}: no test cases", file.display());
            continue;
        }
        for case in cases {
            let result = replay::check_case(&scenario, case);
            if result.passed() {
                passed += 1;
                println!("ok    {}:{}  {}", file.display(), case.line, case.name);
            } else {
                failed += 1;
                println!("FAIL  {}:{}  {}", file.display(), case.line, case.name);
                for f in &result.failures {
                    println!("        {f}");
                }
                if args.verbose
                    && let Some(log) = &result.log
                {
                    println!("{}", log.narrate(&scenario));
                }
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    if broken > 0 {
        println!("{broken} scenario file(s) did not compile");
    }
    if failed > 0 || broken > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
