//! `dialflow run`: the daemon's runtime against Asterisk (or `dialflow sim`), placing
//! calls to the numbers given through a scenario. Campaigns from the store replace the
//! number list when the dialer lands; Ctrl-C or SIGTERM stop it gracefully.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio::sync::watch;

use crate::ari::translate::Deployment;
use crate::config::Config;
use crate::core::call::Lead;
use crate::load::LoadOptions;
use crate::runtime::Tally;
use crate::runtime::batch::{self, PlannedCall};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file.
    #[arg(long, default_value = "dialflow.yaml")]
    pub config: PathBuf,
    /// Call these numbers through this scenario instead of dialing the store's
    /// campaigns (a quick test of a deployment).
    #[arg(long, requires = "numbers")]
    pub scenario: Option<PathBuf>,
    /// Numbers to call with `--scenario` (as given; the configured prefix is applied).
    /// `-` reads them from standard input, one per line.
    pub numbers: Vec<String>,
    /// With `--scenario`: start at most this many calls a second, evenly spread
    /// (`max_concurrent` from the configuration still caps the calls in flight).
    #[arg(long, requires = "scenario", value_name = "CALLS", value_parser = positive_rate)]
    pub per_second: Option<f64>,
    /// The store file, overriding the configuration.
    #[arg(long, value_name = "FILE")]
    pub store: Option<PathBuf>,
    /// Exit once no campaign is running and no call is in flight.
    #[arg(long)]
    pub exit_when_idle: bool,
}

/// A start rate: a finite number above zero.
fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "`{text}` is not a rate above zero (calls a second)"
        )),
    }
}

pub fn run(args: &RunArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let config = match Config::load(&args.config, |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let options = LoadOptions {
        prompts_dir: Some(config.prompts.clone()),
        no_environment: false,
    };
    let Some(scenario_path) = &args.scenario else {
        if !args.numbers.is_empty() {
            eprintln!("error: numbers to call need `--scenario`");
            return ExitCode::from(2);
        }
        return super::campaigns::run(config, &options, args.store.clone(), args.exit_when_idle);
    };
    let Some(scenario) = super::compile_scenario(scenario_path, &options) else {
        return ExitCode::FAILURE;
    };
    let mut numbers: Vec<String> = Vec::new();
    for n in &args.numbers {
        if n == "-" {
            numbers.extend(
                std::io::stdin()
                    .lock()
                    .lines()
                    .map_while(Result::ok)
                    .map(|l| l.trim().to_string()),
            );
        } else {
            numbers.push(n.trim().to_string());
        }
    }
    numbers.retain(|n| !n.is_empty());
    if let Some(bad) = numbers.iter().find(|n| {
        !n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_'))
    }) {
        eprintln!("error: `{bad}` is not a number dialflow can dial");
        return ExitCode::from(2);
    }
    super::block_on(async move {
        let pace = batch::Pace {
            max_concurrent: config.max_concurrent,
            per_second: args.per_second.unwrap_or(f64::INFINITY),
        };
        match run_calls(&config, scenario, numbers, pace).await {
            Ok(0) => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Places the calls; the number of calls that did not finish.
async fn run_calls(
    config: &Config,
    scenario: Arc<crate::core::scenario::Scenario>,
    numbers: Vec<String>,
    pace: batch::Pace,
) -> Result<usize, String> {
    let (runtime, tasks) = super::campaigns::start_runtime(config, 1.0).await?;
    // Attempt ids must be unique on the Asterisk, also against another `dialflow run`
    // started in the same second: time in nanoseconds and this process's id.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let run_id = format!("{nanos:x}p{:x}", std::process::id());
    let calls: Vec<PlannedCall> = numbers
        .iter()
        .enumerate()
        .map(|(i, number)| PlannedCall {
            attempt_id: format!("r{run_id}n{i}"),
            lead: Lead {
                phone: number.clone(),
                ..Lead::default()
            },
            deployment: Deployment {
                app: config.ari.app.clone(),
                customer_endpoint: config.dial_string(number),
                operators: config.operators.clone(),
                caller_ids: config.caller_ids.clone(),
                customer_caller_id: config.dial.caller_id.clone(),
                sound_prefix: scenario.prompt_set.clone(),
                amd_context: config.amd_context.clone(),
                formats: config.dial.formats.clone(),
                scenario_name: scenario.name.clone(),
            },
        })
        .collect();
    let total = calls.len();
    eprintln!(
        "dialflow run: {total} call(s) through `{}` ({}), at most {} at once, ARI {}",
        scenario.name,
        scenario.hash.short(),
        config.max_concurrent,
        config.ari.url
    );
    let (stop, stop_rx) = watch::channel(false);
    let grace = Duration::from_millis(config.shutdown_grace_ms());
    let watcher = {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            eprintln!("stopping: no new calls; live calls get {grace:?} to finish");
            let _ = stop.send(true);
            tokio::time::sleep(grace).await;
            eprintln!(
                "grace time over: hanging up {} live call(s)",
                runtime.live_calls()
            );
            runtime.shutdown_calls();
        })
    };
    let mut tally = Tally::default();
    let phone_of: std::collections::HashMap<String, String> = calls
        .iter()
        .map(|c| (c.attempt_id.clone(), c.lead.phone.clone()))
        .collect();
    let outcomes = batch::run_all(&runtime, Arc::clone(&scenario), calls, pace, stop_rx, |o| {
        tally.add(o);
        let number = phone_of.get(&o.attempt_id).map_or("?", String::as_str);
        println!(
            "{number}\t{}\t{}\t{}",
            o.attempt_id, o.summary.result, o.summary.status
        );
    })
    .await;
    watcher.abort();
    tasks.stop().await;
    eprintln!(
        "{} of {total} call(s) finished: {:?}",
        outcomes.len(),
        tally.statuses
    );
    Ok(total - outcomes.len())
}

pub(super) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
