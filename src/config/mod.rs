//! `dialflow.yaml`: where Asterisk is, how to dial, the logical names scenarios use
//! (operators, caller ids), and where files live. Every value can be overridden from the
//! environment (`DIALFLOW_ARI_PASSWORD`, …). Every problem is reported at once, each
//! naming its key (or variable) and line; an unknown key is one of them.

mod agents;
mod alert_template;
mod checks;
mod source;

pub use agents::AgentsConfig;
pub use alert_template::{AlertFields, AlertTemplate, TemplateError};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::expr::{DurationError, parse_duration_ms};
use source::Node;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub ari: AriConfig,
    #[serde(default)]
    pub dial: DialConfig,
    /// Logical operator name (as scenarios write it) → dial string.
    #[serde(default)]
    pub operators: BTreeMap<String, String>,
    /// Logical caller id name → number.
    #[serde(default)]
    pub caller_ids: BTreeMap<String, String>,
    /// Agent queues (skills) that scenarios' `connect_agent` name, and how their agents
    /// are reached.
    #[serde(default)]
    pub queues: BTreeMap<String, QueueConfig>,
    /// Dialplan context of the AMD hop (`dialflow dialplan`).
    #[serde(default = "default_amd_context")]
    pub amd_context: String,
    #[serde(default = "default_scenarios")]
    pub scenarios: PathBuf,
    #[serde(default = "default_prompts")]
    pub prompts: PathBuf,
    #[serde(default = "default_store")]
    pub store: PathBuf,
    /// Most calls at once.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
    /// How long live calls may go on after a shutdown request before they are hung up.
    #[serde(default = "default_grace", with = "duration")]
    pub shutdown_grace: Duration,
    #[serde(default)]
    pub classify: ClassifyConfig,
    /// The short form of `alerts: {url: …}`, kept for configurations written before
    /// the `alerts` section.
    #[serde(default)]
    pub alert_webhook: Option<String>,
    /// Where alerts go (a campaign paused itself, the breaker, parked reports, Asterisk
    /// unreachable, an old backlog): POSTed through the same durable, signed delivery
    /// as reports. They are also kept in the store and logged.
    #[serde(default)]
    pub alerts: Option<AlertsConfig>,
    /// Where the calls' reports are delivered (the outbox); none without it.
    #[serde(default)]
    pub panel: Option<PanelConfig>,
    /// Where `dialflow run` serves its HTTP API (campaign control while it holds the
    /// store; the commands use it then). `""` turns it off.
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Who may use the HTTP API, besides the tokens in `DIALFLOW_ADMIN_TOKENS` and
    /// `DIALFLOW_READ_TOKENS`.
    #[serde(default)]
    pub api: ApiConfig,
    /// Whether `dialflow run` reloads the scenarios when their files (scenarios, hook
    /// scripts, prompts) change. SIGHUP and `dialflow reload` work either way.
    #[serde(default = "default_watch")]
    pub watch: bool,
    /// What the agent API accepts from every agent (break reasons).
    #[serde(default)]
    pub agents: AgentsConfig,
}

/// One agent queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    #[serde(default)]
    pub reach: AgentReachMode,
}

/// How a queue's agents are reached for each customer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentReachMode {
    /// Their phone is rung for each call.
    #[default]
    Ring,
    /// Their leg stays up in their own bridge between calls; a customer is moved in.
    Nailed,
}

/// What every outgoing TLS connection trusts, besides the system's root certificates.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TlsConfig {
    /// A PEM file of one or more CA certificates also trusted (a PBX's private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// The HTTP API's access.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApiConfig {
    /// A YAML list of `{name, role: admin|read, token}` (kept mode 0600). With neither
    /// this nor the variables, the daemon makes an admin token beside the store.
    #[serde(default)]
    pub tokens_file: Option<PathBuf>,
}

/// How recorded answers become intents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifyConfig {
    #[serde(default)]
    pub stt: SttConfig,
    #[serde(default)]
    pub intent: IntentConfig,
    /// The whole budget of one classification (fetch, speech-to-text, intent).
    #[serde(default = "default_classify_timeout", with = "duration")]
    pub timeout: Duration,
    /// Keep recordings on the Asterisk after classifying them.
    #[serde(default)]
    pub keep_recordings: bool,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        Self {
            stt: SttConfig::default(),
            intent: IntentConfig::default(),
            timeout: default_classify_timeout(),
            keep_recordings: false,
        }
    }
}

fn default_classify_timeout() -> Duration {
    Duration::from_secs(8)
}

/// The speech-to-text provider. API keys come from the environment
/// (`DIALFLOW_STT_API_KEY`), never from the file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SttConfig {
    /// What `dialflow sim`'s customers said (for the simulator only).
    #[default]
    Simulated,
    /// An OpenAI-compatible `/v1/audio/transcriptions` server.
    Openai {
        base_url: String,
        model: String,
        #[serde(default)]
        language: Option<String>,
    },
    /// A vendor's HTTP API.
    Http {
        url: String,
        #[serde(default)]
        upload: Upload,
        #[serde(default = "default_field")]
        field: String,
        /// Dotted JSON path of the transcript, e.g. `result.text`.
        transcript_path: String,
    },
    /// A local program: WAV on stdin, transcript on stdout.
    Command {
        program: String,
        #[serde(default)]
        args: Vec<String>,
    },
}

/// How the HTTP speech-to-text provider is sent the audio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Upload {
    /// The WAV as the request body.
    Raw,
    /// `multipart/form-data`, the WAV in `field`.
    #[default]
    Multipart,
}
fn default_field() -> String {
    "file".into()
}

