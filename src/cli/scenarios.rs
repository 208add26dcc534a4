//! `dialflow scenarios list | show NAME --versions | text HASH`: the versions of each
//! scenario the daemon served (when, why, which files), and the exact text behind an
//! attempt's scenario hash. Read from the store, or through the running daemon's API.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::error::CliError;
use super::store_args::{Access, StoreArgs, show_ms};
use crate::store::{ScenarioVersion, VersionTexts};

#[derive(Debug, Args)]
pub struct ScenariosArgs {
    #[command(subcommand)]
    pub command: ScenariosCommand,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum ScenariosCommand {
    /// The latest version of every scenario served.
    List,
    /// One scenario: its latest version, or with `--versions` every one.
    Show {
        name: String,
        #[arg(long)]
        versions: bool,
    },
    /// The exact files of the version a hash names (an attempt's, or its first digits).
    Text { hash: String },
}

pub fn run(args: &ScenariosArgs) -> ExitCode {
    match run_command(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_command(args: &ScenariosArgs) -> Result<(), CliError> {
    let access = args.store.access(false)?;
    match &args.command {
        ScenariosCommand::List => print_versions(&latest(&access)?),
        ScenariosCommand::Show { name, versions } => {
            let mut history = history(&access, name)?;
            if history.is_empty() {
                return Err(CliError::NoVersion(format!(
                    "no version of `{name}` was ever served"
                )));
            }
            if !versions {
                history.drain(..history.len() - 1);
            }
            print_versions(&history);
            for version in &history {
                for file in &version.files {
                    println!("  v{} {}\t{}", version.seq, file.sha256, file.path);
                }
            }
        }
        ScenariosCommand::Text { hash } => {
            let found = texts(&access, hash)?;
            for (path, text) in &found.texts {
                println!(
                    "# {path} (version {} of {})",
                    found.version.seq, found.version.name
                );
                print!("{text}");
                if !text.ends_with('\n') {
                    println!();
                }
            }
        }
    }
    Ok(())
}

fn latest(access: &Access) -> Result<Vec<ScenarioVersion>, CliError> {
    match access {
        Access::Local(store) => Ok(store.latest_versions()?),
        Access::Daemon(api) => api.get("/api/scenario-versions"),
    }
}

fn history(access: &Access, name: &str) -> Result<Vec<ScenarioVersion>, CliError> {
    match access {
        Access::Local(store) => Ok(store.scenario_versions(name)?),
        Access::Daemon(api) => {
            let name =
                percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
            api.get(&format!("/api/scenario-versions/{name}"))
        }
    }
}

fn texts(access: &Access, hash: &str) -> Result<VersionTexts, CliError> {
    let not_found = || CliError::NoVersion(format!("no single scenario version has hash `{hash}`"));
    match access {
        Access::Local(store) => store.version_with_texts(hash)?.ok_or_else(not_found),
        Access::Daemon(api) => {
            let hash =
                percent_encoding::utf8_percent_encode(hash, percent_encoding::NON_ALPHANUMERIC);
            api.get(&format!("/api/scenario-texts/{hash}"))
        }
    }
}

fn print_versions(versions: &[ScenarioVersion]) {
    println!("scenario\tversion\thash\tloaded\ttrigger");
    for v in versions {
        let hash: String = v.hash.chars().take(12).collect();
        println!(
            "{}\t{}\t{hash}\t{}\t{}",
            v.name,
            v.seq,
            show_ms(v.loaded_ms),
            v.trigger
        );
    }
}
