//! `dialflow run`: the daemon. Without `--scenario` it dials the store's running
//! campaigns and serves the HTTP API (the store commands go through it while it holds
//! the store); with `--scenario` it calls the numbers given through that scenario, a
//! quick test of a deployment. Both run through `daemon::run`. The OS signals are
//! caught here: SIGINT/SIGTERM stop gracefully (no new calls, live calls get the grace
//! time, then are hung up and recorded), SIGHUP reloads the scenarios folder.

use std::collections::HashMap;
use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::control::{Control, Controller, Trigger};
use crate::core::call::Lead;
use crate::core::scenario::Scenario;
use crate::daemon::{self, Daemon, Notice, Summary, Work};
use crate::dialer::DialerEvent;
use crate::dialer::deployment::{CampaignDialing, deployment};
use crate::load::LoadOptions;
use crate::runtime::Tally;
use crate::runtime::batch::{Pace, PlannedCall};
use crate::runtime::clock::Clock;
use crate::scenario_set::{self, ScenarioSet, SharedScenarios, StartTexts};
use crate::store::{CampaignState, Store};

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
    /// Run dialflow's clock this many times faster than real time, to match
    /// `dialflow sim --speed` (its timers, and the campaigns' calling hours and retry
    /// delays, all compressed). Never against a real Asterisk.
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR", value_parser = positive_speed)]
    pub speed: f64,
}

/// A clock speed: a finite factor above zero.
fn positive_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(speed) if speed.is_finite() && speed > 0.0 => Ok(speed),
        _ => Err(format!(
            "`{text}` is not a speed above zero (times real time)"
        )),
    }
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
    let options = crate::daemon::load_options(&config);
    let planned = match &args.scenario {
        Some(path) => match planned_calls(args, &config, path, &options) {
            Ok(planned) => Some(planned),
            Err(code) => return code,
        },
        None if !args.numbers.is_empty() => {
            eprintln!("error: numbers to call need `--scenario`");
            return ExitCode::from(2);
        }
        None => None,
    };
    super::block_on(async move {
        let outcome = match planned {
            Some(planned) => run_calls(config, planned, args.speed).await,
            None => run_campaigns(config, &options, args).await,
        };
        match outcome {
            Ok(code) => code,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    })
}

/// The calls of `run --scenario`, and the number each one dials.
struct Planned {
    scenario: Arc<Scenario>,
    calls: Vec<PlannedCall>,
    pace: Pace,
}

fn planned_calls(
    args: &RunArgs,
    config: &Config,
    path: &std::path::Path,
    options: &LoadOptions,
) -> Result<Planned, ExitCode> {
    let scenario = super::compile_scenario(path, options).ok_or(ExitCode::FAILURE)?;
    let numbers = numbers(&args.numbers);
    if let Some(bad) = numbers.iter().find(|n| {
        !n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '_'))
    }) {
        eprintln!("error: `{bad}` is not a number dialflow can dial");
        return Err(ExitCode::from(2));
    }
    // Attempt ids must be unique on the Asterisk, also against another `dialflow run`
    // started in the same second: time in nanoseconds and this process's id.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let run_id = format!("{nanos:x}p{:x}", std::process::id());
    let calls = numbers
        .iter()
        .enumerate()
        .map(|(i, number)| PlannedCall {
            attempt_id: format!("r{run_id}n{i}"),
            lead: Lead {
                phone: number.clone(),
                ..Lead::default()
            },
            deployment: deployment(config, CampaignDialing::default(), &scenario, number),
        })
        .collect();
    let pace = Pace {
        max_concurrent: config.max_concurrent,
        per_second: args.per_second.unwrap_or(f64::INFINITY),
    };
    Ok(Planned {
        scenario,
        calls,
        pace,
    })
}

