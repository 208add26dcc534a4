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
    /// Region for numbers without a country code (default: the campaign's with
    /// `--campaign`, else IR).
    #[arg(long)]
    pub region: Option<String>,
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

/// The region numbers without a country code are read in: as given, else the
/// campaign's (so a US campaign's list holds US numbers), else IR.
fn region_of(access: &Access, scope: &ScopeArgs) -> Result<phonenumber::country::Id, String> {
    let name = match (&scope.region, &scope.campaign) {
        (Some(r), _) => r.clone(),
        (None, Some(c)) => super::leads::campaign_region(access, c)?,
        (None, None) => "IR".to_string(),
    };
    parse_region(&name).ok_or_else(|| format!("`{name}` is not a region like IR or US"))
}

/// The numbers of a file: one per line, or a CSV (`,` `;` or tab) whose header names a
/// phone column (`phone`, `number`, `mobile`, …; else the first column holds them).
/// Lines that are not numbers are reported on standard error and counted.
fn read_numbers(
    file: &std::path::Path,
    region: phonenumber::country::Id,
) -> Result<(Vec<String>, u64), String> {
    use crate::leads::header;
    let input =
        std::fs::File::open(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let lines = std::io::BufReader::new(input).lines().enumerate();
    let (mut numbers, mut bad) = (Vec::new(), 0u64);
    let mut column = 0;
    let mut delimiter = b',';
    let mut first = true;
    for (i, line) in lines {
        let line = line.map_err(|e| format!("{}:{}: {e}", file.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        if first {
            first = false;
            delimiter = header::detect_delimiter(line.as_bytes());
            let names: Vec<String> = line
                .trim_start_matches('\u{feff}')
                .split(char::from(delimiter))
                .map(|n| header::normalize(n.trim().trim_matches('"')))
                .collect();
            if let Some(at) = names
                .iter()
                .position(|n| header::PHONE_COLUMNS.contains(&n.as_str()))
            {
                column = at;
                continue;
            }
            if !names
                .first()
                .is_some_and(|n| n.chars().any(|c| c.is_ascii_digit()))
            {
                return Err(format!(
                    "{}:1: the header names no phone column (one of {})",
                    file.display(),
                    header::PHONE_COLUMNS.join(", ")
                ));
            }
        }
        let raw = line
            .split(char::from(delimiter))
            .nth(column)
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        match normalize_phone(raw, region) {
            Ok(n) => numbers.push(n),
            Err(e) => {
                bad += 1;
                eprintln!("{}:{}: {e}", file.display(), i + 1);
            }
        }
    }
    Ok((numbers, bad))
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
            let region = region_of(&access, scope)?;
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
            let region = region_of(&access, scope)?;
            let (numbers, bad) = read_numbers(file, region)?;
            let mut added = 0;
            // In pieces: one request (or transaction) per 10,000 numbers.
            for chunk in numbers.chunks(10_000) {
                added += add(&access, &scope.campaign, chunk, &scope.reason)?;
            }
            println!("{added} number(s) added, {bad} line(s) rejected");
            Ok(())
        }
        DncCommand::List { campaign } => {
            if let Some(c) = campaign {
                crate::store::campaigns::check_name(c).map_err(|e| e.to_string())?;
            }
            // Page by page: a national list has millions of numbers.
            let mut after = String::new();
            loop {
                let page: Vec<(String, crate::store::DncEntry)> = match &access {
                    Access::Local(store) => store
                        .dnc_page(&scope_of(campaign), &after, 1_000)
                        .map_err(|e| e.to_string())?,
                    Access::Daemon(api) => {
                        let scope = campaign
                            .as_ref()
                            .map_or_else(String::new, |c| format!("&campaign={c}"));
                        // E.164 numbers need no escaping but the `+`.
                        let from = after.replace('+', "%2B");
                        api.get(&format!("/api/dnc?after={from}&limit=1000{scope}"))?
                    }
                };
                let Some((last, _)) = page.last() else { break };
                after = last.clone();
                for (phone, entry) in &page {
                    println!("{phone:<18} {}  {}", show_ms(entry.added_ms), entry.reason);
                }
            }
            Ok(())
        }
    }
}
