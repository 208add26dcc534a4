//! `dialflow test`: run the test cases written in scenario files against simulated calls.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::EnvironmentArgs;
use crate::load;
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
    #[command(flatten)]
    pub env: EnvironmentArgs,
}

pub fn run(args: &TestArgs) -> ExitCode {
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
        let cases: Vec<_> = scenario
            .tests
            .iter()
            .filter(|c| {
                args.filter
                    .as_ref()
                    .is_none_or(|f| c.name.contains(f.as_str()))
            })
            .collect();
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
