//! A reload: the scenarios folder compiled again, swapped in whole only when every
//! file compiles (a half-applied folder could leave a campaign without its scenario).

use std::path::{Path, PathBuf};

use crate::load::LoadOptions;
use crate::render;
use crate::scenario_set::{self, FolderError, SharedScenarios};

/// A reload that took effect: the scenarios served from now on, with their hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub scenarios: Vec<(String, String)>,
}

/// A reload that changed nothing, and why.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Folder(#[from] FolderError),
    /// Files that do not compile, each with its diagnostics as people read them.
    #[error("{} file(s) do not compile; the scenarios served are unchanged:\n{}", .0.len(), render_failures(.0))]
    DoesNotCompile(Vec<(PathBuf, String)>),
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

/// Compiles `dir` off the async threads and, when all of it compiles, serves it.
pub async fn reload(
    dir: &Path,
    options: &LoadOptions,
    served: &SharedScenarios,
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
        return Err(ReloadError::DoesNotCompile(failures));
    }
    let scenarios = loaded
        .scenarios
        .iter()
        .map(|(name, s)| (name.clone(), s.hash.short().to_string()))
        .collect();
    served.replace(loaded.scenarios);
    Ok(Reloaded { scenarios })
}
