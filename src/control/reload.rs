//! A reload: the scenarios folder compiled again, swapped in whole only when every
//! file compiles (a half-applied folder could leave a campaign without its scenario).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Trigger;
use crate::load::LoadOptions;
use crate::render;
use crate::scenario_set::{self, FolderError, FolderLoad, ScenarioSet, SharedScenarios};
use crate::store::{NewVersion, Store};

/// A reload that took effect: the scenarios served from now on, with their hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub scenarios: Vec<(String, String)>,
    /// Scenarios whose file is gone from the folder, still served at their last good
    /// version: a campaign running one keeps dialing it rather than stopping mid-way.
    pub kept: Vec<String>,
    /// The scenarios served at an older version than their file's (here: those kept).
    pub stale: BTreeMap<String, Stale>,
}

/// A scenario served at its last good version rather than what its file says now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Stale {
    /// The full hash of the version served (the last good one).
    pub hash: String,
    pub why: StaleWhy,
    /// The diagnostics that keep the file out (`does_not_compile`, `held_back`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a scenario is served at its last good version.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StaleWhy {
    /// Its file is gone from the folder.
    FileGone,
    /// Its file no longer compiles.
    DoesNotCompile,
    /// Its file compiles to a new version, but another file of the folder does not,
    /// and a reload is whole or nothing.
    HeldBack,
}

/// A reload that changed nothing, and why.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Folder(#[from] FolderError),
    /// Files that do not compile, each with its diagnostics as people read them.
    #[error("{} file(s) do not compile; the scenarios served are unchanged:\n{}", .failures.len(), render_failures(.failures))]
    DoesNotCompile {
        failures: Vec<(PathBuf, String)>,
        /// The scenarios served, from now on, at an older version than their file's.
        stale: BTreeMap<String, Stale>,
    },
    #[error("the reload task failed: {0}")]
    Task(String),
    /// This run serves one scenario given on the command line, not a folder.
    #[error("this run serves one scenario from the command line: there is no folder to reload")]
    NoFolder,
}

fn render_failures(failures: &[(PathBuf, String)]) -> String {
    failures
        .iter()
        .map(|(path, text)| format!("{}:\n{text}", path.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Compiles `dir` off the async threads and, when all of it compiles, serves it; with
/// a store, records each scenario whose hash is new as a version loaded by `trigger`.
pub async fn reload(
    dir: &Path,
    options: &LoadOptions,
    served: &SharedScenarios,
    versions: Option<(&Arc<Store>, Trigger)>,
) -> Result<Reloaded, ReloadError> {
    let (dir, options) = (dir.to_path_buf(), options.clone());
    let loaded = tokio::task::spawn_blocking(move || scenario_set::load_folder(&dir, &options))
        .await
        .map_err(|e| ReloadError::Task(e.to_string()))??;
    let failures: Vec<(PathBuf, String)> = loaded
        .failed()
        .map(|(path, c)| {
            (
                path.clone(),
                render::human(&c.diagnostics, &c.sources, false),
            )
        })
        .collect();
    if !failures.is_empty() {
        let stale = staleness(&served.current(), &loaded, &failures);
        return Err(ReloadError::DoesNotCompile { failures, stale });
    }
    if let Some((store, trigger)) = versions {
        record_versions(store, &loaded, trigger).await;
    }
    let mut set = loaded.scenarios.clone();
    let mut kept = Vec::new();
    for (name, last_good) in served.current().iter() {
        if !set.contains_key(name) {
            tracing::warn!(scenario = %name, hash = %last_good.hash.short(), "its file is gone: the last good version keeps serving");
            set.insert(name.clone(), Arc::clone(last_good));
            kept.push(name.clone());
        }
    }
    let scenarios = set
        .iter()
        .map(|(name, s)| (name.clone(), s.hash.short().to_string()))
        .collect();
    let stale = staleness(&set, &loaded, &[]);
    served.replace(set);
    Ok(Reloaded {
        scenarios,
        kept,
        stale,
    })
}

/// The scenarios of `served` whose file, as `loaded` found it, is not what they serve:
/// gone, failing (with its diagnostics, from `failures`), or compiled to a new version
/// that the failures of other files hold back.
pub fn staleness(
    served: &ScenarioSet,
    loaded: &FolderLoad,
    failures: &[(PathBuf, String)],
) -> BTreeMap<String, Stale> {
    let failing = |name: &str| {
        failures
            .iter()
            .find(|(path, _)| path.file_stem().is_some_and(|s| s == name))
    };
    let all_failures = || render_failures(failures);
    served
        .iter()
        .filter_map(|(name, scenario)| {
            let (why, error) = match (loaded.scenarios.get(name), failing(name)) {
                (_, Some((_, text))) => (StaleWhy::DoesNotCompile, Some(text.clone())),
                (Some(now), None) if now.hash == scenario.hash => return None,
                (Some(_), None) => (StaleWhy::HeldBack, Some(all_failures())),
                (None, None) => (StaleWhy::FileGone, None),
            };
            let hash = scenario.hash.to_string();
            Some((name.clone(), Stale { hash, why, error }))
        })
        .collect()
}

/// Records the scenarios of `loaded` whose hash is new. A store that fails to record
/// is logged, not a reason to refuse the reload: the calls matter more than the history.
pub async fn record_versions(store: &Arc<Store>, loaded: &FolderLoad, trigger: Trigger) {
    let versions: Vec<NewVersion> = loaded
        .scenarios
        .iter()
        .map(|(name, scenario)| NewVersion {
            name: name.clone(),
            hash: scenario.hash.to_string(),
            files: loaded
                .texts
                .get(name)
                .map(|texts| {
                    texts
                        .iter()
                        .map(|t| (t.path.clone(), t.text.clone()))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    let store = Arc::clone(store);
    let now_ms = u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0);
    let recorded = tokio::task::spawn_blocking(move || {
        store.record_versions(&versions, trigger.as_str(), now_ms)
    })
    .await;
    match recorded {
        Ok(Ok(new)) => {
            for v in new {
                tracing::info!(scenario = %v.name, version = v.seq, hash = %v.hash, trigger = trigger.as_str(), "scenario version recorded");
            }
        }
        Ok(Err(e)) => tracing::error!(error = %e, "cannot record the scenario versions"),
        Err(e) => tracing::error!(error = %e, "the task recording scenario versions failed"),
    }
}