/// The numbers as given, `-` read from standard input, blanks dropped.
fn numbers(given: &[String]) -> Vec<String> {
    let mut numbers: Vec<String> = Vec::new();
    for n in given {
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
    numbers
}

/// `run --scenario`: exit status 0 only when every call ended.
async fn run_calls(config: Config, planned: Planned, speed: f64) -> Result<ExitCode, String> {
    let total = planned.calls.len();
    eprintln!(
        "dialflow run: {total} call(s) through `{}` ({}), at most {} at once, ARI {}",
        planned.scenario.name,
        planned.scenario.hash.short(),
        config.max_concurrent,
        config.ari.url
    );
    let phone_of: HashMap<String, String> = planned
        .calls
        .iter()
        .map(|c| (c.attempt_id.clone(), c.lead.phone.clone()))
        .collect();
    let work = Work::Calls {
        scenario: planned.scenario,
        calls: planned.calls,
        pace: planned.pace,
    };
    let daemon = Daemon::new(config, work)
        .map_err(|e| e.to_string())?
        .with_clock(Clock::new(speed));
    let (summary, tally) = run_printing(daemon, phone_of).await?;
    print_backoff(&summary);
    eprintln!(
        "{} of {total} call(s) finished: {:?}",
        summary.attempts, tally.statuses
    );
    print_cpu(&summary);
    Ok(if summary.unfinished == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The daemon proper: the store's campaigns, the API, until stopped (or idle).
async fn run_campaigns(
    config: Config,
    options: &LoadOptions,
    args: &RunArgs,
) -> Result<ExitCode, String> {
    let path = args
        .store
        .clone()
        .or_else(|| std::env::var_os("DIALFLOW_STORE").map(PathBuf::from))
        .unwrap_or_else(|| config.store.clone());
    let store = Store::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let store = Arc::new(store);
    let (scenarios, texts) = load_scenarios(&config, options);
    banner(&config, &store, &scenarios)?;
    let listen = config.listen.clone();
    let work = Work::Campaigns {
        store,
        scenarios: SharedScenarios::new(scenarios),
        exit_when_idle: args.exit_when_idle,
    };
    let mut daemon = Daemon::new(config, work)
        .map_err(|e| e.to_string())?
        .with_load_options(options.clone())
        .with_start_texts(texts)
        .with_clock(Clock::new(args.speed));
    match crate::http::bind(&listen).await {
        Ok(Some(listener)) => daemon = daemon.with_api(listener),
        Ok(None) => {}
        Err(message) => {
            eprintln!("warning: {message}; campaigns can be changed only once this run stops")
        }
    }
    let (summary, _) = run_printing(daemon, HashMap::new()).await?;
    print_classification(&summary);
    print_backoff(&summary);
    eprintln!(
        "dialflow run: {} attempt(s) recorded this run, {} recovered",
        summary.attempts, summary.recovered
    );
    Ok(ExitCode::SUCCESS)
}

/// Every scenario of the configured folder that compiles, with the texts it was
/// compiled from; the others' diagnostics are shown.
fn load_scenarios(config: &Config, options: &LoadOptions) -> (ScenarioSet, StartTexts) {
    let loaded = match scenario_set::load_folder(&config.scenarios, options) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("warning: {e}");
            return (ScenarioSet::new(), StartTexts::new());
        }
    };
    for (path, compiled) in &loaded.reports {
        super::show_diagnostics(path, compiled);
    }
    if loaded.scenarios.is_empty() {
        eprintln!(
            "warning: no scenario in {} compiles; campaigns cannot dial",
            config.scenarios.display()
        );
    }
    (loaded.scenarios, loaded.texts)
}

fn banner(config: &Config, store: &Store, scenarios: &ScenarioSet) -> Result<(), String> {
    let running: Vec<String> = store
        .campaigns()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|c| c.state == CampaignState::Running)
        .map(|c| c.name)
        .collect();
    eprintln!(
        "dialflow run: store {}, {} scenario(s), running campaign(s): {}; at most {} call(s) at once, ARI {}",
        store.path().display(),
        scenarios.len(),
        if running.is_empty() {
            "none".to_string()
        } else {
            running.join(", ")
        },
        config.max_concurrent,
        config.ari.url
    );
    Ok(())
}

/// Runs the daemon until it is done, printing what it tells; SIGHUP reloads.
async fn run_printing(
    daemon: Daemon,
    phone_of: HashMap<String, String>,
) -> Result<(Summary, Tally), String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let daemon = daemon.with_notices(tx);
    let reloader = tokio::spawn(reload_on_hangup(daemon.controller()));
    let printer = tokio::spawn(print_notices(rx, phone_of));
    let result = daemon::run(daemon, shutdown_signal()).await;
    reloader.abort();
    let tally = printer.await.unwrap_or_default();
    Ok((result.map_err(|e| e.to_string())?, tally))
}

