//! Benchmark: the whole runtime against the simulated PBX over loopback HTTP and
//! WebSocket, both in this process. Calls start evenly spread at a rate, as a dialer
//! paces them, up to a cap on calls in flight. Reports the sustained start rate (while
//! the calls in flight stay near their peak), the most calls live at once, the latency
//! from an event's arrival to the request it causes (p50, p99), and memory per live
//! call (resident memory growth at the peak / live calls; the simulator's own state is
//! included, so this overstates dialflow's share).
//!
//! Run with `cargo bench --bench runtime` (`-- CALLS CONCURRENCY SPEED RATE` to change
//! the load; add `--external` to run the simulator as a separate `dialflow sim`
//! process, so it does not share the runtime's threads; add `--delivery` to run report
//! delivery beside the calls: each call's end writes a report to a store's outbox, as
//! the dialer does, and the delivery worker sends them to a panel on loopback; the run
//! then also says how many reports the panel took, and the outbox left).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dialflow::ari::translate::Deployment;
use dialflow::core::call::Lead;
use dialflow::load::{self, LoadOptions};
use dialflow::runtime::Tally;
use dialflow::runtime::batch::{self, PlannedCall};
use dialflow::sim::server::{self};

#[path = "../tests/common/mod.rs"]
mod common;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_string)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// (steal, total) CPU ticks of the whole machine: how much time the host took away from
/// this virtual machine, which shows up as latency no code here can help.
fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal guest guest_nice; guests are
    // already counted in user and nice.
    let total = fields.iter().take(8).sum();
    (fields.get(7).copied().unwrap_or(0), total)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// New calls a second while the calls in flight stay at 95 % of their peak or more (the
/// steady state, ramp and drain left out), and for how many seconds that lasted.
fn sustained_rate(samples: &[(f64, usize, usize)]) -> Option<(f64, f64)> {
    let peak = samples.iter().map(|s| s.1).max()?;
    let floor = peak * 95 / 100;
    let first = samples.iter().find(|s| s.1 >= floor)?;
    let last = samples.iter().rev().find(|s| s.1 >= floor)?;
    let seconds = last.0 - first.0;
    (seconds >= 1.0).then(|| ((last.2 - first.2) as f64 / seconds, seconds))
}

