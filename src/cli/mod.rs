//! The `dialflow` command line: argument parsing and one module per subcommand.

mod attempts;
mod campaign;
mod changes;
mod check;
mod demo;
mod demo_agents;
mod demo_panel;
mod dialplan;
mod dnc;
mod error;
mod graph;
mod leads;
mod outbox;
mod progress;
mod reload;
mod replay;
mod report;
mod run;
mod scenarios;
mod schema;
mod sim;
mod store_args;
mod test;
mod token;
mod watch;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use std::path::Path;
use std::sync::Arc;

use crate::core::scenario::Scenario;
use crate::load::{self, LoadOptions};
use crate::render;

#[derive(Debug, Parser)]
#[command(
    name = "dialflow",
    version,
    about = "Outbound-call engine for Asterisk: campaigns dialed through ARI, every answered call run through a YAML scenario"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a demo campaign against the built-in simulated PBX and print the results.
    Demo(demo::DemoArgs),
    /// Compile scenario files or folders and report every problem with its line and column.
    Check(check::CheckArgs),
    /// Print the Asterisk dialplan to install (the AMD hop) for an app name.
    Dialplan(dialplan::DialplanArgs),
    /// Draw a scenario's flow as Mermaid or Graphviz DOT.
    Graph(graph::GraphArgs),
    /// The daemon: dial the store's running campaigns against Asterisk (or `dialflow sim`), per dialflow.yaml; or call given numbers with `--scenario`.
    Run(run::RunArgs),
    /// Run the test cases written in scenario files against simulated calls.
    Test(test::TestArgs),
    /// Print the JSON Schema of scenario files, for editors (the YAML language server).
    Schema(schema::SchemaArgs),
    /// Print a new API token, for DIALFLOW_ADMIN_TOKENS, DIALFLOW_READ_TOKENS or a token file.
    Token(token::TokenArgs),
    /// Run one call against a recorded ARI trace (or a test case) and show what happened.
    Replay(replay::ReplayArgs),
    /// Run the simulated Asterisk (an ARI server with simulated customers) until Ctrl-C.
    Sim(sim::SimArgs),
    /// Create, list, show, start, pause, stop and archive campaigns.
    Campaign(campaign::CampaignArgs),
    /// Import, list, recycle and cancel a campaign's leads.
    Leads(leads::LeadsArgs),
    /// Do-not-call lists: add, import, list.
    Dnc(dnc::DncArgs),
    /// What a campaign's calls did: list, or export as CSV.
    Attempts(attempts::AttemptsArgs),
    /// Reports waiting for the panel, and the ones it refused: list, retry.
    Outbox(outbox::OutboxArgs),
    /// Ask the running daemon to reload its scenarios; prints the diagnostics if it refused.
    Reload(reload::ReloadArgs),
    /// Reports over a time range: agents' time and occupancy, a campaign's KPIs, a lead's history.
    Report(report::ReportArgs),
    /// The versions of each scenario served, and the exact text behind a hash.
    Scenarios(scenarios::ScenariosArgs),
}

/// Options shared by the commands that compile scenarios.
#[derive(Debug, Clone, Args)]
pub struct EnvironmentArgs {
    /// Root folder of the prompt sets (default: `prompts/` beside the scenarios' folder).
    #[arg(long, value_name = "DIR")]
    pub prompts: Option<PathBuf>,
    /// Skip the checks that read other files (prompt audio, hook scripts).
    #[arg(long)]
    pub no_environment: bool,
}

impl EnvironmentArgs {
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            prompts_dir: self.prompts.clone(),
            no_environment: self.no_environment,
            queues: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

/// Runs the command line and returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(
        cli.command,
        Command::Run(_) | Command::Sim(_) | Command::Demo(_)
    ) {
        quit_quietly_on_a_closed_pipe();
    }
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Dialplan(args) => dialplan::run(&args),
        Command::Graph(args) => graph::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Token(args) => token::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Campaign(args) => campaign::run(&args),
        Command::Leads(args) => leads::run(&args),
        Command::Dnc(args) => dnc::run(&args),
        Command::Attempts(args) => attempts::run(&args),
        Command::Outbox(args) => outbox::run(&args),
        Command::Reload(args) => reload::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Scenarios(args) => scenarios::run(&args),
    }
}

/// A command whose output is piped into `head` stops when the reader goes, as the
/// classic tools do, instead of panicking on the failed write (Rust ignores SIGPIPE).
/// Not for the daemon, the simulator or the demo: a closed terminal must not kill them
/// mid-campaign.
fn quit_quietly_on_a_closed_pipe() {
    // SAFETY: called at start-up, before any thread exists, to restore the default
    // disposition of one signal; no Rust state depends on it.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Paths as one line, for messages.
fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn stdout_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Compiles a scenario for a command: diagnostics to stderr, `None` (reported) when it
/// does not compile.
fn compile_scenario(path: &Path, options: &LoadOptions) -> Option<Arc<Scenario>> {
    let compiled = load::compile_file(path, options);
    show_diagnostics(path, &compiled);
    compiled.scenario
}

/// A compiled file's diagnostics on stderr, and a line when it does not compile.
fn show_diagnostics(path: &Path, compiled: &crate::core::compile::Compiled) {
    if !compiled.diagnostics.is_empty() {
        eprint!(
            "{}",
            render::human(&compiled.diagnostics, &compiled.sources, stderr_color())
        );
    }
    if compiled.scenario.is_none() {
        eprintln!(
            "error: {} does not compile ({})",
            path.display(),
            render::summary(&compiled.diagnostics)
        );
    }
}

/// Runs an async command on a fresh single-threaded tokio runtime. dialflow's work is
/// I/O: events in, small requests out, per call a few microseconds of logic. On one
/// thread an event's wake-up, its call's step and the request it sends happen without
/// handing work between threads (issue 12 measured futex wake-ups and context switches
/// costing more than the call logic); blocking work (the store, compiling) goes to
/// `spawn_blocking`'s own threads as before.
fn block_on(command: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match rt {
        Ok(rt) => rt.block_on(command),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
