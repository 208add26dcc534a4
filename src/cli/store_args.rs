//! Finding and opening the store for the commands that work on campaigns, leads, DNC
//! lists and attempts: `--store`, else the configuration's `store`, else the default.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::config::Config;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The configuration file (its `store` and `scenarios` are used when present).
    #[arg(long, default_value = "dialflow.yaml", global = true)]
    pub config: PathBuf,
    /// The store file, overriding the configuration.
    #[arg(long, value_name = "FILE", global = true)]
    pub store: Option<PathBuf>,
}

impl StoreArgs {
    /// The configuration, when the file exists (an invalid one is an error).
    pub fn config(&self) -> Result<Option<Config>, String> {
        if !self.config.exists() {
            return Ok(None);
        }
        Config::load(&self.config, |k| std::env::var(k).ok())
            .map(Some)
            .map_err(|e| format!("configuration: {e}"))
    }

    pub fn store_path(&self) -> Result<PathBuf, String> {
        if let Some(p) = &self.store {
            return Ok(p.clone());
        }
        if let Ok(p) = std::env::var("DIALFLOW_STORE") {
            return Ok(PathBuf::from(p));
        }
        Ok(match self.config()? {
            Some(c) => c.store,
            None => PathBuf::from("data/dialflow.redb"),
        })
    }

    /// The scenarios folder: the configuration's, else `scenarios`.
    pub fn scenarios_dir(&self) -> Result<PathBuf, String> {
        Ok(self
            .config()?
            .map_or_else(|| PathBuf::from("scenarios"), |c| c.scenarios))
    }

    pub fn open(&self) -> Result<Store, String> {
        let path = self.store_path()?;
        Store::open(&path).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The store itself, or, when a running `dialflow run` holds it, that daemon's API.
    /// Only a command that `creates` data may create the store file: a read from the
    /// wrong folder says so instead of reporting an empty store it just made.
    pub fn access(&self, creates: bool) -> Result<Access, String> {
        let path = self.store_path()?;
        if !creates && !path.exists() {
            return Err(format!(
                "no store at {}: create a campaign first, or name the store with --store \
                 or --config",
                path.display()
            ));
        }
        match Store::open(&path) {
            Ok(store) => Ok(Access::Local(store)),
            Err(StoreError::InUse(_)) => {
                // Where the daemon says it serves (a port it let the system pick),
                // else where the configuration says it listens.
                let listen = match crate::daemon::served_address(&path) {
                    Some(addr) => addr.to_string(),
                    None => self
                        .config()?
                        .map_or_else(|| "127.0.0.1:8099".to_string(), |c| c.listen),
                };
                if listen.is_empty() {
                    return Err(format!(
                        "{} is in use by a running dialflow, and its HTTP API is off (`listen`)",
                        path.display()
                    ));
                }
                let api = Api::new(&listen)?;
                let status = api.get::<serde_json::Value>("/api/status").map_err(|e| {
                    format!(
                        "{} is in use by a running dialflow, and its API at {listen} does not answer: {e}",
                        path.display()
                    )
                })?;
                // The daemon listening there must hold this very store.
                let ours = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                let theirs = status["store"].as_str().unwrap_or_default();
                if std::path::Path::new(theirs) != ours {
                    return Err(format!(
                        "{} is in use by another process; the dialflow at {listen} holds {theirs}",
                        path.display()
                    ));
                }
                Ok(Access::Daemon(api))
            }
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

/// Where a command does its work.
pub enum Access {
    Local(Store),
    /// The running daemon's API.
    Daemon(Api),
}

/// How long a change may take: one transaction over a whole campaign (recycle, cancel,
/// stop) can run for minutes on millions of leads, and giving up early would report a
/// failure for a change the daemon still makes.
const CHANGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// A small client of the daemon's HTTP API, for the commands (blocking).
pub struct Api {
    base: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Api {
    pub fn new(listen: &str) -> Result<Api, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Api {
            base: format!("http://{listen}"),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(|e| e.to_string())?,
            rt,
        })
    }

    pub fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        self.call(self.http.get(format!("{}{path}", self.base)))
    }

    pub fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, String> {
        self.change(reqwest::Method::POST, path, body)
    }

    /// Copies a response body (an export) to `out`.
    pub fn download(&self, path: &str, mut out: impl std::io::Write) -> Result<(), String> {
        self.rt.block_on(async {
            let mut response = self
                .http
                .get(format!("{}{path}", self.base))
                // An export of millions of attempts into a slow pipe takes its time.
                .timeout(std::time::Duration::from_secs(24 * 3600))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                let status = response.status();
                let bytes = response.bytes().await.unwrap_or_default();
                return Err(daemon_error(status, &bytes));
            }
            while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
                out.write_all(&chunk)
                    .map_err(|e| format!("cannot write the export: {e}"))?;
            }
            out.flush()
                .map_err(|e| format!("cannot write the export: {e}"))
        })
    }

