//! `dialflow leads import|list|recycle|cancel`: a campaign's leads.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::progress::Progress;
use super::store_args::{Access, StoreArgs, now_ms};
use crate::http::{CampaignView, Count, ImportView};
use crate::leads::import::{ImportReport, import_file, same_file};
use crate::leads::normalize_phone;
use crate::store::{LeadRecord, LeadState};

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
    match args
        .store
        .access(false)
        .map_err(String::from)
        .and_then(|access| run_command(&access, args))
    {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The campaign's region, for numbers written without a country code.
pub(super) fn campaign_region(
    access: &Access,
    campaign: &str,
) -> Result<String, super::error::CliError> {
    Ok(match access {
        Access::Local(store) => store.campaign(campaign)?.settings.region,
        Access::Daemon(api) => {
            api.get::<CampaignView>(&super::store_args::campaign_url(campaign, "")?)?
                .record
                .settings
                .region
        }
    })
}

fn run_command(access: &Access, args: &LeadsArgs) -> Result<ExitCode, String> {
    match &args.command {
        LeadsCommand::Import {
            campaign,
            file,
            errors,
            region,
        } => {
            let region = match region {
                Some(r) => r.clone(),
                None => campaign_region(access, campaign)?,
            };
            let errors = errors.clone().unwrap_or_else(|| errors_path(file));
            // Checked here for both paths: through the daemon the report is written by
            // this command, after the upload.
            if same_file(file, &errors) {
                return Err(format!(
                    "the error report cannot be the lead file itself ({})",
                    errors.display()
                ));
            }
            let report = match access {
                Access::Local(store) => {
                    let mut bar: Option<Progress> = None;
                    let report = import_file(
                        store,
                        campaign,
                        file,
                        &region,
                        &errors,
                        now_ms,
                        |done, total| {
                            bar.get_or_insert_with(|| Progress::new("bytes", total))
                                .set(done);
                        },
                    )
                    .map_err(|e| e.to_string())?;
                    if let Some(bar) = bar {
                        bar.done();
                    }
                    report
                }
                Access::Daemon(api) => {
                    let view: ImportView = api.upload(
                        &super::store_args::campaign_url(
                            campaign,
                            &format!("/leads?region={region}"),
                        )?,
                        file,
                    )?;
                    let _ = std::fs::remove_file(&errors);
                    if let Some(csv) = &view.errors_csv {
                        std::fs::write(&errors, csv)
                            .map_err(|e| format!("cannot write {}: {e}", errors.display()))?;
                    }
                    if view.errors_truncated {
                        eprintln!(
                            "note: the daemon sent the first {} MiB of the error report only; \
                             the rest of the rejected rows are counted but not listed",
                            crate::http::MAX_INLINE_ERRORS >> 20
                        );
                    }
                    ImportReport {
                        added: view.added,
                        duplicates: view.duplicates,
                        rejected: view.rejected,
                        seconds: view.seconds,
                    }
                }
            };
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
            let page = |after: u64| -> Result<Vec<LeadRecord>, String> {
                match access {
                    Access::Local(store) => {
                        store.campaign(campaign).map_err(|e| e.to_string())?;
                        store
                            .leads(campaign, after, 1000)
                            .map_err(|e| e.to_string())
                    }
                    Access::Daemon(api) => Ok(api.get(&super::store_args::campaign_url(
                        campaign,
                        &format!("/leads?after={after}"),
                    )?)?),
                }
            };
            list(page, state.as_deref(), *limit, *after)?;
            Ok(ExitCode::SUCCESS)
        }
        LeadsCommand::Recycle { campaign, results } => {
            let n = match access {
                Access::Local(store) => store
                    .recycle(campaign, results, now_ms())
                    .map_err(|e| e.to_string())?,
                Access::Daemon(api) => {
                    api.post::<Count>(
                        &super::store_args::campaign_url(campaign, "/leads/recycle")?,
                        &serde_json::json!({ "results": results }),
                    )?
                    .count
                }
            };
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
            // The number as the store keeps it (E.164), however it was typed.
            let phone = match phone {
                Some(p) => {
                    let region = campaign_region(access, campaign)?;
                    let id = crate::leads::phone::parse_region(&region)
                        .ok_or_else(|| format!("`{region}` is not a region"))?;
                    Some(normalize_phone(p, id).map_err(|e| format!("`{p}`: {e}"))?)
                }
                None => None,
            };
            let n = match access {
                Access::Local(store) => store
                    .cancel_leads(campaign, phone.as_deref())
                    .map_err(|e| e.to_string())?,
                Access::Daemon(api) => {
                    api.post::<Count>(
                        &super::store_args::campaign_url(campaign, "/leads/cancel")?,
                        &serde_json::json!({ "phone": phone }),
                    )?
                    .count
                }
            };
            println!("{n} pending lead(s) cancelled");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints leads page by page (`page(after)`), only those in `state` if given.
fn list(
    page: impl Fn(u64) -> Result<Vec<LeadRecord>, String>,
    state: Option<&str>,
    limit: usize,
    after: u64,
) -> Result<(), String> {
    println!(
        "{:>8} {:<16} {:<20} {:<10} {:>8} {:<24} tz",
        "id", "phone", "name", "state", "attempts", "last result"
    );
    let mut cursor = after;
    let mut shown = 0;
    while shown < limit {
        let leads = page(cursor)?;
        let Some(last) = leads.last() else { break };
        cursor = last.id;
        for lead in leads {
            if state.is_some_and(|s| s != lead.state.key()) {
                continue;
            }
            if shown >= limit {
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
    Ok(())
}

/// `leads.csv` → `leads.errors.csv`.
fn errors_path(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "leads".into());
    file.with_file_name(format!("{stem}.errors.csv"))
}