/// Prints each notice as it comes; the statuses of the calls given on the command line.
async fn print_notices(
    mut rx: mpsc::UnboundedReceiver<Notice>,
    phone_of: HashMap<String, String>,
) -> Tally {
    let mut tally = Tally::default();
    while let Some(notice) = rx.recv().await {
        match notice {
            Notice::Dialer(event) => print_dialer_event(event),
            Notice::Call(o) => {
                tally.add(&o);
                let number = phone_of.get(&o.attempt_id).map_or("?", String::as_str);
                println!(
                    "{number}\t{}\t{}\t{}",
                    o.attempt_id, o.summary.result, o.summary.status
                );
            }
            Notice::Serving { addr, token_file } => {
                eprintln!("HTTP API on http://{addr}");
                if let Some(file) = token_file {
                    eprintln!(
                        "API token (admin, made since none is configured): in {}",
                        file.display()
                    );
                }
            }
            Notice::Stopping { grace } => {
                eprintln!("stopping: no new calls; live calls get {grace:?} to finish")
            }
            Notice::GraceOver { live_calls } => {
                eprintln!("grace time over: hanging up {live_calls} live call(s)")
            }
            Notice::Reloaded(Ok(r)) => eprintln!("reloaded: {} scenario(s)", r.scenarios.len()),
            Notice::Reloaded(Err(e)) => eprintln!("reload failed: {e}"),
        }
    }
    tally
}

fn print_dialer_event(event: DialerEvent) {
    match event {
        DialerEvent::Finished { attempt, end, .. } => println!(
            "{}\t{}\t{}\t{}\t{}",
            attempt.campaign, attempt.phone, attempt.id, end.result, end.status
        ),
        DialerEvent::CampaignChanged {
            name,
            state,
            reason,
        } => match reason {
            Some(r) => eprintln!("campaign `{name}` is {state}: {r}"),
            None => eprintln!("campaign `{name}` is {state}"),
        },
        DialerEvent::Alert { message, .. } => eprintln!("ALERT: {message}"),
        DialerEvent::Recovered { attempts } => eprintln!(
            "closed {attempts} attempt(s) left open by the previous run (never redialled under the same attempt)"
        ),
    }
}

fn print_classification(summary: &Summary) {
    let Some(m) = &summary.classify else { return };
    for (provider, l) in &m.latency {
        eprintln!(
            "classification {provider}: {} call(s), mean {} ms, max {} ms",
            l.count,
            l.mean_ms(),
            l.max_ms
        );
    }
    for (kind, n) in &m.errors {
        eprintln!("classification errors {kind}: {n}");
    }
    if m.silent_skipped > 0 {
        eprintln!(
            "classification of {} silent recording(s) made no speech-to-text request",
            m.silent_skipped
        );
    }
}

/// How long Asterisk's distress held and slowed new originates, by the signal that
/// decided (nothing when it never did).
fn print_backoff(summary: &Summary) {
    let m = &summary.backoff;
    let by_signal = |times: &std::collections::BTreeMap<_, std::time::Duration>| {
        times
            .iter()
            .map(|(signal, t)| format!("{signal} {:.1} s", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !m.held.is_empty() {
        eprintln!(
            "new originates held {:.1} s in all ({} time(s)) while Asterisk was in distress: {}",
            m.held_total().as_secs_f64(),
            m.holds,
            by_signal(&m.held)
        );
    }
    if !m.slowed.is_empty() {
        eprintln!(
            "new originates slowed {:.1} s in all: {}",
            m.slowed_total().as_secs_f64(),
            by_signal(&m.slowed)
        );
    }
    if let (Some(first), Some(ceiling)) = (m.first_strain_at, m.ceiling) {
        eprintln!(
            "Asterisk first showed strain with {first} call(s) up; calls at once are held to {ceiling}"
        );
    }
}

/// What the calls cost this machine's CPU: over the calls (from when the batch starts
/// placing them to the last end, as a client measuring itself would), and for the
/// whole process so far.
fn print_cpu(summary: &Summary) {
    let (Some(calls), Some(whole)) = (summary.calls_cpu, crate::daemon::cpu::process_cpu()) else {
        return;
    };
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let per_call = ms(calls) / summary.attempts.max(1) as f64;
    eprintln!(
        "CPU: {:.1} ms over the calls ({per_call:.3} ms a call); {:.1} ms for the whole process with its start-up",
        ms(calls),
        ms(whole)
    );
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
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

/// Each SIGHUP asks the daemon to reload its scenarios (the outcome is printed as a
/// notice).
async fn reload_on_hangup(controller: Controller) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            return;
        };
        while hangups.recv().await.is_some() {
            if controller
                .send(Control::Reload {
                    trigger: Trigger::Signal,
                    reply: None,
                })
                .is_err()
            {
                return;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = controller;
    }
}