/// The intent classifier. The LLM's key comes from `DIALFLOW_LLM_API_KEY`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IntentConfig {
    /// The scenario's keywords and patterns, then built-in cues.
    #[default]
    Rules,
    /// An OpenAI-compatible chat-completions model, constrained to the scenario's intents;
    /// the rules take over when it fails.
    Llm { base_url: String, model: String },
}

/// The reporting panel: every report in the outbox is POSTed to `url` as JSON, signed
/// with the secret read from the variable `secret_env` names (never from the file).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PanelConfig {
    pub url: String,
    /// The environment variable holding the signing secret.
    #[serde(default = "default_secret_env")]
    pub secret_env: String,
    /// Reports in flight at once (each attempt's in order, one at a time).
    #[serde(default = "default_panel_concurrency")]
    pub concurrency: usize,
    /// Timeout of one delivery.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    /// Send the lead's custom fields (the CSV's extra columns) with each report.
    #[serde(default)]
    pub include_custom_fields: bool,
    /// The secret, as read from `secret_env` when the configuration was read.
    #[serde(skip)]
    pub secret: Option<String>,
}

impl PanelConfig {
    /// A panel at `url` with the defaults.
    pub fn new(url: impl Into<String>) -> PanelConfig {
        PanelConfig {
            url: url.into(),
            secret_env: default_secret_env(),
            concurrency: default_panel_concurrency(),
            timeout: default_timeout(),
            include_custom_fields: false,
            secret: None,
        }
    }
}

/// Alerts' delivery: each is POSTed to `url` as JSON (the default body, or `template`
/// rendered), signed like reports with the secret from `secret_env`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertsConfig {
    pub url: String,
    /// A MiniJinja template of the body (`AlertTemplate`), for an SMS gateway's or a chat
    /// tool's own API; the default body without it.
    #[serde(default)]
    pub template: Option<String>,
    /// The environment variable holding the signing secret.
    #[serde(default = "default_alerts_secret_env")]
    pub secret_env: String,
    /// The same alert for the same campaign goes out at most once in this time.
    #[serde(default = "default_alerts_every", with = "duration")]
    pub every: Duration,
    /// Asterisk's event stream down for longer than this raises an alert.
    #[serde(default = "default_unreachable_after", with = "duration")]
    pub unreachable_after: Duration,
    /// A report waiting for the panel for longer than this raises an alert.
    #[serde(default = "default_backlog_after", with = "duration")]
    pub backlog_after: Duration,
    /// Timeout of one delivery.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    /// The secret, as read from `secret_env` when the configuration was read.
    #[serde(skip)]
    pub secret: Option<String>,
}

impl AlertsConfig {
    /// Alerts to `url` with the defaults.
    pub fn new(url: impl Into<String>) -> AlertsConfig {
        AlertsConfig {
            url: url.into(),
            template: None,
            secret_env: default_alerts_secret_env(),
            every: default_alerts_every(),
            unreachable_after: default_unreachable_after(),
            backlog_after: default_backlog_after(),
            timeout: default_timeout(),
            secret: None,
        }
    }
}

fn default_alerts_secret_env() -> String {
    "DIALFLOW_ALERTS_SECRET".into()
}
fn default_alerts_every() -> Duration {
    Duration::from_secs(300)
}
fn default_unreachable_after() -> Duration {
    Duration::from_secs(30)
}
fn default_backlog_after() -> Duration {
    Duration::from_secs(300)
}

fn default_secret_env() -> String {
    "DIALFLOW_PANEL_SECRET".into()
}
fn default_panel_concurrency() -> usize {
    8
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AriConfig {
    /// e.g. `http://127.0.0.1:8088`.
    pub url: String,
    pub user: String,
    /// Better given as `DIALFLOW_ARI_PASSWORD` than written in the file.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "default_app")]
    pub app: String,
    /// Timeout of one REST request.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    /// Most ARI requests in flight at once, and connections kept alive; more requests
    /// wait for one. Twice this, plus the events WebSocket and what other clients of that
    /// Asterisk use, must stay under `sessionlimit` in `http.conf` (100 by default):
    /// for a moment under load up to twice this many connections can be open (README).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Whether the first signs of strain (events, prompts or the pool running late)
    /// set a ceiling on calls at once (`core::campaign::capacity`). On by default; off
    /// where the PBX's capacity is known and the signals say more about dialflow's own
    /// host, as when a simulator shares its CPU in compressed time.
    #[serde(default = "default_learn_capacity")]
    pub learn_capacity: bool,
    /// Send JSON requests over the events WebSocket instead of HTTP (ARI "REST over
    /// WebSocket": Asterisk 20.14, 21.9, 22.4 and later). One session in all, and less
    /// CPU a request; recordings' files still come over HTTP. Each time the socket
    /// connects, a probe checks that Asterisk answers on it; an Asterisk that does not
    /// keeps HTTP (with a warning). Off by default.
    #[serde(default)]
    pub rest_over_websocket: bool,
    /// Ask Asterisk to send the application only the event types dialflow acts on
    /// (ARI's `eventFilter`, Asterisk 13.26 / 16.3 and later): on Asterisk 22 it drops
    /// 13 of a call's 28 events (`ChannelVarset`, `ChannelDialplan`, …), CPU on both
    /// sides. The filter is the application's: turn it off when another client listens
    /// to the same application and needs the rest. On by default.
    #[serde(default = "default_event_filter")]
    pub event_filter: bool,
}

fn default_event_filter() -> bool {
    true
}

fn default_learn_capacity() -> bool {
    true
}

/// Well under Asterisk's default `sessionlimit` of 100, leaving room for the events
/// WebSocket and for other ARI and HTTP clients of the same Asterisk.
fn default_max_connections() -> usize {
    40
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DialConfig {
    /// The dial string, `{number}` replaced by prefix + number.
    #[serde(default = "default_template")]
    pub template: String,
    /// Prepended to every number by the server, never taken from a lead (seed 001).
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Media formats of originated channels.
    #[serde(default = "default_formats")]
    pub formats: String,
}

impl Default for DialConfig {
    fn default() -> Self {
        Self {
            template: default_template(),
            prefix: String::new(),
            caller_id: None,
            formats: default_formats(),
        }
    }
}

fn default_amd_context() -> String {
    "dialflow-amd".into()
}
fn default_scenarios() -> PathBuf {
    "scenarios".into()
}
fn default_prompts() -> PathBuf {
    "prompts".into()
}
fn default_watch() -> bool {
    true
}
fn default_listen() -> String {
    "127.0.0.1:8099".into()
}
fn default_store() -> PathBuf {
    "data/dialflow.redb".into()
}
fn default_max_concurrent() -> usize {
    10
}
fn default_grace() -> Duration {
    Duration::from_secs(30)
}
fn default_app() -> String {
    "dialflow".into()
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_template() -> String {
    "PJSIP/{number}@trunk".into()
}
fn default_formats() -> String {
    "ulaw".into()
}

/// Durations are written `10s`, `500ms`, `5m` and kept as [`Duration`]s.
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", value.as_millis()))
    }
}

fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    parse_duration_ms(text).map(Duration::from_millis)
}

