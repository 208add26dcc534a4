//! A campaign's settings as ops write them (a YAML file or command-line flags) and as the
//! store keeps them: which scenario, where and when to call, how fast, what to retry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::retry::{RetryRule, default_rules};

/// Everything a campaign decides for itself. Unknown keys are errors (a typo in a
/// calling window must not silently open it). Durations are written `10m`, `2h`, ….
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignSettings {
    /// The scenario every call runs: a file stem in the scenarios directory (`salehi`).
    /// Required (a command-line flag may give it instead of the file).
    #[serde(default)]
    pub scenario: String,
    /// Region for numbers written without a country code (ISO 3166: `IR`, `US`).
    #[serde(default = "default_region")]
    pub region: String,
    /// The campaign's own time zone (IANA), in which `windows` are read.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Day selector (`mon-fri`, `sat,sun`, `daily`) → `HH:MM-HH:MM` ranges; a range whose
    /// end is not after its start runs past midnight. Days not named are closed.
    #[serde(default = "default_windows")]
    pub windows: BTreeMap<String, Vec<String>>,
    /// Also require the called party's local time (from the lead's time zone) to be in
    /// this range, e.g. `08:00-21:00` (US rules). A lead without a known zone is then not
    /// dialed (fail closed).
    #[serde(default)]
    pub lead_local_hours: Option<String>,
    #[serde(default)]
    pub pacing: PacingSettings,
    /// Result (or `failed:*`-style prefix) → `never` or `{after: 10m, max: 3}`; merged
    /// over the defaults (busy 10m×3, missed 1h×3, power_off 2h×3, failed:* 5m×3).
    #[serde(default)]
    pub retries: BTreeMap<String, RetryRule>,
    /// Most attempts per lead, whatever the retry rules say.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Prepended to every number by dialflow (seed 001); replaces the configured prefix.
    #[serde(default)]
    pub dial_prefix: Option<String>,
    /// Caller id shown to customers; replaces the configured one.
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Results that put the number on this campaign's do-not-call list.
    #[serde(default = "default_dnc_results")]
    pub dnc_results: Vec<String>,
    /// Technical failures in a row (`failed:*` other than the customer's own silence)
    /// after which the campaign pauses itself and alerts.
    #[serde(default = "default_breaker")]
    pub max_consecutive_failures: u32,
    /// Keep transcripts with attempts (they are personal data).
    #[serde(default = "default_true")]
    pub keep_transcripts: bool,
    /// How the campaign paces its calls against its agents.
    #[serde(default)]
    pub mode: DialMode,
    /// `progressive`: the most calls per available agent (1 to 5; default 1).
    #[serde(default = "default_ratio")]
    pub ratio: f64,
    /// `predictive`: the most drops per answered call, per day and over 30 days
    /// (default 0.03, the US Telemarketing Sales Rule's 3 %).
    #[serde(default = "default_drop_cap")]
    pub drop_cap: f64,
    /// What a customer who waits too long for an agent hears before the hang-up.
    #[serde(default)]
    pub safe_harbor: SafeHarborSettings,
    /// How an agent may close a call of this campaign (none: the campaign has no
    /// agents' calls, or they need no disposition).
    #[serde(default)]
    pub dispositions: Vec<DispositionSetting>,
    /// How long an agent's wrap-up after a call lasts at most (`30s`): then they are
    /// available again (or on the break they asked for) without a disposition.
    #[serde(default = "default_wrap_up")]
    pub wrap_up: String,
    /// What the agent reads to the customer (seed 001), shown with the call on their
    /// screen (`GET /api/agent/call`); empty: none.
    #[serde(default)]
    pub script: String,
}

/// A way an agent may close a call: the code they send, the label they see, the
/// scenario result it stands for (and so the panel status the call is reported with),
/// and what it does to the lead: a callback at the time the agent gives, or the number
/// on the campaign's do-not-call list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispositionSetting {
    /// What the agent sends (`sale`, `call_back`): letters, digits, `_`, `-`.
    pub code: String,
    /// What the agent's screen shows.
    pub label: String,
    /// A result of the campaign's scenario: the attempt's result from then on.
    pub result: String,
    /// The lead is called back at the time the agent gives.
    #[serde(default)]
    pub callback: bool,
    /// The number goes on the campaign's do-not-call list.
    #[serde(default)]
    pub dnc: bool,
}

