//! `dialflow attempts list|export`: what every call of a campaign did.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::store_args::{StoreArgs, show_ms};
use crate::store::{AttemptView, Store};

#[derive(Debug, Args)]
pub struct AttemptsArgs {
    #[command(subcommand)]
    pub command: AttemptsCommand,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum AttemptsCommand {
    /// The latest attempts of a campaign.
    List {
        campaign: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Every attempt of a campaign as CSV (to a file, or standard output).
    Export {
        campaign: String,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

pub fn run(args: &AttemptsArgs) -> ExitCode {
    match run_command(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Calls `f` with every attempt of the campaign, in order, a page at a time.
fn each_attempt(
    store: &Store,
    campaign: &str,
    mut f: impl FnMut(&AttemptView) -> Result<(), String>,
) -> Result<(), String> {
    store.campaign(campaign).map_err(|e| e.to_string())?;
    let mut after = 0;
    loop {
        let page = store
            .attempts(campaign, after, 1000)
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.start.seq;
        for a in &page {
            f(a)?;
        }
    }
}

fn run_command(args: &AttemptsArgs) -> Result<(), String> {
    let store = args.store.open()?;
    match &args.command {
        AttemptsCommand::List { campaign, limit } => {
            let mut all = Vec::new();
            each_attempt(&store, campaign, |a| {
                all.push(a.clone());
                Ok(())
            })?;
            println!(
                "{:<16} {:<16} {:>2} {:<20} {:<26} {:<16}",
                "attempt", "phone", "#", "started", "result", "status"
            );
            for a in all.iter().rev().take(*limit).rev() {
                let (result, status) = a.end.as_ref().map_or(("(in progress)", ""), |e| {
                    (e.result.as_str(), e.status.as_str())
                });
                println!(
                    "{:<16} {:<16} {:>2} {:<20} {:<26} {:<16}",
                    a.start.id,
                    a.start.phone,
                    a.start.number,
                    show_ms(a.start.started_ms),
                    result,
                    status
                );
            }
            Ok(())
        }
        AttemptsCommand::Export { campaign, output } => {
            let sink: Box<dyn std::io::Write> = match output {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .map_err(|e| format!("cannot write {}: {e}", p.display()))?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut w = csv::Writer::from_writer(sink);
            let io = |e: csv::Error| format!("cannot write the export: {e}");
            w.write_record([
                "attempt",
                "campaign",
                "lead_id",
                "phone",
                "attempt_number",
                "scenario",
                "scenario_hash",
                "started",
                "answered",
                "ended",
                "result",
                "status",
                "channels",
                "path",
                "transcript",
                "note",
            ])
            .map_err(io)?;
            each_attempt(&store, campaign, |a| {
                let end = a.end.clone().unwrap_or_default();
                let open = a.end.is_none();
                w.write_record([
                    a.start.id.clone(),
                    a.start.campaign.clone(),
                    a.start.lead_id.to_string(),
                    a.start.phone.clone(),
                    a.start.number.to_string(),
                    a.start.scenario.clone(),
                    a.start.scenario_hash.clone(),
                    show_ms(a.start.started_ms),
                    end.answered_ms.map(show_ms).unwrap_or_default(),
                    if open {
                        String::new()
                    } else {
                        show_ms(end.ended_ms)
                    },
                    end.result,
                    end.status,
                    end.channels.join(" "),
                    end.path.join(" > "),
                    end.transcript.unwrap_or_default(),
                    end.note.unwrap_or_default(),
                ])
                .map_err(io)
            })?;
            w.flush()
                .map_err(|e| format!("cannot write the export: {e}"))?;
            Ok(())
        }
    }
}
