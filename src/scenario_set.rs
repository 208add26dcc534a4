//! The scenarios a daemon serves, by name (a file's stem, which campaigns refer to):
//! compiled from one folder and shared by the dialer, the HTTP API and the daemon's
//! reload, which swaps the whole set at once. A call keeps the `Arc<Scenario>` it
//! started with, so a swap never changes a live call.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::core::compile::Compiled;
use crate::core::scenario::Scenario;
use crate::load::{self, FileText, LoadOptions};

/// Compiled scenarios by name.
pub type ScenarioSet = BTreeMap<String, Arc<Scenario>>;

/// The set being served now; readers take a snapshot, a reload replaces it whole.
#[derive(Clone, Default)]
pub struct SharedScenarios(Arc<ArcSwap<ScenarioSet>>);

impl SharedScenarios {
    pub fn new(set: ScenarioSet) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(set)))
    }

    /// The set as it is now (cheap: no lock, no copy).
    pub fn current(&self) -> Arc<ScenarioSet> {
        self.0.load_full()
    }

    /// One scenario of the current set.
    pub fn get(&self, name: &str) -> Option<Arc<Scenario>> {
        self.0.load().get(name).cloned()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.load().contains_key(name)
    }

    /// Serves `set` from now on.
    pub fn replace(&self, set: ScenarioSet) {
        self.0.store(Arc::new(set));
    }
}

impl From<ScenarioSet> for SharedScenarios {
    fn from(set: ScenarioSet) -> Self {
        Self::new(set)
    }
}

/// The texts each scenario of a set was compiled from, by name (`FolderLoad::texts`).
pub type StartTexts = BTreeMap<String, Vec<FileText>>;

/// What compiling a folder gave: the scenarios that compile, and every file's
/// diagnostics (warnings of good files included) for whoever shows them.
pub struct FolderLoad {
    pub scenarios: ScenarioSet,
    /// The texts each compiled scenario was made from (its file, then its hook scripts).
    pub texts: StartTexts,
    /// Files with diagnostics, in name order: `scenario` is `None` where they failed.
    pub reports: Vec<(PathBuf, Compiled)>,
}

impl FolderLoad {
    /// The files that do not compile.
    pub fn failed(&self) -> impl Iterator<Item = &(PathBuf, Compiled)> {
        self.reports.iter().filter(|(_, c)| c.scenario.is_none())
    }
}

/// The folder could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the scenarios folder {}: {source}", dir.display())]
pub struct FolderError {
    pub dir: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Compiles every `.yaml` and `.yml` file of `dir` (not its sub-folders).
pub fn load_folder(dir: &Path, options: &LoadOptions) -> Result<FolderLoad, FolderError> {
    let entries = std::fs::read_dir(dir).map_err(|source| FolderError {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_scenario_file(p))
        .collect();
    files.sort();
    let mut out = FolderLoad {
        scenarios: ScenarioSet::new(),
        texts: BTreeMap::new(),
        reports: Vec::new(),
    };
    for file in files {
        let Some(stem) = file.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        let (compiled, texts) = load::compile_file_keeping_texts(&file, options);
        if let Some(scenario) = &compiled.scenario {
            out.scenarios.insert(stem.clone(), Arc::clone(scenario));
            out.texts.insert(stem, texts);
        }
        if !compiled.diagnostics.is_empty() || compiled.scenario.is_none() {
            out.reports.push((file, compiled));
        }
    }
    Ok(out)
}

/// The hook scripts the scenario files of `dir` name (their `script:` paths, relative
/// to the scenario file, so they may lie outside the folder), whether or not the
/// scenarios compile: what a watch on the folder must watch besides. Only the names
/// are read, nothing is compiled.
pub fn hook_scripts(dir: &Path) -> BTreeSet<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_scenario_file(p))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|text| crate::core::compile::references(&text).scripts)
        .map(|script| dir.join(script))
        .collect()
}

/// Whether a path names a scenario file (what the daemon loads and campaigns name).
pub fn is_scenario_file(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "yaml" || x == "yml")
}

/// The file of scenario `name` in `dir`: `NAME.yaml`, else `NAME.yml`.
pub fn file_of(dir: &Path, name: &str) -> Option<PathBuf> {
    ["yaml", "yml"]
        .iter()
        .map(|ext| dir.join(format!("{name}.{ext}")))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_set_leaves_a_taken_snapshot_alone() {
        let shared = SharedScenarios::default();
        let before = shared.current();
        let scenario =
            load::compile_file(Path::new("scenarios/salehi.yaml"), &LoadOptions::default())
                .scenario
                .expect("salehi compiles");
        shared.replace(ScenarioSet::from([("salehi".into(), scenario)]));
        assert!(
            before.is_empty(),
            "a snapshot is never changed under its reader"
        );
        assert!(shared.contains("salehi"));
        assert!(shared.get("other").is_none());
    }

    #[test]
    fn both_extensions_are_scenario_files() {
        let dir = std::env::temp_dir().join(format!("dialflow-set-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.yml"), "x").unwrap();
        std::fs::write(dir.join("a.yaml"), "x").unwrap();
        assert_eq!(file_of(&dir, "b"), Some(dir.join("b.yml")));
        assert_eq!(file_of(&dir, "a"), Some(dir.join("a.yaml")));
        assert_eq!(file_of(&dir, "c"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
