//! `dialflow replay`: run one call of a scenario against a recorded ARI trace (`.jsonl`)
//! or one of its own test cases, and show the path, the commands and the result.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::EnvironmentArgs;
use crate::ari::trace::read_trace;
use crate::replay::{recorded, scripted};

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// A trace recorded from Asterisk (`.jsonl`, see shared/ari-traces/FORMAT.md).
    #[arg(required_unless_present = "case")]
    pub trace: Option<PathBuf>,
    /// Instead of a trace, run the scenario's test case of this name.
    #[arg(long, conflicts_with = "trace")]
    pub case: Option<String>,
    /// Print only the commands, one per line (what snapshot tests compare).
    #[arg(long)]
    pub commands: bool,
    #[command(flatten)]
    pub env: EnvironmentArgs,
}

pub fn run(args: &ReplayArgs) -> ExitCode {
    let Some(scenario) = super::compile_scenario(&args.scenario, &args.env.load_options()) else {
        return ExitCode::FAILURE;
    };
    let (title, outcome, expected) = if let Some(name) = &args.case {
        let Some(case) = scenario.tests.iter().find(|c| &c.name == name) else {
            let names: Vec<&str> = scenario.tests.iter().map(|c| c.name.as_str()).collect();
            eprintln!(
                "error: {} has no test case `{name}`; its cases: {}",
                args.scenario.display(),
                names.join("; ")
            );
            return ExitCode::from(2);
        };
        (
            format!("test case `{name}`"),
            scripted::run(&scenario, case),
            case.expect.result.clone(),
        )
    } else {
        let path = args
            .trace
            .as_ref()
            .expect("clap requires a trace without --case");
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let trace = match read_trace(&text) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let stubs = recorded::stubs_for(&trace);
        (
            format!("trace {}", path.display()),
            recorded::run(&scenario, &trace, stubs),
            trace.meta.expected_result.clone(),
        )
    };
    match outcome {
        Ok(log) => {
            if args.commands {
                print!("{}", log.command_stream());
            } else {
                println!(
                    "replaying {} through scenario `{}` ({})\n",
                    title,
                    scenario.name,
                    scenario.hash.short()
                );
                print!("{}", log.narrate(&scenario));
            }
            let result = log
                .summary
                .as_ref()
                .map(|s| s.result.clone())
                .unwrap_or_default();
            match expected {
                Some(want) if want != result && want != "–" => {
                    eprintln!("\nexpected result `{want}`, got `{result}`");
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