/// One configuration problem: where (`file:line:column` and the key, or the
/// environment variable and the key it sets) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {message}")]
pub struct ConfigProblem {
    /// `dialflow.yaml:12:3 (ari.timeout)`, `DIALFLOW_ARI_TIMEOUT (sets ari.timeout)`.
    pub place: String,
    /// The dotted key (`ari.timeout`); empty when the problem is the file's as a whole.
    pub key: String,
    pub message: String,
}

/// Why a configuration cannot be used: every problem found (unknown keys, then the
/// environment's values, then the checks of the values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "{one}"),
            all => {
                write!(f, "{} problems", all.len())?;
                all.iter().try_for_each(|p| write!(f, "\n  {p}"))
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn one(place: String, key: &str, message: String) -> ConfigError {
        ConfigError {
            problems: vec![ConfigProblem {
                place,
                key: key.to_string(),
                message,
            }],
        }
    }
}

/// The environment variables that override keys of the file, and the key each sets.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("DIALFLOW_ARI_URL", "ari.url"),
    ("DIALFLOW_ARI_USER", "ari.user"),
    ("DIALFLOW_ARI_PASSWORD", "ari.password"),
    ("DIALFLOW_ARI_APP", "ari.app"),
    ("DIALFLOW_ARI_TIMEOUT", "ari.timeout"),
    ("DIALFLOW_ARI_MAX_CONNECTIONS", "ari.max_connections"),
    (
        "DIALFLOW_ARI_REST_OVER_WEBSOCKET",
        "ari.rest_over_websocket",
    ),
    ("DIALFLOW_ARI_EVENT_FILTER", "ari.event_filter"),
    ("DIALFLOW_DIAL_TEMPLATE", "dial.template"),
    ("DIALFLOW_DIAL_PREFIX", "dial.prefix"),
    ("DIALFLOW_DIAL_CALLER_ID", "dial.caller_id"),
    ("DIALFLOW_DIAL_FORMATS", "dial.formats"),
    ("DIALFLOW_AMD_CONTEXT", "amd_context"),
    ("DIALFLOW_SCENARIOS", "scenarios"),
    ("DIALFLOW_PROMPTS", "prompts"),
    ("DIALFLOW_STORE", "store"),
    ("DIALFLOW_MAX_CONCURRENT", "max_concurrent"),
    ("DIALFLOW_SHUTDOWN_GRACE", "shutdown_grace"),
    ("DIALFLOW_OPERATORS", "operators"),
    ("DIALFLOW_CALLER_IDS", "caller_ids"),
    ("DIALFLOW_ALERT_WEBHOOK", "alert_webhook"),
    ("DIALFLOW_LISTEN", "listen"),
    ("DIALFLOW_TLS_CA_FILE", "tls.ca_file"),
    ("DIALFLOW_TOKENS_FILE", "api.tokens_file"),
    ("DIALFLOW_PANEL_URL", "panel.url"),
    ("DIALFLOW_ALERTS_URL", "alerts.url"),
];

/// Why an environment variable's value cannot set its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum EnvValueError {
    #[error("`{0}` is not a whole number")]
    NotANumber(String),
    #[error("`{0}` is not name=value (write e.g. sales=PJSIP/1000,support=PJSIP/2000)")]
    NotAPair(String),
    #[error(transparent)]
    Duration(DurationError),
    #[error("`{0}` is neither true nor false")]
    NotAFlag(String),
}

/// `true` or `false`, as a flag is written in the environment.
fn flag(value: String) -> Result<bool, EnvValueError> {
    match value.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(EnvValueError::NotAFlag(value)),
    }
}

/// `name=value,name=value` (the environment's form of a map), replacing the file's map.
fn parse_map(value: &str) -> Result<BTreeMap<String, String>, EnvValueError> {
    value
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(EnvValueError::NotAPair(pair.to_string())),
        })
        .collect()
}

