//! `dialflow report agents|campaign NAME|lead ID [--from T] [--to T] [--format
//! table|csv|json]`: the reports of `crate::reports` from the store, or from the
//! daemon's API while it holds the store, printed as a table, CSV or JSON.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use super::error::CliError;
use super::store_args::{Access, Api, StoreArgs, now_ms};
use crate::reports::{self, Range, ReportError, render};

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
    /// From (RFC 3339 like 2026-03-01T09:00:00+03:30, or a date: its midnight UTC);
    /// default: the beginning.
    #[arg(long, global = true)]
    pub from: Option<String>,
    /// To, not included (default and at most: now).
    #[arg(long, global = true)]
    pub to: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    pub format: Format,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Each agent's login, wait, talk, wrap-up and pause time, calls and occupancy.
    Agents,
    /// A campaign's attempts, answers, handle time, speed of answer, drops, statuses
    /// and dispositions (attempts started in the range).
    Campaign { name: String },
    /// A lead's every attempt with its result, disposition and notes (whatever the range).
    Lead { id: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// Why a report was not printed.
#[derive(Debug, thiserror::Error)]
enum Failed {
    #[error(transparent)]
    Cli(#[from] CliError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("cannot write the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot write the JSON: {0}")]
    Json(#[from] serde_json::Error),
}

pub fn run(args: &ReportArgs) -> ExitCode {
    match print(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print(args: &ReportArgs) -> Result<(), Failed> {
    // Read here first, so a mistyped time is said the same way locally and remotely.
    let range = Range::parse(args.from.as_deref(), args.to.as_deref(), now_ms())?;
    let access = args.store.access(false)?;
    let text = match &args.command {
        ReportCommand::Agents => {
            let report = match &access {
                Access::Local(store) => reports::agents(store, range)?,
                Access::Daemon(api) => api.get(&with_range("/api/reports/agents", range))?,
            };
            format(args.format, &report, || report.rows())?
        }
        ReportCommand::Campaign { name } => {
            let report = match &access {
                Access::Local(store) => reports::campaign(store, name, range)?,
                Access::Daemon(api) => remote_campaign(api, name, range)?,
            };
            format(args.format, &report, || report.rows())?
        }
        ReportCommand::Lead { id } => {
            let report = match &access {
                Access::Local(store) => reports::lead(store, *id)?,
                Access::Daemon(api) => api.get(&format!("/api/reports/leads/{id}"))?,
            };
            format(args.format, &report, || report.rows())?
        }
    };
    print!("{text}");
    Ok(())
}

fn remote_campaign(api: &Api, name: &str, range: Range) -> Result<reports::CampaignReport, Failed> {
    crate::store::campaigns::check_name(name).map_err(CliError::from)?;
    let path = with_range(&format!("/api/reports/campaigns/{name}"), range);
    Ok(api.get(&path)?)
}

/// `path?from=…&to=…` in RFC 3339 (UTC, so nothing needs escaping).
fn with_range(path: &str, range: Range) -> String {
    let at = |ms: u64| {
        jiff::Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX))
            .map(|t| t.to_string())
            .unwrap_or_default()
    };
    format!("{path}?from={}&to={}", at(range.from_ms), at(range.to_ms))
}

/// The report in `format`: a table or CSV of its rows, or itself as JSON.
fn format<T: serde::Serialize>(
    format: Format,
    report: &T,
    rows: impl FnOnce() -> render::Rows,
) -> Result<String, Failed> {
    Ok(match format {
        Format::Table => render::table(&rows()),
        Format::Csv => render::csv(&rows())?,
        Format::Json => serde_json::to_string_pretty(report)? + "\n",
    })
}