    /// Sends a file as the body of a POST, streamed.
    pub fn upload<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        file: &std::path::Path,
    ) -> Result<T, String> {
        // Streamed from the file: a lead list of gigabytes never sits in memory.
        let body = self.rt.block_on(async {
            tokio::fs::File::open(file)
                .await
                .map_err(|e| format!("cannot read {}: {e}", file.display()))
        })?;
        self.call(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", "text/csv")
                .timeout(std::time::Duration::from_secs(3600))
                .body(body),
        )
    }

    pub fn put<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, String> {
        self.change(reqwest::Method::PUT, path, body)
    }

    /// A request that changes something, with its JSON body and the long timeout.
    fn change<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, String> {
        self.call(
            self.http
                .request(method, format!("{}{path}", self.base))
                .timeout(CHANGE_TIMEOUT)
                .json(body),
        )
    }

    /// `POST /api/campaigns/{name}/{action}`.
    pub fn act(&self, name: &str, action: &str) -> Result<crate::store::CampaignRecord, String> {
        let path = campaign_url(name, &format!("/{action}"))?;
        self.call(
            self.http
                .post(format!("{}{path}", self.base))
                .timeout(CHANGE_TIMEOUT),
        )
    }

    fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, String> {
        self.rt.block_on(async {
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            let bytes = response.bytes().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(daemon_error(status, &bytes));
            }
            serde_json::from_slice(&bytes).map_err(|e| format!("unexpected answer: {e}"))
        })
    }
}

/// The message of a refusal: the API's `{"error": …}`, else whatever text came with
/// the status (a body-size or JSON rejection from the HTTP layer).
fn daemon_error(status: reqwest::StatusCode, body: &[u8]) -> String {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if let Some(message) = json["error"].as_str() {
        return message.to_string();
    }
    let text = String::from_utf8_lossy(body);
    match text.trim() {
        "" => format!("the daemon answered {status}"),
        text => format!("the daemon answered {status}: {text}"),
    }
}

/// `/api/campaigns/{name}{rest}`, once `name` is a valid campaign name: a name is a path
/// segment, and `spring?x` must not reach the campaign `spring`.
pub fn campaign_url(name: &str, rest: &str) -> Result<String, String> {
    crate::store::campaigns::check_name(name).map_err(|e| e.to_string())?;
    Ok(format!("/api/campaigns/{name}{rest}"))
}

/// Now, in Unix milliseconds (the commands run in real time).
pub fn now_ms() -> u64 {
    jiff::Timestamp::now().as_millisecond().max(0) as u64
}

/// A time for people: RFC 3339 in UTC.
pub fn show_ms(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// The scenario `name`'s file in `dir`, as the daemon finds it (`NAME.yaml`, else
/// `NAME.yml`); `NAME.yaml` when there is neither, for the message that says so.
pub fn scenario_file(dir: &Path, name: &str) -> PathBuf {
    crate::scenario_set::file_of(dir, name).unwrap_or_else(|| dir.join(format!("{name}.yaml")))
}