/// `ari.timeout`, `operators.sales`: a path as the configuration's keys are written.
fn dotted(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let keys: Vec<String> = path
        .iter()
        .filter_map(|segment| match segment {
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Unknown => None,
        })
        .collect();
    keys.join(".")
}

/// Removes the value at `path` from `tree`, so the next reading gets past it (the key
/// then takes its default, or is reported missing); whether there was one to remove.
fn take_out(tree: &mut serde_json::Value, path: &serde_path_to_error::Path) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut node = tree;
    for segment in parents {
        node = match (segment, node) {
            (Segment::Map { key }, serde_json::Value::Object(map)) => match map.get_mut(key) {
                Some(child) => child,
                None => return false,
            },
            (Segment::Seq { index }, serde_json::Value::Array(items)) => {
                match items.get_mut(*index) {
                    Some(child) => child,
                    None => return false,
                }
            }
            _ => return false,
        };
    }
    match (last, node) {
        (Segment::Map { key }, serde_json::Value::Object(map)) => map.remove(key).is_some(),
        (Segment::Seq { index }, serde_json::Value::Array(items)) if *index < items.len() => {
            items.remove(*index);
            true
        }
        _ => false,
    }
}

/// The value serde's "unknown variant `x`, expected …" names.
fn unknown_variant(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown variant `")?;
    rest.split_once('`').map(|(variant, _)| variant)
}

/// Where a problem with a key is reported: the variable that set it, else its line in
/// the file.
struct Origins<'a> {
    name: &'a str,
    tree: Node,
    from_env: BTreeMap<&'static str, &'static str>,
}

impl Origins<'_> {
    fn place(&self, key: &str) -> String {
        if let Some(var) = self.from_env.get(key) {
            return format!("{var} (sets {key})");
        }
        match self.tree.locate(key) {
            Some((line, column)) => format!("{}:{line}:{column} ({key})", self.name),
            None => format!("{} ({key})", self.name),
        }
    }

    /// Every key in the file that the configuration has no place for.
    fn unknown_keys(&self, config: &Config) -> Vec<ConfigProblem> {
        let known = serde_json::to_value(config).expect("a configuration serializes");
        self.tree
            .unknown_keys(&known)
            .into_iter()
            .map(|unknown| {
                let field = unknown.path.rsplit('.').next().unwrap_or_default();
                ConfigProblem {
                    place: format!(
                        "{}:{}:{} ({})",
                        self.name, unknown.at.0, unknown.at.1, unknown.path
                    ),
                    message: format!(
                        "unknown field `{field}`, expected one of {}",
                        unknown.expected.join(", ")
                    ),
                    key: unknown.path,
                }
            })
            .collect()
    }

    /// Every value of the wrong type, not only the first one serde stops at: the file
    /// is read again as a plain tree, and each bad value is reported and taken out
    /// before the next try (as the compiler reparses past a broken node). `first`, from
    /// the YAML reader, has the best position and message, and comes first.
    fn every_type_error(&self, text: &str, first: ConfigError) -> ConfigError {
        /// Enough for any real file; a bound so a value that cannot be taken out ends it.
        const MAX_TRIES: usize = 50;
        let Ok(mut tree) = serde_saphyr::from_str::<serde_json::Value>(text) else {
            return first; // not even YAML: the reader's error is all there is
        };
        let mut problems = first.problems;
        for _ in 0..MAX_TRIES {
            let Err(e) = serde_path_to_error::deserialize::<_, Config>(&tree) else {
                break;
            };
            let key = dotted(e.path());
            if !take_out(&mut tree, e.path()) {
                break;
            }
            // A tagged section's error may name the section or the value in it: one.
            let seen = |p: &ConfigProblem| p.key.starts_with(&key) || key.starts_with(&p.key);
            if !problems.iter().any(seen) {
                problems.push(self.problem(&key, e.inner().to_string()));
            }
        }
        // In the file's order, as people read it (serde's is the structs').
        problems.sort_by_key(|p| self.tree.locate(&p.key));
        ConfigError { problems }
    }

    fn problem(&self, key: &str, message: String) -> ConfigProblem {
        ConfigProblem {
            place: self.place(key),
            key: key.to_string(),
            message,
        }
    }
}

