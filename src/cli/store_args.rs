//! Finding and opening the store for the commands that work on campaigns, leads, DNC
//! lists and attempts: `--store`, else the configuration's `store`, else the default.

use std::path::{Path, PathBuf};

use clap::Args;

use super::error::CliError;
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
    pub fn config(&self) -> Result<Option<Config>, CliError> {
        if !self.config.exists() {
            return Ok(None);
        }
        Ok(Some(Config::load(&self.config, |k| std::env::var(k).ok())?))
    }

    pub fn store_path(&self) -> Result<PathBuf, CliError> {
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
    pub fn scenarios_dir(&self) -> Result<PathBuf, CliError> {
        Ok(self
            .config()?
            .map_or_else(|| PathBuf::from("scenarios"), |c| c.scenarios))
    }

    pub fn open(&self) -> Result<Store, CliError> {
        let path = self.store_path()?;
        Store::open(&path).map_err(|source| CliError::Store { path, source })
    }

    /// The store itself, or, when a running `dialflow run` holds it, that daemon's API.
    /// Only a command that `creates` data may create the store file: a read from the
    /// wrong folder says so instead of reporting an empty store it just made.
    pub fn access(&self, creates: bool) -> Result<Access, CliError> {
        let path = self.store_path()?;
        if !creates && !path.exists() {
            return Err(CliError::NoStore(path));
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
                    return Err(CliError::ApiOff(path));
                }
                let token = crate::http::auth::command_token(|k| std::env::var(k).ok(), &path);
                let api = Api::new(&listen, token)?;
                let status = match api.get::<serde_json::Value>("/api/status") {
                    Ok(status) => status,
                    Err(e @ (CliError::Unauthorized(_) | CliError::Daemon(_))) => return Err(e),
                    Err(e) => {
                        return Err(CliError::ApiSilent {
                            path,
                            listen,
                            source: Box::new(e),
                        });
                    }
                };
                // The daemon listening there must hold this very store.
                let ours = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                let theirs = status["store"].as_str().unwrap_or_default();
                if std::path::Path::new(theirs) != ours {
                    return Err(CliError::OtherDaemon {
                        path,
                        listen,
                        theirs: theirs.to_string(),
                    });
                }
                Ok(Access::Daemon(api))
            }
            Err(source) => Err(CliError::Store { path, source }),
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
    /// A client of the API at `listen`, sending `token` as its bearer token.
    pub fn new(listen: &str, token: Option<String>) -> Result<Api, CliError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CliError::Runtime)?;
        Ok(Api {
            base: format!("http://{listen}"),
            // The daemon's own API on this machine: plain http, but reqwest still
            // wants the TLS configuration every client is built with.
            http: crate::tls::http_client_builder(&*crate::tls::client_config(None)?)
                .timeout(std::time::Duration::from_secs(30))
                .default_headers(bearer_headers(token)?)
                .build()?,
            rt,
        })
    }

    pub fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.call(self.http.get(format!("{}{path}", self.base)))
    }

    pub fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, CliError> {
        self.change(reqwest::Method::POST, path, body)
    }

    /// Copies a response body (an export) to `out`.
    pub fn download(&self, path: &str, mut out: impl std::io::Write) -> Result<(), CliError> {
        self.rt.block_on(async {
            let mut response = self
                .http
                .get(format!("{}{path}", self.base))
                // An export of millions of attempts into a slow pipe takes its time.
                .timeout(std::time::Duration::from_secs(24 * 3600))
                .send()
                .await?;
            if !response.status().is_success() {
                let status = response.status();
                let bytes = response.bytes().await.unwrap_or_default();
                return Err(daemon_error(status, &bytes));
            }
            while let Some(chunk) = response.chunk().await? {
                out.write_all(&chunk).map_err(CliError::Export)?;
            }
            out.flush().map_err(CliError::Export)
        })
    }

    /// Sends a file as the body of a POST, streamed.
    pub fn upload<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        file: &std::path::Path,
    ) -> Result<T, CliError> {
        // Streamed from the file: a lead list of gigabytes never sits in memory.
        let body = self.rt.block_on(async {
            tokio::fs::File::open(file)
                .await
                .map_err(|source| CliError::Read {
                    path: file.to_path_buf(),
                    source,
                })
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
    ) -> Result<T, CliError> {
        self.change(reqwest::Method::PUT, path, body)
    }

    /// A request that changes something, with its JSON body and the long timeout.
    fn change<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, CliError> {
        self.call(
            self.http
                .request(method, format!("{}{path}", self.base))
                .timeout(CHANGE_TIMEOUT)
                .json(body),
        )
    }

    /// `POST /api/campaigns/{name}/{action}`.
    pub fn act(&self, name: &str, action: &str) -> Result<crate::store::CampaignRecord, CliError> {
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
    ) -> Result<T, CliError> {
        self.rt.block_on(async {
            let response = request.send().await?;
            let status = response.status();
            let bytes = response.bytes().await?;
            if !status.is_success() {
                return Err(daemon_error(status, &bytes));
            }
            serde_json::from_slice(&bytes).map_err(CliError::Answer)
        })
    }
}

/// The `Authorization` header every request carries (none without a token), marked
/// sensitive so no debug output of reqwest's shows it.
fn bearer_headers(token: Option<String>) -> Result<reqwest::header::HeaderMap, CliError> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| CliError::BadToken)?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    Ok(headers)
}

/// The message of a refusal: the API's `{"error": …}`, else whatever text came with
/// the status (a body-size or JSON rejection from the HTTP layer).
fn daemon_error(status: reqwest::StatusCode, body: &[u8]) -> CliError {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if let Some(message) = json["error"].as_str() {
        return match status.as_u16() {
            401 | 403 => CliError::Unauthorized(message.to_string()),
            _ => CliError::Daemon(message.to_string()),
        };
    }
    let text = String::from_utf8_lossy(body);
    CliError::Daemon(match text.trim() {
        "" => format!("the daemon answered {status}"),
        text => format!("the daemon answered {status}: {text}"),
    })
}

/// `/api/campaigns/{name}{rest}`, once `name` is a valid campaign name: a name is a path
/// segment, and `spring?x` must not reach the campaign `spring`.
pub fn campaign_url(name: &str, rest: &str) -> Result<String, CliError> {
    crate::store::campaigns::check_name(name)?;
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
