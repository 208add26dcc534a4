//! `dialflow reload`: asks the running daemon (`dialflow run`) to compile its scenarios
//! folder again and serve it, as SIGHUP does, and prints what it serves now, or every
//! diagnostic of the files that kept the reload from taking effect.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Args;

use super::error::CliError;
use super::store_args::{Access, StoreArgs};

#[derive(Debug, Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

/// What the API answers to a reload that took effect.
#[derive(serde::Deserialize)]
struct Served {
    scenarios: BTreeMap<String, String>,
}

pub fn run(args: &ReloadArgs) -> ExitCode {
    match reload(args) {
        Ok(served) => {
            for (name, hash) in &served.scenarios {
                println!("{name}\t{hash}");
            }
            eprintln!("reloaded: {} scenario(s) served", served.scenarios.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn reload(args: &ReloadArgs) -> Result<Served, CliError> {
    match args.store.access(false)? {
        Access::Daemon(api) => api.post("/api/reload", &serde_json::json!({})),
        Access::Local(_) => Err(CliError::NotRunning(args.store.store_path()?)),
    }
}