impl Config {
    /// Reads the file, applies the environment, validates. Relative paths in the file
    /// (and the defaults) are read from the file's folder, so a command run from
    /// elsewhere finds the same store; paths from the environment are taken as given.
    pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::one(path.display().to_string(), "", e.to_string()))?;
        let folder = path.parent().unwrap_or(Path::new(""));
        Config::build(&path.display().to_string(), &text, folder, env)
    }

    /// A configuration from text, its relative paths taken as given.
    pub fn parse(
        name: &str,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::build(name, text, Path::new(""), env)
    }

    fn build(
        name: &str,
        text: &str,
        folder: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut origins = Origins {
            name,
            tree: Node::read(text),
            from_env: BTreeMap::new(),
        };
        let mut config = match Config::deserialize_file(&origins, text) {
            Ok(config) => config,
            Err(first) => return Err(origins.every_type_error(text, first)),
        };
        let mut problems = origins.unknown_keys(&config);
        let ca_file = config.tls.ca_file.as_mut();
        let tokens_file = config.api.tokens_file.as_mut();
        for path in [
            &mut config.scenarios,
            &mut config.prompts,
            &mut config.store,
        ]
        .into_iter()
        .chain(ca_file)
        .chain(tokens_file)
        {
            if path.is_relative() {
                *path = folder.join(&*path);
            }
        }
        for (var, key) in ENV_KEYS {
            let Some(value) = env(var) else { continue };
            origins.from_env.insert(key, var);
            if let Err(e) = config.set(key, value) {
                problems.push(origins.problem(key, e.to_string()));
            }
        }
        if let Some(panel) = &mut config.panel {
            panel.secret = env(&panel.secret_env).filter(|s| !s.is_empty());
        }
        if let (None, Some(url)) = (&config.alerts, &config.alert_webhook) {
            config.alerts = Some(AlertsConfig::new(url.clone()));
        }
        if let Some(alerts) = &mut config.alerts {
            alerts.secret = env(&alerts.secret_env).filter(|s| !s.is_empty());
        }
        problems.extend(
            config
                .checks()
                .into_iter()
                .map(|(key, message)| origins.problem(key, message)),
        );
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError { problems })
        }
    }

    /// The file as the structs take it. A value of the wrong type ends the reading
    /// there (serde's way), reported with its line and, where it can be told, its key.
    fn deserialize_file(origins: &Origins, text: &str) -> Result<Config, ConfigError> {
        serde_saphyr::from_str(text).map_err(|e| {
            let message = e.to_string();
            let message = message.lines().next().unwrap_or("");
            let message = message.trim_start_matches("error: ");
            // The message repeats the position the place gives.
            let message = match message.split_once(": ") {
                Some((head, rest)) if head.starts_with("line ") => rest,
                _ => message,
            };
            let mut at = e
                .location()
                .map(|l| (l.line() as usize, l.column() as usize));
            let mut key = at
                .and_then(|at| origins.tree.key_at(at))
                .unwrap_or_default();
            // Inside a `kind:`-tagged section serde points at the section, not the value.
            if let Some((path, value_at)) =
                unknown_variant(message).and_then(|variant| origins.tree.find_text(&key, variant))
            {
                (key, at) = (path, Some(value_at));
            }
            let place = match (at, key.is_empty()) {
                (Some((line, column)), false) => {
                    format!("{}:{line}:{column} ({key})", origins.name)
                }
                (Some((line, column)), true) => format!("{}:{line}:{column}", origins.name),
                (None, _) => origins.name.to_string(),
            };
            ConfigError::one(place, &key, message.to_string())
        })
    }

    fn set(&mut self, key: &str, value: String) -> Result<(), EnvValueError> {
        let duration = |v: &str| parse_duration(v).map_err(EnvValueError::Duration);
        match key {
            "ari.url" => self.ari.url = value,
            "ari.user" => self.ari.user = value,
            "ari.password" => self.ari.password = Some(value),
            "ari.app" => self.ari.app = value,
            "ari.timeout" => self.ari.timeout = duration(&value)?,
            "ari.max_connections" => {
                self.ari.max_connections = value
                    .parse()
                    .map_err(|_| EnvValueError::NotANumber(value))?;
            }
            "ari.rest_over_websocket" => self.ari.rest_over_websocket = flag(value)?,
            "ari.event_filter" => self.ari.event_filter = flag(value)?,
            "dial.template" => self.dial.template = value,
            "dial.prefix" => self.dial.prefix = value,
            "dial.caller_id" => self.dial.caller_id = Some(value),
            "dial.formats" => self.dial.formats = value,
            "amd_context" => self.amd_context = value,
            "scenarios" => self.scenarios = value.into(),
            "prompts" => self.prompts = value.into(),
            "store" => self.store = value.into(),
            "max_concurrent" => {
                self.max_concurrent = value
                    .parse()
                    .map_err(|_| EnvValueError::NotANumber(value))?;
            }
            "shutdown_grace" => self.shutdown_grace = duration(&value)?,
            "operators" => self.operators = parse_map(&value)?,
            "caller_ids" => self.caller_ids = parse_map(&value)?,
            "alert_webhook" => self.alert_webhook = Some(value),
            "listen" => self.listen = value,
            "tls.ca_file" => self.tls.ca_file = Some(value.into()),
            "api.tokens_file" => self.api.tokens_file = Some(value.into()),
            "alerts.url" => match &mut self.alerts {
                Some(alerts) => alerts.url = value,
                None => self.alerts = Some(AlertsConfig::new(value)),
            },
            "panel.url" => match &mut self.panel {
                Some(panel) => panel.url = value,
                None => self.panel = Some(PanelConfig::new(value)),
            },
            other => unreachable!("ENV_KEYS names `{other}`, which `set` does not know"),
        }
        Ok(())
    }

    /// The ARI password, needed only by what talks to Asterisk (the store commands
    /// work without it).
    pub fn ari_password(&self) -> Result<&str, ConfigError> {
        match self.ari.password.as_deref() {
            Some(p) if !p.is_empty() => Ok(p),
            _ => Err(ConfigError::one(
                "ari.password".into(),
                "ari.password",
                "missing: set DIALFLOW_ARI_PASSWORD (or ari.password)".into(),
            )),
        }
    }

    pub fn timeout_ms(&self) -> u64 {
        self.ari.timeout.as_millis() as u64
    }

    pub fn classify_timeout_ms(&self) -> u64 {
        self.classify.timeout.as_millis() as u64
    }

    pub fn shutdown_grace_ms(&self) -> u64 {
        self.shutdown_grace.as_millis() as u64
    }

    /// The dial string for a number: the prefix applied by the server, never by a lead.
    pub fn dial_string(&self, number: &str) -> String {
        self.dial_string_with(&self.dial.prefix, number)
    }

    /// The dial string with a campaign's own prefix: `{number}` is the prefix and the
    /// number's digits (an E.164 number's `+` dropped, as trunks expect), `{e164}` the
    /// number as stored.
    pub fn dial_string_with(&self, prefix: &str, number: &str) -> String {
        let digits = number.strip_prefix('+').unwrap_or(number);
        self.dial
            .template
            .replace("{number}", &format!("{prefix}{digits}"))
            .replace("{e164}", number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "ari:\n  url: http://127.0.0.1:8088\n  user: dialflow\noperators:\n  sales: PJSIP/1000\ndial:\n  template: PJSIP/{number}@trunk\n  prefix: \"9\"\n";

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    const PASSWORD: &[(&str, &str)] = &[("DIALFLOW_ARI_PASSWORD", "x")];

    /// The places of the problems the text (after `FILE`) has.
    fn places(text: &str, vars: &'static [(&'static str, &'static str)]) -> Vec<String> {
        let e = Config::parse("d.yaml", &format!("{FILE}{text}"), env(vars)).unwrap_err();
        e.problems.into_iter().map(|p| p.place).collect()
    }

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../../dialflow.example.yaml");
        let c = Config::parse("dialflow.example.yaml", text, env(PASSWORD)).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8099");
        assert_eq!(c.ari.timeout, Duration::from_secs(10));
        assert_eq!(c.shutdown_grace, Duration::from_secs(30));
    }

    #[test]
    fn the_panel_takes_its_secret_from_the_variable_it_names() {
        let text = format!("{FILE}panel:\n  url: http://panel.test/r\n  secret_env: PANEL_KEY\n");
        let c = Config::parse("d.yaml", &text, env(&[("PANEL_KEY", "k1")])).unwrap();
        let panel = c.panel.unwrap();
        assert_eq!(panel.url, "http://panel.test/r");
        assert_eq!(panel.secret.as_deref(), Some("k1"));
        assert_eq!(panel.concurrency, 8);
        let c = Config::parse("d.yaml", FILE, env(&[("DIALFLOW_PANEL_URL", "http://p/")])).unwrap();
        assert_eq!(c.panel.unwrap().url, "http://p/");
    }

    #[test]
    fn a_bad_panel_names_each_key_and_line() {
        assert_eq!(
            places(
                "panel:\n  url: ftp://x\n  concurrency: 0\n  secret: inline\n",
                PASSWORD
            ),
            [
                "d.yaml:12:3 (panel.secret)",
                "d.yaml:10:3 (panel.url)",
                "d.yaml:11:3 (panel.concurrency)"
            ]
        );
    }

    #[test]
    fn a_bad_alert_template_names_its_key_file_line_and_template_line() {
        let text = "alerts:\n  url: http://sms.test/send\n  template: |\n    {\"to\": \"+98912\",\n     \"text\": \"{{ campaign \"}\n";
        let e = Config::parse("d.yaml", &format!("{FILE}{text}"), env(PASSWORD)).unwrap_err();
        let problem = &e.problems[0];
        assert_eq!(problem.place, "d.yaml:11:3 (alerts.template)");
        assert!(
            problem.message.starts_with("line 2 of the template"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn alerts_default_to_five_minutes_thirty_seconds_and_the_old_webhook_key_still_works() {
        let text = format!("{FILE}alert_webhook: http://hook.test/a\n");
        let vars = [
            ("DIALFLOW_ARI_PASSWORD", "pw"),
            ("DIALFLOW_ALERTS_SECRET", "s1"),
        ];
        let c = Config::parse("d.yaml", &text, |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap();
        let alerts = c.alerts.unwrap();
        assert_eq!(alerts.url, "http://hook.test/a");
        assert_eq!(alerts.every, Duration::from_secs(300));
        assert_eq!(alerts.unreachable_after, Duration::from_secs(30));
        assert_eq!(alerts.backlog_after, Duration::from_secs(300));
        assert_eq!(alerts.secret.as_deref(), Some("s1"));
    }

    #[test]
    fn break_reasons_default_and_a_bad_list_names_its_key_and_line() {
        let c = Config::parse("d.yaml", FILE, env(PASSWORD)).unwrap();
        assert_eq!(c.agents, AgentsConfig::default());
        assert_eq!(
            places("agents:\n  break_reasons: [lunch, Nap time]\n", PASSWORD),
            ["d.yaml:10:3 (agents.break_reasons)"]
        );
    }

    #[test]
    fn a_bad_listen_address_names_the_key_and_line() {
        assert_eq!(
            places("listen: nowhere\n", PASSWORD),
            ["d.yaml:9:1 (listen)"]
        );
    }

    #[test]
    fn reads_the_file_and_the_environment() {
        let c = Config::parse(
            "d.yaml",
            FILE,
            env(&[
                ("DIALFLOW_ARI_PASSWORD", "s3cret"),
                ("DIALFLOW_MAX_CONCURRENT", "40"),
                ("DIALFLOW_SHUTDOWN_GRACE", "1.5s"),
            ]),
        )
        .unwrap();
        assert_eq!(c.ari.password.as_deref(), Some("s3cret"));
        assert_eq!(c.max_concurrent, 40);
        assert_eq!(c.ari.max_connections, 40, "the default");
        assert_eq!(c.shutdown_grace, Duration::from_millis(1500));
        assert_eq!(c.dial_string("5551234"), "PJSIP/95551234@trunk");
        assert_eq!(c.operators["sales"], "PJSIP/1000");
        let c = Config::parse(
            "d.yaml",
            FILE,
            env(&[
                ("DIALFLOW_ARI_PASSWORD", "x"),
                ("DIALFLOW_ARI_MAX_CONNECTIONS", "12"),
                ("DIALFLOW_OPERATORS", "sales=PJSIP/2000, support=PJSIP/3000"),
            ]),
        )
        .unwrap();
        assert_eq!(c.operators["support"], "PJSIP/3000");
        assert_eq!(c.ari.max_connections, 12);
        assert_eq!(
            places("", &[("DIALFLOW_OPERATORS", "sales")]),
            ["DIALFLOW_OPERATORS (sets operators)"]
        );
    }

    #[test]
    fn the_ari_flags_default_and_take_true_or_false_from_the_environment() {
        let c = Config::parse("d.yaml", FILE, env(PASSWORD)).unwrap();
        assert!(
            c.ari.event_filter && !c.ari.rest_over_websocket,
            "the defaults"
        );
        let c = Config::parse(
            "d.yaml",
            FILE,
            env(&[
                ("DIALFLOW_ARI_PASSWORD", "x"),
                ("DIALFLOW_ARI_EVENT_FILTER", "false"),
                ("DIALFLOW_ARI_REST_OVER_WEBSOCKET", "true"),
            ]),
        )
        .unwrap();
        assert!(!c.ari.event_filter && c.ari.rest_over_websocket);
        let refused = |vars: &'static [(&'static str, &'static str)]| {
            let e = Config::parse("d.yaml", FILE, env(vars)).unwrap_err();
            let [problem] = e.problems.as_slice() else {
                panic!("{e}")
            };
            assert!(
                problem.message.contains("`yes` is neither true nor false"),
                "{e}"
            );
            problem.place.clone()
        };
        assert_eq!(
            refused(&[("DIALFLOW_ARI_EVENT_FILTER", "yes")]),
            "DIALFLOW_ARI_EVENT_FILTER (sets ari.event_filter)"
        );
        assert_eq!(
            refused(&[("DIALFLOW_ARI_REST_OVER_WEBSOCKET", "yes")]),
            "DIALFLOW_ARI_REST_OVER_WEBSOCKET (sets ari.rest_over_websocket)"
        );
    }

    #[test]
    fn reads_the_classification_providers() {
        let text = format!(
            "{FILE}classify:\n  stt: {{kind: openai, base_url: 'http://stt', model: whisper-1, language: fa}}\n  intent: {{kind: llm, base_url: 'http://llm', model: m}}\n  timeout: 6s\n"
        );
        let c = Config::parse("d.yaml", &text, env(PASSWORD)).unwrap();
        assert!(
            matches!(c.classify.stt, SttConfig::Openai { ref model, .. } if model == "whisper-1")
        );
        assert!(matches!(c.classify.intent, IntentConfig::Llm { .. }));
        assert_eq!(c.classify_timeout_ms(), 6000);
        let bad = format!("{FILE}classify:\n  stt: {{kind: carrier_pigeon}}\n");
        let e = Config::parse("d.yaml", &bad, env(PASSWORD)).unwrap_err();
        assert!(e.to_string().contains("carrier_pigeon"), "{e}");
        let raw = format!(
            "{FILE}classify:\n  stt: {{kind: http, url: 'http://s', upload: raw, transcript_path: t}}\n"
        );
        let c = Config::parse("d.yaml", &raw, env(PASSWORD)).unwrap();
        assert!(matches!(
            c.classify.stt,
            SttConfig::Http {
                upload: Upload::Raw,
                ..
            }
        ));
    }

    #[test]
    fn an_unknown_upload_is_refused_naming_the_allowed_ones() {
        let text = "classify:\n  stt:\n    kind: http\n    url: 'http://s'\n    upload: rwa\n    transcript_path: t\n";
        let e = Config::parse("d.yaml", &format!("{FILE}{text}"), env(PASSWORD)).unwrap_err();
        let [problem] = e.problems.as_slice() else {
            panic!("{e}")
        };
        assert!(problem.place.starts_with("d.yaml:13:"), "{e}");
        assert_eq!(problem.key, "classify.stt.upload", "{e}");
        assert!(problem.message.contains("`rwa`"), "{e}");
        assert!(
            problem.message.contains("raw") && problem.message.contains("multipart"),
            "{e}"
        );
    }

    #[test]
    fn relative_paths_are_read_from_the_files_folder() {
        let dir = std::env::temp_dir().join(format!("dialflow-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("dialflow.yaml");
        let ca = rcgen::generate_simple_self_signed(vec!["pbx.example".into()]).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.cert.pem()).unwrap();
        std::fs::write(
            &file,
            format!("{FILE}store: data/s.redb\nprompts: /srv/prompts\ntls: {{ca_file: ca.pem}}\n"),
        )
        .unwrap();
        let c = Config::load(&file, env(&[])).unwrap();
        assert_eq!(c.store, dir.join("data/s.redb"));
        assert_eq!(c.tls.ca_file, Some(dir.join("ca.pem")));
        assert_eq!(c.prompts, PathBuf::from("/srv/prompts"));
        assert_eq!(c.scenarios, dir.join("scenarios"), "defaults too");
        let c = Config::load(&file, env(&[("DIALFLOW_STORE", "here.redb")])).unwrap();
        assert_eq!(
            c.store,
            PathBuf::from("here.redb"),
            "the environment's as given"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_ca_file_that_cannot_be_used_names_the_key_and_line() {
        let e = Config::parse(
            "d.yaml",
            &format!("{FILE}tls:\n  ca_file: /nonexistent/ca.pem\n"),
            env(PASSWORD),
        )
        .unwrap_err();
        let [problem] = e.problems.as_slice() else {
            panic!("{e}")
        };
        assert_eq!(problem.place, "d.yaml:10:3 (tls.ca_file)");
        assert!(problem.message.contains("/nonexistent/ca.pem"), "{e}");
        assert_eq!(
            places("", &[("DIALFLOW_TLS_CA_FILE", "/nonexistent/ca.pem")]),
            ["DIALFLOW_TLS_CA_FILE (sets tls.ca_file)"]
        );
        let c = Config::parse("d.yaml", FILE, env(PASSWORD)).unwrap();
        assert_eq!(c.tls.ca_file, None, "system roots only by default");
    }

    #[test]
    fn names_the_key_of_every_mistake() {
        let c = Config::parse("d.yaml", FILE, env(&[])).unwrap();
        assert_eq!(
            c.ari_password().unwrap_err().problems[0].key,
            "ari.password"
        );
        let e = Config::parse(
            "d.yaml",
            &format!("{FILE}classify:\n  timeout: eight\n"),
            env(&[]),
        )
        .unwrap_err();
        assert!(e.problems[0].place.starts_with("d.yaml:10:"), "{e}");
        assert_eq!(e.problems[0].key, "classify.timeout", "{e}");
        assert_eq!(
            places("classify:\n  timeout: 0s\n", &[]),
            ["d.yaml:10:3 (classify.timeout)"]
        );
        let zero = FILE.replace("ari:\n", "ari:\n  timeout: 0s\n");
        let e = Config::parse("d.yaml", &zero, env(&[])).unwrap_err();
        assert_eq!(e.problems[0].place, "d.yaml:2:3 (ari.timeout)");
        let none = FILE.replace("ari:\n", "ari:\n  max_connections: 0\n");
        let e = Config::parse("d.yaml", &none, env(&[])).unwrap_err();
        assert_eq!(e.problems[0].place, "d.yaml:2:3 (ari.max_connections)");
        assert_eq!(
            places("", &[("DIALFLOW_ARI_MAX_CONNECTIONS", "0")]),
            ["DIALFLOW_ARI_MAX_CONNECTIONS (sets ari.max_connections)"]
        );
        assert_eq!(
            places("", &[("DIALFLOW_MAX_CONCURRENT", "lots")]),
            ["DIALFLOW_MAX_CONCURRENT (sets max_concurrent)"]
        );
        let e = Config::parse(
            "d.yaml",
            "ari:\n  url: x\n  user: u\n  pasword: p\n",
            env(&[]),
        )
        .unwrap_err();
        let places: Vec<_> = e.problems.iter().map(|p| p.place.as_str()).collect();
        assert_eq!(places, ["d.yaml:4:3 (ari.pasword)", "d.yaml:2:3 (ari.url)"]);
        assert!(
            e.problems[0].message.starts_with(
                "unknown field `pasword`, expected one of app, event_filter, learn_capacity, max_connections, password, rest_over_websocket, timeout, url, user"
            ),
            "{e}"
        );
        // A value from the environment is blamed on its variable, not on the file.
        let e = Config::parse("d.yaml", FILE, env(&[("DIALFLOW_ARI_URL", "ftp://x")])).unwrap_err();
        assert_eq!(e.problems[0].place, "DIALFLOW_ARI_URL (sets ari.url)");
    }

    #[test]
    fn every_value_of_the_wrong_type_is_reported_not_only_the_first() {
        // FILE ends at line 8: these are lines 9 to 12.
        let text = "max_concurrent: lots\nshutdown_grace: soon\nclassify:\n  timeout: [1]\n";
        let e = Config::parse("d.yaml", &format!("{FILE}{text}"), env(&[])).unwrap_err();
        let keys: Vec<_> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["max_concurrent", "shutdown_grace", "classify.timeout"],
            "{e}"
        );
        let places: Vec<_> = e.problems.iter().map(|p| p.place.as_str()).collect();
        assert_eq!(
            places,
            [
                "d.yaml:9:17 (max_concurrent)",
                "d.yaml:10:1 (shutdown_grace)",
                "d.yaml:12:3 (classify.timeout)"
            ],
            "{e}"
        );
        assert!(e.problems[1].message.contains("soon"), "{e}");
        // Not YAML at all: the reader's one error.
        let e = Config::parse("d.yaml", "ari: {url: x\n", env(&[])).unwrap_err();
        assert_eq!(e.problems.len(), 1, "{e}");
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_key_and_line() {
        let text =
            "listen: nowhere\nmax_concurent: 4\nclassify:\n  keep_recording: true\n  timeout: 0s\n";
        let vars = &[
            ("DIALFLOW_DIAL_TEMPLATE", "PJSIP/trunk"),
            ("DIALFLOW_ARI_TIMEOUT", "soon"),
        ];
        assert_eq!(
            places(text, vars),
            [
                "d.yaml:10:1 (max_concurent)",
                "d.yaml:12:3 (classify.keep_recording)",
                "DIALFLOW_ARI_TIMEOUT (sets ari.timeout)",
                "d.yaml:9:1 (listen)",
                "DIALFLOW_DIAL_TEMPLATE (sets dial.template)",
                "d.yaml:13:3 (classify.timeout)",
            ]
        );
        let e = Config::parse("d.yaml", &format!("{FILE}{text}"), env(vars)).unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.starts_with("6 problems\n  d.yaml:10:1 (max_concurent): unknown field"),
            "{shown}"
        );
        assert!(
            shown.contains("DIALFLOW_ARI_TIMEOUT (sets ari.timeout): `soon` has an unknown unit"),
            "{shown}"
        );
    }
}