fn main() {
    let external = std::env::args().any(|a| a == "--external");
    let with_delivery = std::env::args().any(|a| a == "--delivery");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let calls: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(6_000);
    let concurrency: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    // 5× real time makes 1,000 live Salehi calls start about 300 new calls a second:
    // the load the targets name. 10× shows the saturated machine.
    let speed: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5.0);
    // Starts a second offered: above what 1,000 slots sustain at 5×, so the cap on calls
    // in flight is what binds once the ramp is over.
    let rate: f64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(400.0);
    let scenario = load::compile_file(Path::new("scenarios/salehi.yaml"), &LoadOptions::default())
        .scenario
        .expect("salehi compiles");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async move {
        // Either in this process, or a `dialflow sim` child with its own threads.
        let mut child = None;
        let (base_url, sim) = if external {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let config = common::sim_config(&scenario, speed);
            let c = std::process::Command::new(env!("CARGO_BIN_EXE_dialflow"))
                .args(["sim", "--listen", &format!("127.0.0.1:{port}"), "--app", &config.app])
                .args(["--user", &config.user, "--password", &config.password])
                .args(["--speed", &speed.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("dialflow sim");
            child = Some(c);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (format!("http://127.0.0.1:{port}"), None)
        } else {
            let sim = server::spawn(common::sim_config(&scenario, speed)).await.expect("simulator");
            (sim.base_url.clone(), Some(sim))
        };
        let (runtime, tasks) = common::connect(&base_url, speed, common::Classify::Simulated, Duration::from_secs(10)).await;
        let mix = ["yes", "no", "unknown", "number", "busy", "silent"];
        let planned: Vec<PlannedCall> = (0..calls)
            .map(|i| PlannedCall {
                attempt_id: format!("b{i:06}"),
                lead: Lead::default(),
                deployment: Deployment::new(common::APP, &scenario, format!("Local/{}@sim-customers", mix[i % mix.len()])),
            })
            .collect();
        let rss_before = rss_kib();
        let ticks_before = cpu_ticks();
        let peak_live = Arc::new(AtomicUsize::new(0));
        let peak_rss = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        // (seconds since the start, calls live, calls started so far), every 20 ms.
        let samples = Arc::new(std::sync::Mutex::new(Vec::<(f64, usize, usize)>::new()));
        let started = Instant::now();
        let sampler = {
            let (runtime, peak_live, peak_rss, finished, samples) =
                (runtime.clone(), Arc::clone(&peak_live), Arc::clone(&peak_rss), Arc::clone(&finished), Arc::clone(&samples));
            tokio::spawn(async move {
                loop {
                    let live = runtime.live_calls();
                    let begun = live + finished.load(Ordering::Relaxed);
                    samples.lock().unwrap().push((started.elapsed().as_secs_f64(), live, begun));
                    if live > peak_live.load(Ordering::Relaxed) {
                        peak_live.store(live, Ordering::Relaxed);
                        peak_rss.store(rss_kib() as usize, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let delivery = if with_delivery { Some(DeliveryOn::start(calls).await) } else { None };
        let mut tally = Tally::default();
        let pace = batch::Pace { max_concurrent: concurrency, per_second: rate };
        let outcomes = batch::run_all(&runtime, Arc::clone(&scenario), planned, pace, tokio::sync::watch::channel(false).1, |o| {
            tally.add(o);
            finished.fetch_add(1, Ordering::Relaxed);
            if let Some(d) = &delivery {
                let _ = d.ended.send(());
            }
        })
        .await;
        let elapsed = started.elapsed().as_secs_f64();
        let ticks_after = cpu_ticks();
        sampler.abort();
        let samples = samples.lock().unwrap().clone();
        let sustained = sustained_rate(&samples);
        let mut latencies = runtime.take_latencies();
        latencies.sort_unstable();
        let live = peak_live.load(Ordering::Relaxed).max(1);
        let grown = (peak_rss.load(Ordering::Relaxed) as u64).saturating_sub(rss_before);
        let place = if external { "a separate process" } else { "this process" };
        println!("dialflow runtime benchmark: {calls} calls, at most {concurrency} at once, starts offered at {rate}/s, {speed}× real time, simulator in {place}");
        println!("  finished          {} calls in {elapsed:.1} s (ramp and drain included)", outcomes.len());
        match sustained {
            Some((rate, seconds)) => println!("  sustained         {rate:.0} new calls/s over {seconds:.1} s at ≥ 95 % of the peak in flight"),
            None => println!("  sustained         too short a run to tell"),
        }
        println!("  live at once      {live} (peak)");
        println!(
            "  event → request   p50 {} µs, p99 {} µs, max {} µs ({} samples)",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies.last().copied().unwrap_or(0),
            latencies.len()
        );
        println!("  memory            {} KiB more resident at the peak: {:.1} KiB per live call", grown, grown as f64 / live as f64);
        let total = ticks_after.1.saturating_sub(ticks_before.1).max(1);
        let stolen = ticks_after.0.saturating_sub(ticks_before.0);
        println!("  host steal        {:.1} % of the CPU time (a noisy host shows here, not in the code)", 100.0 * stolen as f64 / total as f64);
        println!("  results           {:?}", tally.results);
        if let Some(d) = delivery {
            let (taken, left) = d.finish().await;
            println!("  delivery          {taken} reports taken by the panel, {left} left in the outbox");
        }
        tasks.stop().await;
        if let Some(sim) = sim {
            sim.shutdown().await;
        }
        if let Some(mut c) = child {
            let _ = c.kill();
            let _ = c.wait();
        }
    });
}

/// Report delivery beside the calls: a store whose outbox gets one report per ended
/// call (written on the blocking pool, batched as calls end together), the delivery
/// worker, and a panel on loopback answering 200.
struct DeliveryOn {
    ended: tokio::sync::mpsc::UnboundedSender<()>,
    writer: tokio::task::JoinHandle<()>,
    delivery: dialflow::delivery::Delivery,
    panel: common::panel::Panel,
    store: Arc<dialflow::store::Store>,
    _dir: common::dirs::TempDir,
}

impl DeliveryOn {
    async fn start(calls: usize) -> DeliveryOn {
        let dir = common::dirs::TempDir::new("bench-runtime-delivery");
        let store = Arc::new(common::reports::store_with_leads(
            &dir.join("s.redb"),
            calls,
        ));
        let panel = common::panel::Panel::start(Box::new(|_, _| None)).await;
        let mut config = dialflow::config::PanelConfig::new(panel.url());
        config.secret = Some("bench".into());
        let delivery =
            dialflow::delivery::Delivery::start(Arc::clone(&store), config, None).unwrap();
        let (ended, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let writing = Arc::clone(&store);
        let writer = tokio::spawn(async move {
            while rx.recv().await.is_some() {
                let mut n = 1;
                while rx.try_recv().is_ok() {
                    n += 1;
                }
                let store = Arc::clone(&writing);
                let _ = tokio::task::spawn_blocking(move || {
                    common::reports::write_reports(&store, n, n)
                })
                .await;
            }
        });
        DeliveryOn {
            ended,
            writer,
            delivery,
            panel,
            store,
            _dir: dir,
        }
    }

    /// Waits for the last reports to be written and delivered (30 s at most); how many
    /// the panel took, and how many were left in the outbox.
    async fn finish(self) -> (usize, u64) {
        drop(self.ended);
        let _ = self.writer.await;
        self.delivery.stop(Duration::from_secs(30)).await;
        let left = self.store.outbox_counts().map(|c| c.pending).unwrap_or(0);
        (self.panel.taken().len(), left)
    }
}
