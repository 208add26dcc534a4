//! `dialflow graph`: draw a scenario's flow.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::EnvironmentArgs;
use crate::core::picture;

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
    let Some(scenario) = super::compile_scenario(&args.file, &args.env.load_options()) else {
        return ExitCode::FAILURE;
    };
    let _ = super::stdout_color();
    match args.format {
        GraphFormat::Mermaid => print!("{}", picture::mermaid(&scenario)),
        GraphFormat::Dot => print!("{}", picture::dot(&scenario)),
    }
    ExitCode::SUCCESS
}
