//! `dialflow sim`: run the simulated Asterisk standalone, so dialflow (or curl) can be
//! pointed at an ARI server without a real PBX.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::load;
use crate::sim::behaviours;
use crate::sim::server::{self, Faults, SimConfig};

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8088", value_name = "ADDR")]
    pub listen: String,
    /// The Stasis application the events WebSocket serves.
    #[arg(long, default_value = "dialflow")]
    pub app: String,
    #[arg(long, default_value = "dialflow")]
    pub user: String,
    #[arg(long, default_value = "dialflow")]
    pub password: String,
    /// Simulated milliseconds per real millisecond (50: calls run 50 times faster).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Root folder of the prompt sets (`<dir>/<set>/<prompt>.wav`), for playback lengths.
    #[arg(long, default_value = "prompts", value_name = "DIR")]
    pub prompts: PathBuf,
    /// Most TCP connections open at once, REST and WebSocket alike, as `sessionlimit` in
    /// Asterisk's http.conf: one more is closed at once, unanswered, with a warning.
    #[arg(long, default_value_t = server::DEFAULT_SESSION_LIMIT, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub session_limit: usize,
    /// Channels up past which the PBX degrades as an overloaded Asterisk does: REST
    /// answers and events come late, prompts play longer, recordings lose audio, in
    /// proportion to the overload (README, "A saturated PBX"). Without it, never.
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub capacity: Option<usize>,
}

pub fn run(args: &SimArgs) -> ExitCode {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        eprintln!("error: --speed must be a positive number");
        return ExitCode::FAILURE;
    }
    // The server reports slow sockets and (with RUST_LOG=debug) every request by tracing.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let prompts = load_prompts(&args.prompts);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let listener = match tokio::net::TcpListener::bind(&args.listen).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        };
        let addr = listener
            .local_addr()
            .map_or_else(|_| args.listen.clone(), |a| a.to_string());
        print_banner(args, &addr, prompts.len());
        let config = SimConfig {
            app: args.app.clone(),
            user: args.user.clone(),
            password: args.password.clone(),
            speed: args.speed,
            prompts,
            faults: Faults::default(),
            session_limit: args.session_limit,
            capacity: args.capacity,
        };
        let shutdown = async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                // Without a Ctrl-C handler it could never be stopped cleanly: stop now.
                eprintln!("error: cannot listen for Ctrl-C: {e}");
            }
        };
        match server::serve(listener, config, shutdown).await {
            Ok(()) => {
                println!("simulator stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: the simulator failed: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Every prompt of every set, keyed by file stem (the Pbx knows media by name only).
fn load_prompts(root: &Path) -> HashMap<String, u64> {
    let mut prompts = HashMap::new();
    let Ok(entries) = fs::read_dir(root) else {
        eprintln!(
            "warning: no prompt folder at {}: every playback will fail at once",
            root.display()
        );
        return prompts;
    };
    let mut sets: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    // Sorted, so which set wins a name shared by two sets does not depend on the disk.
    sets.sort();
    for set in sets {
        for (name, length) in load::read_prompt_set(&set).files {
            match length {
                Ok(ms) => {
                    prompts.entry(name).or_insert(ms);
                }
                Err(why) => eprintln!(
                    "warning: {}/{name}.wav is skipped (playing it fails): {why}",
                    set.display()
                ),
            }
        }
    }
    prompts
}

fn print_banner(args: &SimArgs, addr: &str, prompts: usize) {
    println!(
        "dialflow sim: a simulated Asterisk ARI at http://{addr} (speed {}x)",
        args.speed
    );
    println!("  application: {}", args.app);
    println!("  HTTP session limit: {} connections", args.session_limit);
    match args.capacity {
        Some(n) => println!("  capacity: {n} channels up, past which it degrades"),
        None => println!("  capacity: unlimited (never saturates)"),
    }
    println!("  user: {}   password: {}", args.user, args.password);
    println!(
        "  events: ws://{addr}{}?app={}&api_key={}:{}",
        crate::ari::paths::EVENTS,
        args.app,
        args.user,
        args.password
    );
    println!(
        "  prompts: {prompts} from {} (by file name)",
        args.prompts.display()
    );
    println!(
        "  customers, dialed as Local/<name>@sim-customers: {}",
        behaviours::CUSTOMERS.join(", ")
    );
    println!(
        "  operators, dialed as Local/<name>@sim-operators: {}",
        behaviours::OPERATORS.join(", ")
    );
    println!(
        "  simulator controls: GET /sim/state, GET|POST /sim/faults, GET /sim/recordings/<name>/transcript"
    );
    println!("Press Ctrl-C to stop.");
}
