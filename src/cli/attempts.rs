//! `dialflow attempts list|export`: what every call of a campaign did.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::store_args::{Access, Api, StoreArgs, show_ms};
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
    let result = match args.store.access(false) {
        Ok(Access::Local(store)) => run_local(&store, args),
        Ok(Access::Daemon(api)) => run_remote(&api, args),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs an export into a file, or standard output. A file is written as `FILE.part`
/// and renamed when complete, so an export that breaks off never passes for a whole
/// one.
fn exporting(
    output: &Option<PathBuf>,
    write: impl FnOnce(&mut dyn Write) -> Result<(), String>,
) -> Result<(), String> {
    let Some(path) = output else {
        return write(&mut std::io::stdout().lock());
    };
    let mut part = path.clone().into_os_string();
    part.push(".part");
    let part = PathBuf::from(part);
    let failed = |e: std::io::Error| format!("cannot write {}: {e}", part.display());
    let result = (|| {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&part).map_err(failed)?);
        write(&mut file)?;
        file.flush().map_err(failed)?;
        file.into_inner()
            .map_err(|e| failed(e.into_error()))?
            .sync_all()
            .map_err(failed)?;
        std::fs::rename(&part, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}

fn run_local(store: &Store, args: &AttemptsArgs) -> Result<(), String> {
    match &args.command {
        AttemptsCommand::List { campaign, limit } => {
            store.campaign(campaign).map_err(|e| e.to_string())?;
            // The latest `limit`: walk the pages, keep the tail.
            let mut tail: std::collections::VecDeque<AttemptView> = Default::default();
            let mut after = 0;
            loop {
                let page = store
                    .attempts(campaign, after, 1000)
                    .map_err(|e| e.to_string())?;
                let Some(last) = page.last() else { break };
                after = last.start.seq;
                for a in page {
                    tail.push_back(a);
                    if tail.len() > *limit {
                        tail.pop_front();
                    }
                }
            }
            print_list(tail.iter());
            Ok(())
        }
        AttemptsCommand::Export { campaign, output } => exporting(output, |out| {
            crate::export::attempts_csv(store, campaign, out).map_err(|e| e.to_string())
        }),
    }
}

fn run_remote(api: &Api, args: &AttemptsArgs) -> Result<(), String> {
    match &args.command {
        AttemptsCommand::List { campaign, limit } => {
            let mut tail: std::collections::VecDeque<AttemptView> = Default::default();
            let mut after = 0;
            loop {
                let page: Vec<AttemptView> = api.get(&super::store_args::campaign_url(
                    campaign,
                    &format!("/attempts?after={after}"),
                )?)?;
                let Some(last) = page.last() else { break };
                after = last.start.seq;
                for a in page {
                    tail.push_back(a);
                    if tail.len() > *limit {
                        tail.pop_front();
                    }
                }
            }
            print_list(tail.iter());
            Ok(())
        }
        AttemptsCommand::Export { campaign, output } => {
            let path = super::store_args::campaign_url(campaign, "/attempts.csv")?;
            exporting(output, |out| Ok(api.download(&path, out)?))
        }
    }
}

fn print_list<'a>(attempts: impl Iterator<Item = &'a AttemptView>) {
    println!(
        "{:<16} {:<16} {:>2} {:<20} {:<26} {:<16}",
        "attempt", "phone", "#", "started", "result", "status"
    );
    for a in attempts {
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
}
