//! Benchmark: dialflow's CPU per call against a plain Python asyncio ARI client
//! (`../shared/peers/python-ari/salehi_peer.py`, what a user would write instead), one
//! after the other against the same `dialflow sim` process in real time, on the same
//! workload (every customer says yes, the Salehi flow, `formats=ulaw`). Prints both
//! figures per call and their ratio; issue 12's target is a ratio of at most 0.1.
//! dialflow runs twice on each load: with its REST requests over HTTP (the default),
//! then over the events WebSocket (`ari.rest_over_websocket`, Asterisk 20.14, 21.9,
//! 22.4 and later; the simulator serves it too). dialflow asks for only the event
//! types it uses (`ari.event_filter`, on by default); the filter is cleared before each
//! run of the peer, which gets every type as a plain client does.
//!
//! Each side measures itself the same way: its process's CPU from its first originate
//! to its last call's end (the peer with getrusage, dialflow with the process CPU
//! clock, printed by `dialflow run` as `CPU: … over the calls`), so start-up is left
//! out of both; the ratio is of those. The whole process's CPU, start-up included, is
//! printed beside it for each (what the kernel accounts to the waited-for child,
//! `cutime + cstime` of `/proc/self/stat`, in clock ticks). dialflow runs
//! `dialflow run --scenario` (the same runtime the campaign dialer uses) with
//! `scenarios/salehi.yaml`, the peer's flow: hello, record, `alo` while the recording is
//! fetched and classified, yes, hang up.
//!
//! Run with `cargo bench --bench peer_cpu` (`-- CALLS CONCURRENCY RATE` for one load of
//! your own; the default runs 200 calls 50 at once at 20/s, then 600 calls 300 at once
//! at 30/s). Needs `python3` with `venv`; aiohttp is installed into a virtual
//! environment under the target folder on the first run (from PyPI).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/common/mod.rs"]
mod common;
use common::dirs::TempDir;
use common::process::{BIN, Lines, Proc, url_address};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const CREDENTIAL: &str = "dialer";

/// One workload: calls in all, kept in flight at most, started a second at most.
#[derive(Clone, Copy)]
struct Load {
    calls: usize,
    concurrency: usize,
    rate: f64,
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let loads = match args[..] {
        [calls, concurrency, rate, ..] => vec![Load {
            calls,
            concurrency,
            rate: rate as f64,
        }],
        _ => vec![
            Load {
                calls: 200,
                concurrency: 50,
                rate: 20.0,
            },
            Load {
                calls: 600,
                concurrency: 300,
                rate: 30.0,
            },
        ],
    };
    let peer = Path::new(REPO).join("../shared/peers/python-ari/salehi_peer.py");
    assert!(
        peer.is_file(),
        "the Python peer is not at {}",
        peer.display()
    );
    let python = python_with_aiohttp();
    let work = TempDir::new("peer-cpu");
    let (sim, url) = start_sim(&work);
    let sim_pid = sim.0.id();
    let ticks = clock_ticks_per_second();
    println!("dialflow against the Python ARI client, on one `dialflow sim` at {url} (real time)");
    for load in loads {
        // dialflow sets the application's event filter; the peer, as a plain client
        // would, gets every event type (the simulator keeps the filter after dialflow).
        clear_event_filter(&url);
        let (python_ms, python_right) =
            run_python(&python, &peer, (&url, sim_pid), load, &work, ticks);
        for (carrier, over_socket) in [("HTTP", false), ("the event WebSocket", true)] {
            let (dialflow_ms, dialflow_right) = run_dialflow(&url, load, over_socket, &work, ticks);
            let dialflow_ms = dialflow_ms.unwrap_or_else(|| panic!("dialflow printed no CPU"));
            println!(
                "  {} calls, {} at once, {}/s: Python {python_ms:.2} ms CPU/call ({python_right} right), \
                 dialflow with REST over {carrier} {dialflow_ms:.2} ms CPU/call ({dialflow_right} right), ratio {:.3}",
                load.calls,
                load.concurrency,
                load.rate,
                dialflow_ms / python_ms
            );
        }
    }
}

