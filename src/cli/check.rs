//! `dialflow check`: compile scenarios and print every diagnostic.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::changes::{Entry, Snapshot};
use super::{EnvironmentArgs, OutputFormat};
use crate::load::{self, LoadOptions};
use crate::render;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario files or folders of them.
    #[arg(default_value = "scenarios")]
    pub paths: Vec<PathBuf>,
    /// `human` shows source snippets; `json` is for editors and CI.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
    /// Fail on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Check again on every save, printing only new and fixed diagnostics.
    #[arg(long)]
    pub watch: bool,
    /// dialflow's configuration, to check `connect_agent` queues against its
    /// `queues:` (without it, queue names are not checked; the daemon checks them
    /// when it loads the scenarios).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub env: EnvironmentArgs,
}

pub fn run(args: &CheckArgs) -> ExitCode {
    let options = match load_options(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let code = check_once(args, &options);
    if !args.watch {
        return code;
    }
    super::watch::watch(&args.paths, |file, snap| snapshot(file, &options, snap))
}

/// What the scenarios are compiled against: the environment's folders, and the
/// configuration's queues when `--config` names one.
fn load_options(args: &CheckArgs) -> Result<LoadOptions, crate::config::ConfigError> {
    let mut options = args.env.load_options();
    if let Some(path) = &args.config {
        let config = crate::config::Config::load(path, |k| std::env::var(k).ok())?;
        options.queues = Some(config.queues.keys().cloned().collect());
    }
    Ok(options)
}

/// Every diagnostic of one file, for `--watch` to compare.
fn snapshot(file: &Path, options: &LoadOptions, snap: &mut Snapshot) {
    let compiled = load::compile_file(file, options);
    for d in &compiled.diagnostics {
        // The place is left out of the key: a diagnostic that moved is not news.
        let key = format!("{}|{}|{}", d.file, d.code, d.message);
        let n = (0..).find(|n| !snap.0.contains_key(&format!("{key}|{n}")));
        let key = format!("{key}|{}", n.unwrap_or_default());
        snap.insert(
            key,
            Entry::problem(file.display().to_string(), d.to_string()),
        );
    }
}

fn check_once(args: &CheckArgs, options: &LoadOptions) -> ExitCode {
    let files = match load::scenario_files(&args.paths) {
        Ok(files) => files,
        Err(msg) => {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    if files.is_empty() {
        eprintln!(
            "error: no scenario files (*.yaml) under {}",
            super::display_paths(&args.paths)
        );
        return ExitCode::from(2);
    }
    let mut failed = false;
    let mut all = Vec::new();
    let mut reports = Vec::new();
    for file in &files {
        let compiled = load::compile_file(file, options);
        let errors = compiled.has_errors();
        let warnings = compiled.diagnostics.iter().any(|d| !d.is_error());
        failed |= errors || (args.deny_warnings && warnings);
        all.extend(compiled.diagnostics.iter().cloned());
        reports.push((file.display().to_string(), compiled));
    }
    match args.format {
        OutputFormat::Json => {
            let json: Vec<render::FileReport> = reports
                .iter()
                .map(|(file, c)| render::FileReport {
                    file,
                    ok: !c.has_errors(),
                    scenario: c.scenario.as_ref().map(|s| s.name.as_str()),
                    hash: c.scenario.as_ref().map(|s| s.hash.0.as_str()),
                    diagnostics: &c.diagnostics,
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json)
                    .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
            );
        }
        OutputFormat::Human => {
            let color = super::stderr_color();
            for (file, c) in &reports {
                if !c.diagnostics.is_empty() {
                    eprint!("{}", render::human(&c.diagnostics, &c.sources, color));
                }
                match &c.scenario {
                    Some(s) => println!(
                        "ok    {file}  ({} nodes, scenario `{}`, hash {})",
                        s.nodes.len(),
                        s.name,
                        s.hash.short()
                    ),
                    None => println!("FAIL  {file}  ({})", render::summary(&c.diagnostics)),
                }
            }
            println!(
                "checked {} scenario file(s): {}",
                files.len(),
                render::summary(&all)
            );
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
