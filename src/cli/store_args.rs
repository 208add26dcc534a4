//! Finding and opening the store for the commands that work on campaigns, leads, DNC
//! lists and attempts: `--store`, else the configuration's `store`, else the default.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::config::Config;
use crate::store::Store;

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

/// Whether `dir/<name>.yaml` exists.
pub fn scenario_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.yaml"))
}
