//! A call centre on the simulator: agents' occupancy and the drop rate of progressive
//! and predictive dialing, and ASA (customer answer to agent bridged) for rung and
//! nailed agents.
//!
//! **Occupancy and drops.** 50 simulated agents, customers of the simulator's crowd
//! who answer 30 % of the time after ringing 3–12 s and talk 30–90 s (60 s on
//! average), a 10 s wrap-up, in compressed time (20×), through the real daemon,
//! dialer, desk and runtime. The figures cover minutes 5 to 25 of the campaign (the
//! first five measure the answer rate). Occupancy is (talk + wrap-up) ÷ logged-in time
//! over every agent (`core::agent_time`); the drop rate is dropped ÷ answered calls.
//! Target for predictive: ≥ 85 % occupancy at ≤ 3 % drops.
//!
//! **ASA.** 20 agents, customers who all answer and talk 2.5–7.5 s, progressive, in
//! real time (a compressed clock would multiply the runtime's own latency): p50 and
//! p95 of ASA with agents rung for each call and with nailed agents. Target for
//! nailed: p95 under 300 ms.
//!
//! `cargo bench --bench agents -- [MINUTES] [predictive|progressive]` (default 25
//! minutes, both modes and ASA); `RUST_LOG=dialflow::dialer=debug` logs each
//! predictive level with what it was measured from.

use std::time::Duration;

use dialflow::config::AgentReachMode;
use dialflow::core::agent_time::{Change, agent_times};
use dialflow::core::campaign::settings::DialMode;

#[path = "../tests/common/mod.rs"]
mod common;
use common::call_centre::{CallCentre, Plan, call_centre};

const AGENTS: usize = 50;
const SPEED: f64 = 20.0;
/// The first minutes measure the answer rate and fill the floor: not counted.
const WARM_UP_MIN: u64 = 5;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let minutes: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(25);
    // `predictive` or `progressive` runs that mode's campaign alone, and no ASA.
    let only = args.iter().find_map(|a| match a.as_str() {
        "predictive" => Some(DialMode::Predictive),
        "progressive" => Some(DialMode::Progressive),
        _ => None,
    });
    // RUST_LOG=dialflow::dialer=debug shows each predictive level and what it saw.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        println!("{AGENTS} agents, 30 % answer, AHT 60 s, wrap-up 10 s, minutes {WARM_UP_MIN}-{minutes} at {SPEED}x:");
        let modes = only.map_or(vec![DialMode::Progressive, DialMode::Predictive], |m| vec![m]);
        for mode in modes {
            let (occupancy, drops, answered) = floor(mode, minutes).await;
            println!(
                "  {mode:?}: occupancy {:.1} %, drop rate {:.2} % ({answered} answered)",
                occupancy * 100.0,
                drops * 100.0
            );
        }
        if only.is_some() {
            return;
        }
        println!("ASA, 20 agents, real time:");
        for reach in [AgentReachMode::Ring, AgentReachMode::Nailed] {
            let (p50, p95, n) = asa(reach).await;
            println!("  {reach:?}: p50 {p50} ms, p95 {p95} ms ({n} calls)");
        }
    });
}

/// One campaign of `mode` for `minutes` of campaign time: occupancy, drop rate and
/// answered calls after the warm-up.
async fn floor(mode: DialMode, minutes: u64) -> (f64, f64, u64) {
    let plan = Plan {
        dial_template: Some("Local/{number}@sim-crowd/30/60".into()),
        speed: SPEED,
        wrap_up: Duration::from_secs(10),
        ..Plan::new("bench-agents", AGENTS)
    };
    let centre = call_centre(plan).await;
    let numbers = (0..(minutes as usize * AGENTS * 4))
        .map(|i| format!("+98912{i:07}"))
        .collect();
    centre.campaign("floor", mode, 1.0, numbers);
    let start = centre.clock.wall_ms();
    centre.start("floor").await;
    let real = Duration::from_secs(minutes * 60).div_f64(SPEED);
    tokio::time::sleep(real).await;
    let from = start + WARM_UP_MIN * 60_000;
    let to = centre.clock.wall_ms();
    let figures = measure(&centre, from, to);
    let attempts = centre.attempts("floor").len();
    let summary = centre.daemon.stop().await;
    let backoff = &summary.backoff;
    println!(
        "    ({attempts} calls placed; originates slowed {:?}, held {:?} by the PBX's distress)",
        backoff.slowed_total(),
        backoff.held_total()
    );
    figures
}

fn measure(centre: &CallCentre, from: u64, to: u64) -> (f64, f64, u64) {
    let (mut busy, mut logged) = (0u64, 0u64);
    for agent in centre.desk.agents() {
        let log = centre
            .store
            .agent_log(&agent.agent.id, 0, usize::MAX)
            .unwrap();
        let changes = log.iter().map(|e| Change {
            at_ms: e.at_ms,
            from: &e.from,
            to: &e.to,
        });
        let times = agent_times(changes, from, to);
        busy += times.talk_ms + times.wrap_up_ms;
        logged += times.login_ms;
    }
    let (mut answered, mut dropped) = (0u64, 0u64);
    for a in centre.attempts("floor") {
        let Some(end) = a.end else { continue };
        match end.answered_ms {
            Some(at) if (from..to).contains(&at) => {
                answered += 1;
                dropped += u64::from(end.dropped);
            }
            _ => {}
        }
    }
    let share = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    (share(busy, logged), share(dropped, answered), answered)
}

/// ASA percentiles (ms) for agents reached as `reach`.
async fn asa(reach: AgentReachMode) -> (u64, u64, usize) {
    let plan = Plan {
        reach,
        dial_template: Some("Local/{number}@sim-crowd/100/5".into()),
        speed: 1.0,
        wrap_up: Duration::from_millis(500),
        ..Plan::new("bench-asa", 20)
    };
    let centre = call_centre(plan).await;
    if reach == AgentReachMode::Nailed {
        centre.legs_up(20).await;
    }
    let numbers = (0..60).map(|i| format!("+98912{i:07}")).collect();
    centre.campaign("asa", DialMode::Progressive, 1.0, numbers);
    centre.start("asa").await;
    centre.ended("asa", 60).await;
    let mut asa: Vec<u64> = centre
        .attempts("asa")
        .into_iter()
        .filter_map(|a| {
            let end = a.end?;
            Some(end.agent_bridged_ms? - end.answered_ms?)
        })
        .collect();
    centre.daemon.stop().await;
    asa.sort_unstable();
    let at = |q: f64| asa[((asa.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95), asa.len())
}
