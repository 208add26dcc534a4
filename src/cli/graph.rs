//! `dialflow graph`: draw a scenario's flow.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::EnvironmentArgs;
use crate::core::picture;
use crate::load;
use crate::render;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The scenario file.
    pub file: PathBuf,
    #[arg(long, value_enum, default_value = "mermaid")]
    pub format: GraphFormat,
    #[command(flatten)]
    pub env: EnvironmentArgs,
}

pub fn run(args: &GraphArgs) -> ExitCode {
    let compiled = load::compile_file(&args.file, &args.env.load_options());
    if !compiled.diagnostics.is_empty() {
        eprint!(
            "{}",
            render::human(
                &compiled.diagnostics,
                &compiled.sources,
                super::stderr_color()
            )
        );
    }
    let Some(scenario) = compiled.scenario else {
        eprintln!(
            "error: {} does not compile ({})",
            args.file.display(),
            render::summary(&compiled.diagnostics)
        );
        return ExitCode::FAILURE;
    };
    let _ = super::stdout_color();
    match args.format {
        GraphFormat::Mermaid => print!("{}", picture::mermaid(&scenario)),
        GraphFormat::Dot => print!("{}", picture::dot(&scenario)),
    }
    ExitCode::SUCCESS
}