/// Clears the `dialer` application's event filter (an empty body), as before any
/// client set one.
fn clear_event_filter(url: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let status = runtime.block_on(async {
        dialflow::tls::system_http_client()
            .put(format!(
                "{url}{}",
                dialflow::ari::paths::application_event_filter(CREDENTIAL)
            ))
            .basic_auth(CREDENTIAL, Some(CREDENTIAL))
            .json(&serde_json::json!({}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    assert_eq!(status.ok(), Some(200), "the simulator clears the filter");
}

/// A virtual environment with aiohttp, made once under the target folder.
fn python_with_aiohttp() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-ari-venv");
    let python = venv.join("bin/python");
    let ready = |python: &Path| {
        Command::new(python)
            .args(["-c", "import aiohttp"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ready(&python) {
        run_ok(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run_ok(Command::new(venv.join("bin/pip")).args(["install", "-q", "aiohttp"]));
    }
    assert!(
        ready(&python),
        "aiohttp is not importable in {}",
        venv.display()
    );
    python
}

fn run_ok(command: &mut Command) {
    let status = command.status().expect("the command runs");
    assert!(status.success(), "{command:?}: {status}");
}

/// `dialflow sim` serving the peer's prompt set (`dialer`) and dialflow's (`salehi`).
fn start_sim(work: &TempDir) -> (Proc, String) {
    let prompts = work.join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    let shared = Path::new(REPO).join("../shared/audio/prompts");
    std::os::unix::fs::symlink(shared, prompts.join("dialer")).unwrap();
    std::os::unix::fs::symlink(
        Path::new(REPO).join("prompts/salehi"),
        prompts.join("salehi"),
    )
    .unwrap();
    let mut sim = Proc::spawn(
        Command::new(BIN)
            .args(["sim", "--listen", "127.0.0.1:0", "--app", CREDENTIAL])
            .args(["--user", CREDENTIAL, "--password", CREDENTIAL, "--prompts"])
            .arg(&prompts)
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let stdout = Lines::of(sim.0.stdout.take().unwrap());
    let banner = stdout.until("http://", Duration::from_secs(30));
    stdout.drain();
    (sim, format!("http://{}", url_address(&banner)))
}

/// `_SC_CLK_TCK`, from `getconf` (std has no sysconf).
fn clock_ticks_per_second() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    out.ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU of this process's waited-for children, in seconds.
fn children_cpu_s(ticks: f64) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the `(comm)`, which may hold spaces: cutime and cstime are 16 and 17.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<f64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    (fields[13] + fields[14]) / ticks
}

/// The Python peer's CPU per call over its calls (its own getrusage figure) and
/// how many calls ended as their customer says; the simulator's pid stands for
/// Asterisk's, whose CPU the peer also reports.
fn run_python(
    python: &Path,
    peer: &Path,
    (url, sim_pid): (&str, u32),
    load: Load,
    work: &TempDir,
    ticks: f64,
) -> (f64, usize) {
    let out = work.join("python.json");
    let before = children_cpu_s(ticks);
    let started = Instant::now();
    run_ok(
        Command::new(python)
            .arg(peer)
            .args(["--url", url, "--app", CREDENTIAL, "--user", CREDENTIAL])
            .args([
                "--password",
                CREDENTIAL,
                "--behaviours",
                "yes",
                "--formats",
                "ulaw",
            ])
            .args(["--asterisk-pid", &sim_pid.to_string()])
            .args(["--calls", &load.calls.to_string()])
            .args(["--concurrency", &load.concurrency.to_string()])
            .args(["--ramp", &load.rate.to_string()])
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::null()),
    );
    let cpu = children_cpu_s(ticks) - before;
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    // The peer counts a `yes` customer's call right as `connected_to_operator`.
    let right = summary["ok"].as_u64().unwrap_or(0) as usize;
    eprintln!(
        "  python: {:.1} s, {cpu:.2} s CPU (its own count over the calls: {} ms/call), results {}",
        started.elapsed().as_secs_f64(),
        summary["python_cpu_ms_per_call"],
        summary["results"]
    );
    // The peer's own figure leaves out its start-up (the interpreter, aiohttp's import),
    // which dialflow's includes: the ratio is taken against it, the stricter choice.
    let own = summary["python_cpu_ms_per_call"].as_f64();
    (own.unwrap_or(cpu * 1000.0 / load.calls as f64), right)
}

/// dialflow's CPU per call over its calls (its own figure; `None` if it printed none)
/// and how many calls ended as their customer says.
fn run_dialflow(
    url: &str,
    load: Load,
    over_socket: bool,
    work: &TempDir,
    ticks: f64,
) -> (Option<f64>, usize) {
    let config = work.write(
        "dialflow.yaml",
        &format!(
            "ari: {{url: \"{url}\", user: {CREDENTIAL}, app: {CREDENTIAL}, rest_over_websocket: {over_socket}}}\n\
             dial: {{template: \"Local/{{number}}@sim-customers\", formats: ulaw}}\n\
             operators: {{sales: \"Local/op-answer@sim-operators\"}}\n\
             max_concurrent: {}\nshutdown_grace: 5s\n\
             prompts: {REPO}/prompts\nscenarios: {REPO}/scenarios\n",
            load.concurrency
        ),
    );
    let before = children_cpu_s(ticks);
    let started = Instant::now();
    let out = Command::new(BIN)
        .arg("run")
        .arg("--config")
        .arg(&config)
        .args(["--scenario", &format!("{REPO}/scenarios/salehi.yaml")])
        .args(["--per-second", &load.rate.to_string()])
        .args(std::iter::repeat_n("yes", load.calls))
        .env("DIALFLOW_ARI_PASSWORD", CREDENTIAL)
        .output()
        .expect("dialflow runs");
    let cpu = children_cpu_s(ticks) - before;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let right = stdout
        .lines()
        .filter(|l| l.contains("\tconnected_to_operator\t"))
        .count();
    // `CPU: 268.1 ms over the calls (1.341 ms a call); …`
    let stderr = String::from_utf8_lossy(&out.stderr);
    let over_calls = stderr
        .lines()
        .find_map(|l| l.strip_prefix("CPU: ")?.split(" ms over the calls").next())
        .and_then(|ms| ms.parse::<f64>().ok());
    eprintln!(
        "  dialflow: {:.1} s, {cpu:.2} s CPU in all ({:.2} ms/call with its start-up; its own count over the calls: {:.2} ms/call), {} calls ended ({})",
        started.elapsed().as_secs_f64(),
        cpu * 1000.0 / load.calls as f64,
        over_calls.unwrap_or(f64::NAN) / load.calls as f64,
        stdout.lines().count(),
        out.status
    );
    (over_calls.map(|ms| ms / load.calls as f64), right)
}
