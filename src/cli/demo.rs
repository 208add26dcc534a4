//! `dialflow demo`: a campaign of simulated customers, run by the real runtime over real
//! HTTP and WebSocket against the built-in simulated PBX, with a results table at the end.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use super::EnvironmentArgs;
use crate::ari::translate::Deployment;
use crate::classify::Classifier;
use crate::core::call::Lead;
use crate::core::scenario::{Scenario, Verb};
use crate::runtime::batch::{self, PlannedCall};
use crate::runtime::clock::Clock;
use crate::runtime::rest::{AriClient, AriEndpoint};
use crate::runtime::{Runtime, Tally};
use crate::sim::server::{self, SimConfig};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The scenario to run.
    #[arg(long, default_value = "scenarios/salehi.yaml")]
    pub scenario: PathBuf,
    /// How many leads the demo campaign has.
    #[arg(long, default_value_t = 300)]
    pub leads: usize,
    /// Most calls at once.
    #[arg(long, default_value_t = 100)]
    pub concurrency: usize,
    /// How much faster than real time calls run (1 = real time).
    #[arg(long, default_value_t = 20.0)]
    pub speed: f64,
    /// Seed of the behaviour mix, for a different (but repeatable) campaign.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[command(flatten)]
    pub env: EnvironmentArgs,
}

/// Customer behaviours and their weights in a realistic outbound day (for flows without
/// answering-machine detection).
const MARKETING_MIX: &[(&str, u32)] = &[
    ("yes", 18),
    ("no", 20),
    ("number", 7),
    ("unknown", 8),
    ("silent", 6),
    ("hangup-early", 5),
    ("yes-hangup", 2),
    ("busy", 8),
    ("busy-tone", 1),
    ("noanswer", 6),
    ("poweroff", 6),
    ("noresponse", 3),
    ("unavailable", 3),
    ("rejected", 3),
    ("congestion", 3),
    ("congestion-tone", 1),
];

/// For flows with answering-machine detection and consent.
const REMINDER_MIX: &[(&str, u32)] = &[
    ("dtmf1", 30),
    ("dtmf2", 10),
    ("human", 15),
    ("machine", 20),
    ("busy", 8),
    ("noanswer", 7),
    ("poweroff", 5),
    ("hangup-early", 5),
];

const OPERATOR_MIX: &[(&str, u32)] = &[("op-answer", 80), ("op-busy", 10), ("op-noanswer", 10)];

/// A small, repeatable pseudo-random sequence (splitmix64): the demo needs no crypto.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, table: &'a [(&'a str, u32)]) -> &'a str {
        let total: u64 = table.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut roll = self.next() % total;
        for (name, weight) in table {
            if roll < u64::from(*weight) {
                return name;
            }
            roll -= u64::from(*weight);
        }
        table[0].0
    }
}

