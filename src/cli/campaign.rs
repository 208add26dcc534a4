//! `dialflow campaign create|list|show|start|pause|stop|archive`: campaigns in the store.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::store_args::{Access, Api, StoreArgs, now_ms, scenario_file, show_ms};
use crate::control::StaleWhy;
use crate::core::campaign::settings::CampaignSettings;
use crate::dialer::policy::CampaignPolicy;
use crate::http::{CampaignView, ScenarioServed};
use crate::store::campaigns::Transition;
use crate::store::{CampaignRecord, Store};

#[derive(Debug, Args)]
pub struct CampaignArgs {
    #[command(subcommand)]
    pub command: CampaignCommand,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Create a campaign (as a draft) from a settings file and/or flags.
    Create(CreateArgs),
    /// Change a campaign's settings: a settings file replaces them all, flags change one
    /// thing each (pacing, windows, …). A running campaign dials by the new settings
    /// within a second; calls in progress are not touched.
    Update(CreateArgs),
    /// List every campaign with its state and counts.
    List,
    /// Show one campaign: settings, counts, alerts.
    Show { name: String },
    /// Start (or resume) dialing.
    Start { name: String },
    /// Stop dialing for now; calls in progress finish.
    Pause { name: String },
    /// Stop the campaign; pending leads are kept unless `--cancel-pending`.
    Stop {
        name: String,
        #[arg(long)]
        cancel_pending: bool,
    },
    /// Archive a stopped or completed campaign (read-only from then on).
    Archive { name: String },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The campaign's name: letters, digits, `_` and `.` (used in commands and URLs).
    pub name: String,
    /// A YAML file of campaign settings (see docs/campaigns.md).
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// The scenario (file stem in the scenarios folder), over the file's.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Region for numbers without a country code (ISO 3166, `IR`, `US`).
    #[arg(long)]
    pub region: Option<String>,
    /// The campaign's time zone (IANA), for its calling windows.
    #[arg(long)]
    pub time_zone: Option<String>,
    /// A calling window `DAYS=HH:MM-HH:MM[,HH:MM-HH:MM]` (e.g. `mon-fri=09:00-18:00`);
    /// repeat for more days. Replaces the file's windows.
    #[arg(long = "window", value_name = "DAYS=RANGES")]
    pub windows: Vec<String>,
    /// Also require the called party's local time in this range (`08:00-21:00`).
    #[arg(long)]
    pub lead_local_hours: Option<String>,
    /// Most calls at once for this campaign.
    #[arg(long)]
    pub max_concurrent: Option<u32>,
    /// Most new calls per second (0.2 = one every five seconds).
    #[arg(long)]
    pub max_per_second: Option<f64>,
    /// Most attempts per lead, whatever the retry rules say.
    #[arg(long)]
    pub max_attempts: Option<u32>,
}

