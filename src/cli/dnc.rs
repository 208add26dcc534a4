//! `dialflow dnc add|import|list`: the global and per-campaign do-not-call lists.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::store_args::{Access, StoreArgs, now_ms, show_ms};
use crate::http::Count;
use crate::leads::normalize_phone;
use crate::leads::phone::parse_region;
use crate::store::DncScope;

#[derive(Debug, Args)]
pub struct DncArgs {
    #[command(subcommand)]
    pub command: DncCommand,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum DncCommand {
    /// Add numbers to the global list (or a campaign's with `--campaign`).
    Add {
        #[arg(required = true)]
        phones: Vec<String>,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Add every number of a file: one per line, or a CSV whose header names a phone
    /// column.
    Import {
        file: PathBuf,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Show a list.
    List {
        #[arg(long)]
        campaign: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// The campaign's own list instead of the global one.
    #[arg(long)]
    pub campaign: Option<String>,
    /// Region for numbers without a country code.
    #[arg(long, default_value = "IR")]
    pub region: String,
    /// Why (kept with each entry).
    #[arg(long, default_value = "added by an operator")]
    pub reason: String,
}

pub fn run(args: &DncArgs) -> ExitCode {
    match run_command(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn scope_of(campaign: &Option<String>) -> DncScope {
    campaign
        .clone()
        .map_or(DncScope::Global, DncScope::Campaign)
}

/// Adds numbers to a list, in the store or through the daemon; how many were new.
fn add(
    access: &Access,
    campaign: &Option<String>,
    numbers: &[String],
    reason: &str,
) -> Result<u64, String> {
    match access {
        Access::Local(store) => {
            if let Some(c) = campaign {
                store.campaign(c).map_err(|e| e.to_string())?;
            }
            store
                .add_dnc(&scope_of(campaign), numbers, reason, now_ms())
                .map_err(|e| e.to_string())
        }
        Access::Daemon(api) => Ok(api
            .post::<Count>(
                "/api/dnc",
                &serde_json::json!({ "phones": numbers, "campaign": campaign, "reason": reason }),
            )?
            .count),
    }
}

fn run_command(args: &DncArgs) -> Result<(), String> {
    let creates = !matches!(args.command, DncCommand::List { .. });
    let access = args.store.access(creates)?;
    match &args.command {
        DncCommand::Add { phones, scope } => {
            let region = parse_region(&scope.region)
                .ok_or_else(|| format!("`{}` is not a region like IR or US", scope.region))?;
            let mut numbers = Vec::new();
            for p in phones {
                numbers.push(normalize_phone(p, region).map_err(|e| format!("`{p}`: {e}"))?);
            }
            let added = add(&access, &scope.campaign, &numbers, &scope.reason)?;
            println!(
                "{added} number(s) added ({} already listed)",
                numbers.len() as u64 - added
            );
            Ok(())
        }
        DncCommand::Import { file, scope } => {
            let region = parse_region(&scope.region)
                .ok_or_else(|| format!("`{}` is not a region like IR or US", scope.region))?;
            let text = std::fs::File::open(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let mut numbers = Vec::new();
            let mut bad = 0u64;
            for (i, line) in std::io::BufReader::new(text).lines().enumerate() {
                let line = line.map_err(|e| format!("{}:{}: {e}", file.display(), i + 1))?;
                let raw = line.split([',', ';', '\t']).next().unwrap_or("").trim();
                if raw.is_empty() || (i == 0 && !raw.chars().any(|c| c.is_ascii_digit())) {
                    continue; // a blank line, or the header
                }
                match normalize_phone(raw, region) {
                    Ok(n) => numbers.push(n),
                    Err(e) => {
                        bad += 1;
                        eprintln!("{}:{}: {e}", file.display(), i + 1);
                    }
                }
            }
            let added = add(&access, &scope.campaign, &numbers, &scope.reason)?;
            println!("{added} number(s) added, {bad} line(s) rejected");
            Ok(())
        }
        DncCommand::List { campaign } => {
            let entries: Vec<(String, crate::store::DncEntry)> = match &access {
                Access::Local(store) => store
                    .dnc_list(&scope_of(campaign))
                    .map_err(|e| e.to_string())?,
                Access::Daemon(api) => api.get(&match campaign {
                    Some(c) => format!("/api/dnc?campaign={c}"),
                    None => "/api/dnc".to_string(),
                })?,
            };
            for (phone, entry) in entries {
                println!("{phone:<18} {}  {}", show_ms(entry.added_ms), entry.reason);
            }
            Ok(())
        }
    }
}
