//! `dialflow leads import|list|recycle|cancel`: a campaign's leads.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::progress::Progress;
use super::store_args::{StoreArgs, now_ms};
use crate::leads::import::import_file;
use crate::store::LeadState;

#[derive(Debug, Args)]
pub struct LeadsArgs {
    #[command(subcommand)]
    pub command: LeadsCommand,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum LeadsCommand {
    /// Import leads from a CSV file (phone, name, time zone; other columns become
    /// `lead.custom.*`). Rejected rows go to an error CSV with their line and reason.
    Import {
        campaign: String,
        file: PathBuf,
        /// Where rejected rows go (default: FILE with `.errors.csv`).
        #[arg(long, value_name = "FILE")]
        errors: Option<PathBuf>,
        /// Region for numbers without a country code (default: the campaign's).
        #[arg(long)]
        region: Option<String>,
    },
    /// List a campaign's leads.
    List {
        campaign: String,
        /// Only leads in this state (pending, leased, done, cancelled, dnc, skipped).
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Start after this lead id.
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
    /// Put finished leads back in the queue for a new round (those whose last result is
    /// one of `--result`, or all finished leads).
    Recycle {
        campaign: String,
        #[arg(long = "result")]
        results: Vec<String>,
    },
    /// Cancel pending leads: one number, or `--all`.
    Cancel {
        campaign: String,
        #[arg(long, conflicts_with = "all")]
        phone: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

pub fn run(args: &LeadsArgs) -> ExitCode {
    match run_command(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_command(args: &LeadsArgs) -> Result<ExitCode, String> {
    let store = args.store.open()?;
    match &args.command {
        LeadsCommand::Import {
            campaign,
            file,
            errors,
            region,
        } => {
            let region = match region {
                Some(r) => r.clone(),
                None => {
                    store
                        .campaign(campaign)
                        .map_err(|e| e.to_string())?
                        .settings
                        .region
                }
            };
            let errors = errors.clone().unwrap_or_else(|| errors_path(file));
            let mut bar: Option<Progress> = None;
            let report = import_file(
                &store,
                campaign,
                file,
                &region,
                &errors,
                now_ms,
                |done, total| {
                    bar.get_or_insert_with(|| Progress::new("bytes", total))
                        .set(done);
                },
            )?;
            if let Some(bar) = bar {
                bar.done();
            }
            println!(
                "{} lead(s) added, {} duplicate(s) skipped, {} row(s) rejected in {:.1} s",
                report.added, report.duplicates, report.rejected, report.seconds
            );
            if report.rejected > 0 {
                println!("rejected rows: {}", errors.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        LeadsCommand::List {
            campaign,
            state,
            limit,
            after,
        } => {
            store.campaign(campaign).map_err(|e| e.to_string())?;
            println!(
                "{:>8} {:<16} {:<20} {:<10} {:>8} {:<24} tz",
                "id", "phone", "name", "state", "attempts", "last result"
            );
            let mut cursor = *after;
            let mut shown = 0;
            while shown < *limit {
                let page = store
                    .leads(campaign, cursor, 1000)
                    .map_err(|e| e.to_string())?;
                let Some(last) = page.last() else { break };
                cursor = last.id;
                for lead in page {
                    if state.as_deref().is_some_and(|s| s != lead.state.key()) {
                        continue;
                    }
                    if shown >= *limit {
                        break;
                    }
                    shown += 1;
                    let state = match &lead.state {
                        LeadState::Skipped { reason } => format!("skipped ({reason})"),
                        s => s.key().to_string(),
                    };
                    println!(
                        "{:>8} {:<16} {:<20} {:<10} {:>8} {:<24} {}",
                        lead.id,
                        lead.phone,
                        lead.name,
                        state,
                        lead.attempts,
                        lead.last_result.as_deref().unwrap_or("-"),
                        lead.time_zone.as_deref().unwrap_or("-")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        LeadsCommand::Recycle { campaign, results } => {
            let n = store
                .recycle(campaign, results, now_ms())
                .map_err(|e| e.to_string())?;
            println!("{n} lead(s) back in the queue");
            Ok(ExitCode::SUCCESS)
        }
        LeadsCommand::Cancel {
            campaign,
            phone,
            all,
        } => {
            if phone.is_none() && !all {
                return Err("say which: `--phone NUMBER` or `--all`".into());
            }
            let n = store
                .cancel_leads(campaign, phone.as_deref())
                .map_err(|e| e.to_string())?;
            println!("{n} pending lead(s) cancelled");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `leads.csv` → `leads.errors.csv`.
fn errors_path(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "leads".into());
    file.with_file_name(format!("{stem}.errors.csv"))
}