/// A campaign's dial mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DialMode {
    /// Calls run their scenario with no agents (the pacing limits alone).
    #[default]
    Ivr,
    /// Only as many calls as `ratio` × available agents.
    Progressive,
    /// An adaptive level that keeps agents busy under the drop cap.
    Predictive,
    /// An agent asks for the next lead and sees it before it is dialed.
    Preview,
}

impl DialMode {
    /// Whether calls of this mode go to agents (and so fall under safe harbor).
    pub fn has_agents(self) -> bool {
        self != DialMode::Ivr
    }
}

/// The safe-harbor rule: a customer answered and not with an agent within `after`
/// hears `prompt` and is hung up; the call counts as dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SafeHarborSettings {
    /// From the moment the customer starts waiting for an agent (`2s`).
    #[serde(default = "default_safe_harbor_after")]
    pub after: String,
    /// A prompt of the scenario's prompt set.
    #[serde(default = "default_safe_harbor_prompt")]
    pub prompt: String,
}

impl Default for SafeHarborSettings {
    fn default() -> Self {
        Self {
            after: default_safe_harbor_after(),
            prompt: default_safe_harbor_prompt(),
        }
    }
}

/// How fast a campaign may dial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PacingSettings {
    #[serde(default = "default_concurrent")]
    pub max_concurrent: u32,
    #[serde(default = "default_per_second")]
    pub max_per_second: f64,
    /// Least time between two originates (`0s` for none).
    #[serde(default = "default_interval")]
    pub min_interval: String,
}

impl Default for PacingSettings {
    fn default() -> Self {
        Self {
            max_concurrent: default_concurrent(),
            max_per_second: default_per_second(),
            min_interval: default_interval(),
        }
    }
}

impl CampaignSettings {
    /// Settings with every default, for `scenario`.
    pub fn for_scenario(scenario: &str) -> Self {
        Self {
            scenario: scenario.into(),
            region: default_region(),
            time_zone: default_time_zone(),
            windows: default_windows(),
            lead_local_hours: None,
            pacing: PacingSettings::default(),
            retries: BTreeMap::new(),
            max_attempts: default_max_attempts(),
            dial_prefix: None,
            caller_id: None,
            dnc_results: default_dnc_results(),
            max_consecutive_failures: default_breaker(),
            keep_transcripts: true,
            mode: DialMode::default(),
            ratio: default_ratio(),
            drop_cap: default_drop_cap(),
            safe_harbor: SafeHarborSettings::default(),
            dispositions: Vec::new(),
            wrap_up: default_wrap_up(),
            script: String::new(),
        }
    }

    /// The disposition of `code`, if the campaign has one.
    pub fn disposition(&self, code: &str) -> Option<&DispositionSetting> {
        self.dispositions.iter().find(|d| d.code == code)
    }

    /// The retry table in force: the defaults with the campaign's entries over them.
    pub fn retry_rules(&self) -> BTreeMap<String, RetryRule> {
        let mut rules = default_rules();
        rules.extend(self.retries.clone());
        rules
    }
}

fn default_region() -> String {
    "IR".into()
}
fn default_time_zone() -> String {
    "UTC".into()
}
/// Seed 002's office hours, every day, rather than "always": a campaign created without
/// windows must not ring people at night.
fn default_windows() -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([("daily".to_string(), vec!["09:00-21:00".to_string()])])
}
fn default_max_attempts() -> u32 {
    5
}
fn default_dnc_results() -> Vec<String> {
    vec!["banned".into()]
}
fn default_breaker() -> u32 {
    10
}
fn default_ratio() -> f64 {
    1.0
}
fn default_drop_cap() -> f64 {
    0.03
}
fn default_safe_harbor_after() -> String {
    "2s".into()
}
fn default_safe_harbor_prompt() -> String {
    "safe_harbor".into()
}
fn default_true() -> bool {
    true
}
fn default_concurrent() -> u32 {
    10
}
fn default_per_second() -> f64 {
    5.0
}
fn default_wrap_up() -> String {
    "30s".into()
}
fn default_interval() -> String {
    "0s".into()
}
