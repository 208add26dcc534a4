//! `dialflow leads import|list|recycle|cancel`: a campaign's leads.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};

use super::progress::Progress;
use super::store_args::{StoreArgs, now_ms};
use crate::leads::{ErrorCsv, LeadReader};
use crate::store::{LeadState, NewLead, Store};

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
            let report = import(&store, campaign, file, &region, &errors, true)?;
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

/// What an import did.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportReport {
    pub added: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub seconds: f64,
}

/// Rows per store transaction: big enough to amortise the commit, small enough to
/// keep memory flat.
const BATCH: usize = 5_000;

/// Streams `file` into the campaign; rejected rows go to `errors` (written only when
/// there are some). Shows a progress bar when `progress` and stderr is a terminal.
pub fn import(
    store: &Store,
    campaign: &str,
    file: &Path,
    region: &str,
    errors: &Path,
    progress: bool,
) -> Result<ImportReport, String> {
    let started = Instant::now();
    store.campaign(campaign).map_err(|e| e.to_string())?;
    let size = std::fs::metadata(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?
        .len();
    let input = File::open(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut reader = LeadReader::new(BufReader::with_capacity(1 << 20, input), region)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let columns = reader.columns().to_vec();
    let mut error_csv: Option<ErrorCsv<std::io::BufWriter<File>>> = None;
    let mut report = ImportReport::default();
    let mut batch: Vec<NewLead> = Vec::with_capacity(BATCH);
    let mut bar = progress.then(|| Progress::new("bytes", size));
    let flush = |batch: &mut Vec<NewLead>, report: &mut ImportReport| -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        let tally = store
            .import_leads(campaign, batch, now_ms())
            .map_err(|e| e.to_string())?;
        report.added += tally.added;
        report.duplicates += tally.duplicates;
        batch.clear();
        Ok(())
    };
    while let Some(row) = reader.next() {
        match row.map_err(|e| format!("{}: {e}", file.display()))? {
            Ok(lead) => {
                batch.push(NewLead {
                    phone: lead.phone,
                    name: lead.name,
                    time_zone: lead.time_zone,
                    custom: lead.custom,
                });
                if batch.len() >= BATCH {
                    flush(&mut batch, &mut report)?;
                }
            }
            Err(rejected) => {
                report.rejected += 1;
                if error_csv.is_none() {
                    let out = File::create(errors)
                        .map_err(|e| format!("cannot write {}: {e}", errors.display()))?;
                    error_csv = Some(
                        ErrorCsv::new(std::io::BufWriter::new(out), &columns)
                            .map_err(|e| format!("cannot write {}: {e}", errors.display()))?,
                    );
                }
                if let Some(w) = error_csv.as_mut() {
                    w.write(&rejected)
                        .map_err(|e| format!("cannot write {}: {e}", errors.display()))?;
                }
            }
        }
        if let Some(bar) = bar.as_mut() {
            bar.set(reader.bytes_read());
        }
    }
    flush(&mut batch, &mut report)?;
    if let Some(w) = error_csv {
        w.finish()
            .map_err(|e| format!("cannot write {}: {e}", errors.display()))?;
    }
    if let Some(bar) = bar {
        bar.done();
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
