//! `dialflow.yaml`: where Asterisk is, how to dial, the logical names scenarios use
//! (operators, caller ids), and where files live. Every value can be overridden from the
//! environment (`DIALFLOW_ARI_PASSWORD`, …); a bad value is an error naming its key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::core::expr::parse_duration_ms;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
    #[serde(default = "default_grace")]
    pub shutdown_grace: String,
    #[serde(default)]
    pub classify: ClassifyConfig,
    /// Where alerts go (a campaign paused itself): each is POSTed as JSON
    /// `{campaign, message, at}`. They are also kept in the store and logged.
    #[serde(default)]
    pub alert_webhook: Option<String>,
    /// Where `dialflow run` serves its HTTP API (campaign control while it holds the
    /// store; the commands use it then). `""` turns it off.
    #[serde(default = "default_listen")]
    pub listen: String,
}

/// How recorded answers become intents.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyConfig {
    #[serde(default)]
    pub stt: SttConfig,
    #[serde(default)]
    pub intent: IntentConfig,
    /// The whole budget of one classification (fetch, speech-to-text, intent).
    #[serde(default = "default_classify_timeout")]
    pub timeout: String,
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

fn default_classify_timeout() -> String {
    "8s".into()
}

/// The speech-to-text provider. API keys come from the environment
/// (`DIALFLOW_STT_API_KEY`), never from the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
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
        /// `raw` (the WAV as the body) or `multipart`.
        #[serde(default = "default_upload")]
        upload: String,
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

fn default_upload() -> String {
    "multipart".into()
}
fn default_field() -> String {
    "file".into()
}

/// The intent classifier. The LLM's key comes from `DIALFLOW_LLM_API_KEY`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum IntentConfig {
    /// The scenario's keywords and patterns, then built-in cues.
    #[default]
    Rules,
    /// An OpenAI-compatible chat-completions model, constrained to the scenario's intents;
    /// the rules take over when it fails.
    Llm { base_url: String, model: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
    #[serde(default = "default_timeout")]
    pub timeout: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
fn default_listen() -> String {
    "127.0.0.1:8099".into()
}
fn default_store() -> PathBuf {
    "data/dialflow.redb".into()
}
fn default_max_concurrent() -> usize {
    10
}
fn default_grace() -> String {
    "30s".into()
}
fn default_app() -> String {
    "dialflow".into()
}
fn default_timeout() -> String {
    "10s".into()
}
fn default_template() -> String {
    "PJSIP/{number}@trunk".into()
}
fn default_formats() -> String {
    "ulaw".into()
}

/// A configuration problem, naming the key (or variable) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {message}")]
pub struct ConfigError {
    pub place: String,
    pub message: String,
}

/// The environment variables that override keys of the file, and the key each sets.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("DIALFLOW_ARI_URL", "ari.url"),
    ("DIALFLOW_ARI_USER", "ari.user"),
    ("DIALFLOW_ARI_PASSWORD", "ari.password"),
    ("DIALFLOW_ARI_APP", "ari.app"),
    ("DIALFLOW_ARI_TIMEOUT", "ari.timeout"),
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
];

/// `name=value,name=value` (the environment's form of a map), replacing the file's map.
fn parse_map(value: &str) -> Result<BTreeMap<String, String>, String> {
    value
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(format!(
                "`{pair}` is not name=value (write e.g. sales=PJSIP/1000,support=PJSIP/2000)"
            )),
        })
        .collect()
}