pub fn run(args: &CampaignArgs) -> ExitCode {
    let creates = matches!(args.command, CampaignCommand::Create(_));
    let result = match args.store.access(creates) {
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

fn say(r: &CampaignRecord) {
    println!("campaign `{}` is {}", r.name, r.state);
}

/// With the store file.
fn run_local(store: &Store, args: &CampaignArgs) -> Result<(), String> {
    let now = now_ms();
    let views = |names: Vec<CampaignRecord>| -> Result<Vec<CampaignView>, String> {
        names
            .into_iter()
            .map(|record| {
                let counts = store.counts(&record.name).map_err(|e| e.to_string())?;
                Ok(CampaignView {
                    record,
                    counts,
                    alerts: Vec::new(),
                    outbox: Default::default(),
                    scenario: None,
                })
            })
            .collect()
    };
    match &args.command {
        CampaignCommand::Create(c) => {
            let settings = checked_settings(&args.store, c)?;
            let record = store
                .create_campaign(&c.name, settings, now)
                .map_err(|e| e.to_string())?;
            created(&record);
            Ok(())
        }
        CampaignCommand::Update(c) => {
            let current = store.campaign(&c.name).map_err(|e| e.to_string())?;
            let settings = settings_over(c, current.settings)
                .map_err(|e| format!("campaign `{}`: {e}", c.name))?;
            let record = store
                .update_settings(&c.name, settings, now)
                .map_err(|e| e.to_string())?;
            println!("campaign `{}` updated ({})", record.name, record.state);
            Ok(())
        }
        CampaignCommand::List => {
            list(&views(store.campaigns().map_err(|e| e.to_string())?)?);
            Ok(())
        }
        CampaignCommand::Show { name } => {
            let view = CampaignView {
                record: store.campaign(name).map_err(|e| e.to_string())?,
                counts: store.counts(name).map_err(|e| e.to_string())?,
                alerts: store.alerts(Some(name)).map_err(|e| e.to_string())?,
                outbox: store
                    .campaign_outbox_counts(name)
                    .map_err(|e| e.to_string())?,
                scenario: None,
            };
            let next_due = store.next_due(name).map_err(|e| e.to_string())?;
            show(&view, next_due);
            Ok(())
        }
        CampaignCommand::Start { name } => {
            let record = store.campaign(name).map_err(|e| e.to_string())?;
            CampaignPolicy::compile(&record.settings)
                .map_err(|e| format!("campaign `{name}` cannot start: {e}"))?;
            let dir = args.store.scenarios_dir()?;
            let file = scenario_file(&dir, &record.settings.scenario);
            if !file.exists() {
                return Err(format!(
                    "campaign `{name}` cannot start: its scenario {} does not exist",
                    file.display()
                ));
            }
            say(&store
                .transition(name, Transition::Start, None, now)
                .map_err(|e| e.to_string())?);
            Ok(())
        }
        CampaignCommand::Pause { name } => {
            say(&store
                .transition(name, Transition::Pause, None, now)
                .map_err(|e| e.to_string())?);
            Ok(())
        }
        CampaignCommand::Stop {
            name,
            cancel_pending,
        } => {
            let before = store.counts(name).map_err(|e| e.to_string())?;
            let record = store
                .transition(
                    name,
                    Transition::Stop {
                        cancel_pending: *cancel_pending,
                    },
                    None,
                    now,
                )
                .map_err(|e| e.to_string())?;
            if *cancel_pending {
                let after = store.counts(name).map_err(|e| e.to_string())?;
                let n = after.get("cancelled").copied().unwrap_or(0)
                    - before.get("cancelled").copied().unwrap_or(0);
                println!("{n} pending lead(s) cancelled");
            }
            say(&record);
            Ok(())
        }
        CampaignCommand::Archive { name } => {
            say(&store
                .transition(name, Transition::Archive, None, now)
                .map_err(|e| e.to_string())?);
            Ok(())
        }
    }
}

/// Through the running daemon's API (it holds the store).
fn run_remote(api: &Api, args: &CampaignArgs) -> Result<(), String> {
    match &args.command {
        CampaignCommand::Create(c) => {
            let settings = checked_settings(&args.store, c)?;
            let record: CampaignRecord = api.post(
                "/api/campaigns",
                &serde_json::json!({ "name": c.name, "settings": settings }),
            )?;
            created(&record);
        }
        CampaignCommand::Update(c) => {
            let current: CampaignView = api.get(&super::store_args::campaign_url(&c.name, "")?)?;
            let settings = settings_over(c, current.record.settings)
                .map_err(|e| format!("campaign `{}`: {e}", c.name))?;
            let record: CampaignRecord = api.put(
                &super::store_args::campaign_url(&c.name, "")?,
                &serde_json::to_value(&settings).unwrap_or_default(),
            )?;
            println!("campaign `{}` updated ({})", record.name, record.state);
        }
        CampaignCommand::List => list(&api.get::<Vec<CampaignView>>("/api/campaigns")?),
        CampaignCommand::Show { name } => {
            show(
                &api.get::<CampaignView>(&super::store_args::campaign_url(name, "")?)?,
                None,
            );
        }
        CampaignCommand::Start { name } => say(&api.act(name, "start")?),
        CampaignCommand::Pause { name } => say(&api.act(name, "pause")?),
        CampaignCommand::Stop {
            name,
            cancel_pending,
        } => {
            let action = if *cancel_pending {
                "stop?cancel_pending=true"
            } else {
                "stop"
            };
            say(&api.act(name, action)?);
        }
        CampaignCommand::Archive { name } => say(&api.act(name, "archive")?),
    }
    Ok(())
}

/// The settings from the file (if any) with the flags over them, checked.
fn settings_from(c: &CreateArgs) -> Result<CampaignSettings, String> {
    settings_over(c, CampaignSettings::for_scenario(""))
}

/// `base` (or the settings file, which replaces it) with the flags over it, checked.
fn settings_over(c: &CreateArgs, base: CampaignSettings) -> Result<CampaignSettings, String> {
    let mut settings = match &c.settings {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_saphyr::from_str::<CampaignSettings>(&text).map_err(|e| {
                let place = e.location().map_or(path.display().to_string(), |l| {
                    format!("{}:{}:{}", path.display(), l.line(), l.column())
                });
                let message = e.to_string();
                let first = message
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("error: ");
                format!("{place}: {first}")
            })?
        }
        None => base,
    };
    if let Some(s) = &c.scenario {
        settings.scenario = s.clone();
    }
    if let Some(r) = &c.region {
        settings.region = r.clone();
    }
    if let Some(z) = &c.time_zone {
        settings.time_zone = z.clone();
    }
    if !c.windows.is_empty() {
        let mut windows = BTreeMap::new();
        for w in &c.windows {
            let (days, ranges) = w.split_once('=').ok_or_else(|| {
                format!("--window `{w}`: write it as DAYS=HH:MM-HH:MM, e.g. mon-fri=09:00-18:00")
            })?;
            windows.insert(
                days.trim().to_string(),
                ranges.split(',').map(|r| r.trim().to_string()).collect(),
            );
        }
        settings.windows = windows;
    }
    if let Some(h) = &c.lead_local_hours {
        settings.lead_local_hours = Some(h.clone());
    }
    if let Some(n) = c.max_concurrent {
        settings.pacing.max_concurrent = n;
    }
    if let Some(n) = c.max_per_second {
        settings.pacing.max_per_second = n;
    }
    if let Some(n) = c.max_attempts {
        settings.max_attempts = n;
    }
    CampaignPolicy::compile(&settings).map_err(|e| e.to_string())?;
    Ok(settings)
}

/// The settings, checked, with a warning when the scenario file is not there yet.
fn checked_settings(args: &StoreArgs, c: &CreateArgs) -> Result<CampaignSettings, String> {
    let settings = settings_from(c).map_err(|e| format!("campaign `{}`: {e}", c.name))?;
    let dir = args.scenarios_dir()?;
    let file = scenario_file(&dir, &settings.scenario);
    if !file.exists() {
        eprintln!(
            "warning: scenario {} does not exist yet; the campaign cannot start without it",
            file.display()
        );
    }
    Ok(settings)
}

fn created(record: &CampaignRecord) {
    println!(
        "campaign `{}` created ({}), scenario `{}`; add leads with `dialflow leads import {} FILE.csv`",
        record.name, record.state, record.settings.scenario, record.name
    );
}

fn list(campaigns: &[CampaignView]) {
    if campaigns.is_empty() {
        println!("no campaigns (create one with `dialflow campaign create`)");
        return;
    }
    println!(
        "{:<20} {:<10} {:<14} {:>8} {:>8} {:>7} {:>8} {:>9}",
        "campaign", "state", "scenario", "leads", "pending", "live", "done", "attempts"
    );
    for c in campaigns {
        let get = |k: &str| c.counts.get(k).copied().unwrap_or(0);
        println!(
            "{:<20} {:<10} {:<14} {:>8} {:>8} {:>7} {:>8} {:>9}",
            c.record.name,
            c.record.state.as_str(),
            c.record.settings.scenario,
            get("leads"),
            get("pending"),
            get("leased"),
            get("done") + get("dnc") + get("cancelled") + get("skipped"),
            get("attempts")
        );
    }
}

fn show(view: &CampaignView, next_due: Option<u64>) {
    let c = &view.record;
    println!("campaign  {}", c.name);
    println!("state     {}", c.state);
    if let Some(r) = &c.reason {
        println!("reason    {r}");
    }
    println!("created   {}", show_ms(c.created_ms));
    println!("updated   {}", show_ms(c.updated_ms));
    if let Some(due) = next_due {
        println!("next due  {}", show_ms(due));
    }
    if let Some(served) = &view.scenario {
        show_served(served);
    }
    println!("\nsettings:");
    let yaml = serde_json::to_value(&c.settings).unwrap_or_default();
    print_value(&yaml, 1);
    println!("\ncounts:");
    for (k, v) in &view.counts {
        println!("  {k:<24} {v}");
    }
    println!(
        "\nreports   {} waiting for the panel, {} parked",
        view.outbox.pending, view.outbox.parked
    );
    if !view.alerts.is_empty() {
        println!("\nalerts:");
        for a in &view.alerts {
            println!("  {}  {}", show_ms(a.at_ms), a.message);
        }
    }
}

/// The version of its scenario the daemon runs the campaign on, and why when it is
/// the last good one rather than the file's.
fn show_served(served: &ScenarioServed) {
    let short = &served.hash[..served.hash.len().min(12)];
    let Some(stale) = &served.stale else {
        println!("scenario  {} at {short}", served.name);
        return;
    };
    let why = match stale.why {
        StaleWhy::FileGone => "its file is gone",
        StaleWhy::DoesNotCompile => "its file does not compile",
        StaleWhy::HeldBack => "another file of the folder does not compile",
    };
    println!(
        "scenario  {} at {short}: STALE, the last good version ({why})",
        served.name
    );
    if let Some(error) = &stale.error {
        for line in error.lines() {
            println!("  {line}");
        }
    }
}

/// Prints a JSON value as indented `key: value` lines.
fn print_value(v: &serde_json::Value, depth: usize) {
    let pad = "  ".repeat(depth);
    if let Some(map) = v.as_object() {
        for (k, v) in map {
            match v {
                serde_json::Value::Object(_) => {
                    println!("{pad}{k}:");
                    print_value(v, depth + 1);
                }
                serde_json::Value::Null => println!("{pad}{k}: -"),
                other => println!("{pad}{k}: {other}"),
            }
        }
    }
}