pub fn run(args: &DemoArgs) -> ExitCode {
    let Some(scenario) = super::compile_scenario(&args.scenario, &args.env.load_options()) else {
        return ExitCode::FAILURE;
    };
    super::block_on(async move {
        match demo(args, scenario).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn demo(args: &DemoArgs, scenario: Arc<Scenario>) -> Result<(), String> {
    let prompts: HashMap<String, u64> = scenario
        .prompts
        .iter()
        .map(|(name, ms)| (name.clone(), ms.unwrap_or(2_000)))
        .collect();
    let sim = server::spawn(SimConfig {
        app: "dialflow".into(),
        user: "dialflow".into(),
        password: "demo".into(),
        speed: args.speed,
        prompts,
        faults: Default::default(),
    })
    .await
    .map_err(|e| format!("cannot start the simulated PBX: {e}"))?;
    let endpoint = AriEndpoint {
        base_url: sim.base_url.clone(),
        user: "dialflow".into(),
        password: "demo".into(),
        app: "dialflow".into(),
    };
    let client = AriClient::new(endpoint, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let classifier = Classifier::Simulated {
        client: client.clone(),
        timeout: Duration::from_secs(5),
    };
    let clock = Clock::new(args.speed);
    let (runtime, tasks) = Runtime::start(client, clock, classifier, Duration::from_secs(5))
        .await
        .map_err(|e| e.to_string())?;

    let uses_amd = scenario
        .nodes
        .iter()
        .any(|n| matches!(n.verb, Verb::Amd { .. }));
    let mut mix = Mix(args.seed);
    let calls: Vec<PlannedCall> = (0..args.leads)
        .map(|i| {
            let behaviour = mix.pick(if uses_amd {
                REMINDER_MIX
            } else {
                MARKETING_MIX
            });
            let operator = mix.pick(OPERATOR_MIX);
            PlannedCall {
                attempt_id: format!("demo{i:05}"),
                lead: Lead {
                    name: format!("Demo lead {i}"),
                    phone: format!("+1555{i:07}"),
                    timezone: "UTC".into(),
                    custom: BTreeMap::from([("behaviour".to_string(), behaviour.to_string())]),
                },
                deployment: Deployment::new(
                    "dialflow",
                    &scenario,
                    format!("Local/{behaviour}@sim-customers"),
                )
                .with_operators_at(&scenario, &format!("Local/{operator}@sim-operators")),
            }
        })
        .collect();

    eprintln!(
        "dialflow demo: scenario `{}` ({}), {} leads, {} at a time, {}× real time, simulated PBX at {}",
        scenario.name,
        scenario.hash.short(),
        args.leads,
        args.concurrency,
        args.speed,
        sim.base_url
    );
    let behaviour_of: HashMap<String, String> = calls
        .iter()
        .map(|c| {
            (
                c.attempt_id.clone(),
                c.lead.custom.get("behaviour").cloned().unwrap_or_default(),
            )
        })
        .collect();
    let started = Instant::now();
    let total = calls.len();
    let mut done = 0usize;
    let mut tally = Tally::default();
    let outcomes = batch::run_all(
        &runtime,
        Arc::clone(&scenario),
        calls,
        args.concurrency,
        tokio::sync::watch::channel(false).1,
        |outcome| {
            done += 1;
            tally.add(outcome);
            progress(done, total, started.elapsed());
        },
    )
    .await;
    let elapsed = started.elapsed();
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!();
    }
    tasks.stop().await;
    sim.shutdown().await;

    let mut by_behaviour: BTreeMap<(String, String), usize> = BTreeMap::new();
    for o in &outcomes {
        let behaviour = behaviour_of.get(&o.attempt_id).cloned().unwrap_or_default();
        *by_behaviour
            .entry((behaviour, o.summary.result.clone()))
            .or_default() += 1;
    }
    print_table(&scenario, &tally, outcomes.len(), elapsed, args.speed);
    println!("\n{:<18} {:<26} {:>7}", "customer", "result", "calls");
    println!("{}", "-".repeat(53));
    for ((behaviour, result), count) in &by_behaviour {
        println!("{behaviour:<18} {result:<26} {count:>7}");
    }
    if outcomes.len() != total {
        return Err(format!("only {} of {total} calls finished", outcomes.len()));
    }
    Ok(())
}

fn progress(done: usize, total: usize, elapsed: Duration) {
    // A bar redrawn in place on a terminal; one line per tenth in logs and CI.
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        if done == total || (total >= 10 && done.is_multiple_of(total / 10)) {
            eprintln!("{done}/{total} calls  {:.1}s", elapsed.as_secs_f64());
        }
        return;
    }
    let width = 40;
    let filled = (done * width)
        .checked_div(total)
        .unwrap_or(width)
        .min(width);
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "\r[{}{}] {done}/{total} calls  {:.1}s",
        "#".repeat(filled),
        " ".repeat(width - filled),
        elapsed.as_secs_f64()
    );
    let _ = err.flush();
}

fn print_table(scenario: &Scenario, tally: &Tally, calls: usize, elapsed: Duration, speed: f64) {
    println!("\n{:<26} {:<16} {:>7}", "result", "panel status", "calls");
    println!("{}", "-".repeat(51));
    for (result, count) in &tally.results {
        let status = scenario.results.status_of(result).unwrap_or("FAILED");
        println!("{result:<26} {status:<16} {count:>7}");
    }
    println!("\n{:<26} {:>7}", "panel status", "calls");
    println!("{}", "-".repeat(34));
    for (status, count) in &tally.statuses {
        println!("{status:<26} {count:>7}");
    }
    let secs = elapsed.as_secs_f64().max(0.001);
    println!(
        "\n{calls} calls in {secs:.1} s: {:.1} calls/s ({:.1} calls/s of call time at {speed}× speed)",
        calls as f64 / secs,
        calls as f64 / secs / speed
    );
    println!("data: kept in memory only; the campaign store (redb) arrives with the dialer");
}
