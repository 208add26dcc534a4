//! `dialflow outbox list [--parked]` and `dialflow outbox retry SEQ|--all-parked`: the
//! reports waiting for the panel, the ones it refused, and putting those back in line.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::store_args::{Access, StoreArgs, show_ms};
use crate::http::Count;
use crate::store::{OutboxEntry, ParkedReport};

#[derive(Debug, Args)]
pub struct OutboxArgs {
    #[command(subcommand)]
    pub command: OutboxCommand,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// The reports waiting for delivery (or, with `--parked`, the ones the panel refused).
    List {
        #[arg(long)]
        parked: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Put parked reports back in the outbox: one by its sequence number, or all.
    Retry {
        #[arg(required_unless_present = "all_parked", conflicts_with = "all_parked")]
        seq: Option<u64>,
        #[arg(long)]
        all_parked: bool,
    },
}

pub fn run(args: &OutboxArgs) -> ExitCode {
    match run_command(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_command(args: &OutboxArgs) -> Result<(), String> {
    let access = args.store.access(false).map_err(|e| e.to_string())?;
    match &args.command {
        OutboxCommand::List {
            parked: false,
            limit,
        } => {
            let entries: Vec<OutboxEntry> = match &access {
                Access::Local(store) => store.outbox(0, *limit).map_err(|e| e.to_string())?,
                Access::Daemon(api) => api
                    .get(&format!("/api/outbox?limit={limit}"))
                    .map_err(|e| e.to_string())?,
            };
            print_pending(&entries);
        }
        OutboxCommand::List {
            parked: true,
            limit,
        } => {
            let parked: Vec<ParkedReport> = match &access {
                Access::Local(store) => store.parked_reports(*limit).map_err(|e| e.to_string())?,
                Access::Daemon(api) => api
                    .get(&format!("/api/outbox/parked?limit={limit}"))
                    .map_err(|e| e.to_string())?,
            };
            print_parked(&parked);
        }
        OutboxCommand::Retry { seq, all_parked } => {
            let seq = if *all_parked { None } else { *seq };
            let count = match &access {
                Access::Local(store) => store.retry_parked(seq).map_err(|e| e.to_string())? as u64,
                Access::Daemon(api) => {
                    let body = match seq {
                        Some(seq) => serde_json::json!({ "seq": seq }),
                        None => serde_json::json!({ "all_parked": true }),
                    };
                    let count: Count = api
                        .post("/api/outbox/retry", &body)
                        .map_err(|e| e.to_string())?;
                    count.count
                }
            };
            println!("{count} report(s) back in the outbox");
        }
    }
    Ok(())
}

fn print_pending(entries: &[OutboxEntry]) {
    println!("seq\tcampaign\tattempt\tstatus\tresult\twritten");
    for e in entries {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            e.seq,
            e.campaign,
            e.attempt,
            e.status,
            e.result,
            show_ms(e.at_ms)
        );
    }
}

fn print_parked(parked: &[ParkedReport]) {
    println!("seq\tcampaign\tattempt\tstatus\tpanel\tanswer\tparked");
    for p in parked {
        let answer: String = p.answer.chars().take(80).collect();
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            p.entry.seq,
            p.entry.campaign,
            p.entry.attempt,
            p.entry.status,
            p.status,
            answer.replace(['\n', '\t'], " "),
            show_ms(p.parked_ms)
        );
    }
}