impl Config {
    /// Reads the file, applies the environment, validates. Relative paths in the file
    /// (and the defaults) are read from the file's folder, so a command run from
    /// elsewhere finds the same store; paths from the environment are taken as given.
    pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            place: path.display().to_string(),
            message: e.to_string(),
        })?;
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
        let mut config: Config = serde_saphyr::from_str(text).map_err(|e| {
            let place = e.location().map_or(name.to_string(), |l| {
                format!("{name}:{}:{}", l.line(), l.column())
            });
            let message = e
                .to_string()
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string();
            ConfigError { place, message }
        })?;
        for path in [
            &mut config.scenarios,
            &mut config.prompts,
            &mut config.store,
        ] {
            if path.is_relative() {
                *path = folder.join(&*path);
            }
        }
        for (var, key) in ENV_KEYS {
            if let Some(value) = env(var) {
                config.set(key, value).map_err(|message| ConfigError {
                    place: format!("{var} (sets {key})"),
                    message,
                })?;
            }
        }
        config.validate()?;
        Ok(config)
    }

    fn set(&mut self, key: &str, value: String) -> Result<(), String> {
        match key {
            "ari.url" => self.ari.url = value,
            "ari.user" => self.ari.user = value,
            "ari.password" => self.ari.password = Some(value),
            "ari.app" => self.ari.app = value,
            "ari.timeout" => self.ari.timeout = value,
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
                    .map_err(|_| format!("`{value}` is not a whole number"))?;
            }
            "shutdown_grace" => self.shutdown_grace = value,
            "operators" => self.operators = parse_map(&value)?,
            "caller_ids" => self.caller_ids = parse_map(&value)?,
            "alert_webhook" => self.alert_webhook = Some(value),
            "listen" => self.listen = value,
            other => return Err(format!("`{other}` cannot be set from the environment")),
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let err = |place: &str, message: String| {
            Err(ConfigError {
                place: place.to_string(),
                message,
            })
        };
        if !self.listen.is_empty() && self.listen.parse::<std::net::SocketAddr>().is_err() {
            return err(
                "listen",
                format!("`{}` is not an address like 127.0.0.1:8099", self.listen),
            );
        }
        if let Some(url) = &self.alert_webhook
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return err(
                "alert_webhook",
                format!("`{url}` must start with http:// or https://"),
            );
        }
        if !(self.ari.url.starts_with("http://") || self.ari.url.starts_with("https://")) {
            return err(
                "ari.url",
                format!("`{}` must start with http:// or https://", self.ari.url),
            );
        }
        if self.ari.app.is_empty()
            || self
                .ari
                .app
                .contains(|c: char| c.is_whitespace() || c == ',')
        {
            return err(
                "ari.app",
                format!("`{}` is not a usable Stasis app name", self.ari.app),
            );
        }
        if !self.dial.template.contains("{number}") {
            return err(
                "dial.template",
                format!("`{}` has no {{number}} placeholder", self.dial.template),
            );
        }
        if !self
            .dial
            .prefix
            .chars()
            .all(|c| c.is_ascii_digit() || c == '+')
        {
            return err(
                "dial.prefix",
                format!("`{}` must be digits (or a leading +)", self.dial.prefix),
            );
        }
        if self.max_concurrent == 0 {
            return err("max_concurrent", "must be at least 1".into());
        }
        for (key, value, zero_allowed) in [
            ("ari.timeout", &self.ari.timeout, false),
            ("classify.timeout", &self.classify.timeout, false),
            ("shutdown_grace", &self.shutdown_grace, true),
        ] {
            let ms = parse_duration_ms(value).map_err(|m| ConfigError {
                place: key.into(),
                message: m.to_string(),
            })?;
            if ms == 0 && !zero_allowed {
                return err(key, format!("`{value}` leaves no time at all"));
            }
        }
        Ok(())
    }

    /// The ARI password, needed only by what talks to Asterisk (the store commands
    /// work without it).
    pub fn ari_password(&self) -> Result<&str, ConfigError> {
        match self.ari.password.as_deref() {
            Some(p) if !p.is_empty() => Ok(p),
            _ => Err(ConfigError {
                place: "ari.password".into(),
                message: "missing: set DIALFLOW_ARI_PASSWORD (or ari.password)".into(),
            }),
        }
    }

    pub fn timeout_ms(&self) -> u64 {
        parse_duration_ms(&self.ari.timeout).unwrap_or(10_000)
    }

    pub fn classify_timeout_ms(&self) -> u64 {
        parse_duration_ms(&self.classify.timeout).unwrap_or(8_000)
    }

    pub fn shutdown_grace_ms(&self) -> u64 {
        parse_duration_ms(&self.shutdown_grace).unwrap_or(30_000)
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

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../dialflow.example.yaml");
        let c = Config::parse(
            "dialflow.example.yaml",
            text,
            env(&[("DIALFLOW_ARI_PASSWORD", "x")]),
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:8099");
    }

    #[test]
    fn a_bad_listen_address_names_the_key() {
        let e = Config::parse(
            "d.yaml",
            &format!("{FILE}listen: nowhere\n"),
            env(&[("DIALFLOW_ARI_PASSWORD", "x")]),
        )
        .unwrap_err();
        assert_eq!(e.place, "listen");
    }

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn reads_the_file_and_the_environment() {
        let c = Config::parse(
            "d.yaml",
            FILE,
            env(&[
                ("DIALFLOW_ARI_PASSWORD", "s3cret"),
                ("DIALFLOW_MAX_CONCURRENT", "40"),
            ]),
        )
        .unwrap();
        assert_eq!(c.ari.password.as_deref(), Some("s3cret"));
        assert_eq!(c.max_concurrent, 40);
        assert_eq!(c.dial_string("5551234"), "PJSIP/95551234@trunk");
        assert_eq!(c.operators["sales"], "PJSIP/1000");
        let c = Config::parse(
            "d.yaml",
            FILE,
            env(&[
                ("DIALFLOW_ARI_PASSWORD", "x"),
                ("DIALFLOW_OPERATORS", "sales=PJSIP/2000, support=PJSIP/3000"),
            ]),
        )
        .unwrap();
        assert_eq!(c.operators["support"], "PJSIP/3000");
        let e = Config::parse(
            "d.yaml",
            FILE,
            env(&[
                ("DIALFLOW_ARI_PASSWORD", "x"),
                ("DIALFLOW_OPERATORS", "sales"),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.place, "DIALFLOW_OPERATORS (sets operators)");
    }

    #[test]
    fn reads_the_classification_providers() {
        let text = format!(
            "{FILE}classify:\n  stt: {{kind: openai, base_url: 'http://stt', model: whisper-1, language: fa}}\n  intent: {{kind: llm, base_url: 'http://llm', model: m}}\n  timeout: 6s\n"
        );
        let c = Config::parse("d.yaml", &text, env(&[("DIALFLOW_ARI_PASSWORD", "x")])).unwrap();
        assert!(
            matches!(c.classify.stt, SttConfig::Openai { ref model, .. } if model == "whisper-1")
        );
        assert!(matches!(c.classify.intent, IntentConfig::Llm { .. }));
        assert_eq!(c.classify_timeout_ms(), 6000);
        let bad = format!("{FILE}classify:\n  stt: {{kind: carrier_pigeon}}\n");
        let e = Config::parse("d.yaml", &bad, env(&[("DIALFLOW_ARI_PASSWORD", "x")])).unwrap_err();
        assert!(e.message.contains("carrier_pigeon"), "{e}");
    }

    #[test]
    fn relative_paths_are_read_from_the_files_folder() {
        let dir = std::env::temp_dir().join(format!("dialflow-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("dialflow.yaml");
        std::fs::write(
            &file,
            format!("{FILE}store: data/s.redb\nprompts: /srv/prompts\n"),
        )
        .unwrap();
        let c = Config::load(&file, env(&[])).unwrap();
        assert_eq!(c.store, dir.join("data/s.redb"));
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
    fn names_the_key_of_every_mistake() {
        let c = Config::parse("d.yaml", FILE, env(&[])).unwrap();
        assert_eq!(c.ari_password().unwrap_err().place, "ari.password");
        for (key, text) in [
            ("classify.timeout", "classify:\n  timeout: eight\n"),
            ("classify.timeout", "classify:\n  timeout: 0s\n"),
            ("ari.timeout", ""),
        ] {
            let text = if text.is_empty() {
                FILE.replace("ari:\n", "ari:\n  timeout: 0s\n")
            } else {
                format!("{FILE}{text}")
            };
            let e = Config::parse("d.yaml", &text, env(&[])).unwrap_err();
            assert_eq!(e.place, key, "{text}");
        }
        let e = Config::parse(
            "d.yaml",
            FILE,
            env(&[
                ("DIALFLOW_ARI_PASSWORD", "x"),
                ("DIALFLOW_MAX_CONCURRENT", "lots"),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.place, "DIALFLOW_MAX_CONCURRENT (sets max_concurrent)");
        let e = Config::parse(
            "d.yaml",
            "ari:\n  url: x\n  user: u\n  pasword: p\n",
            env(&[]),
        )
        .unwrap_err();
        assert!(e.place.starts_with("d.yaml:4:"), "{e}");
        assert!(e.message.contains("unknown field `pasword`"), "{e}");
        let e = Config::parse(
            "d.yaml",
            FILE,
            env(&[
                ("DIALFLOW_ARI_PASSWORD", "x"),
                ("DIALFLOW_ARI_URL", "ftp://x"),
            ]),
        )
        .unwrap_err();
        assert_eq!(e.place, "ari.url");
    }
}
