//! The watch on what the scenarios are made of (the scenarios folder with its hook
//! scripts, and the prompts folder): a change asks the daemon's loop for a reload
//! (`Control::Reload`, trigger `FileChange`), which serves the folder whole or not at
//! all.
//!
//! Changes are debounced (`DEBOUNCE` of quiet after the last change), so an editor's save (vim and VS Code write a
//! temporary file and rename it over the old one), a `git checkout` touching many files
//! or a deploy replacing the folder is one reload, not one per file event. Each folder's
//! parent is watched too: a folder replaced whole (a symlink swapped to a new release,
//! or removed and made again) is a change of its entry there, after which the watch
//! follows the folder the path names now.
//!
//! A hook script may lie outside the scenarios folder (`script: ../hooks/score.rhai`
//! is relative to the scenario file): the scripts the scenario files name are looked
//! up at the start and after every burst, and each one outside the folders is watched
//! through its own folder (not recursively), only its own events counting.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::control::{Control, Controller, Trigger};

/// Quiet time after the last file event before a reload: long enough to gather an
/// editor's save or a checkout, short enough that a new call runs an edit within a
/// quarter of a second.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// Why the watch could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {}: {source}", path.display())]
pub struct WatchError {
    pub path: PathBuf,
    #[source]
    pub source: notify::Error,
}

/// One watched folder: the path as configured, and which folder it named when its watch
/// was set (device and inode), to notice it being replaced.
struct Folder {
    path: PathBuf,
    identity: Option<(u64, u64)>,
}

/// The hook scripts outside the watched folders, and the folders watched for them.
#[derive(Default)]
struct Outside {
    /// The scenarios folder whose files name the scripts (`None`: no scripts looked up).
    scripts_of: Option<PathBuf>,
    /// Absolute, without `.` or `..`, as events name them.
    scripts: BTreeSet<PathBuf>,
    /// Watched (not recursively) for the scripts: none of the folders or their parents,
    /// which are watched already.
    parents: BTreeSet<PathBuf>,
}

/// The running watch; dropping it (or `stop`) ends it.
pub struct FileWatch {
    task: JoinHandle<()>,
}

impl FileWatch {
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for FileWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches `folders` (those that exist), and the hook scripts outside them that the
/// scenario files of `scripts_of` name, and asks `controller` for a reload after each
/// burst of changes.
pub fn start(
    folders: &[PathBuf],
    scripts_of: Option<PathBuf>,
    controller: Controller,
) -> Result<FileWatch, WatchError> {
    let (tx, rx) = mpsc::unbounded_channel::<notify::Result<Event>>();
    // The watcher calls back on a thread of its own: the channel carries it to the task.
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })
    .map_err(|source| WatchError {
        path: PathBuf::new(),
        source,
    })?;
    let mut watched = Vec::new();
    for path in folders {
        // Absolute (symlinks kept): events name files under the path as watched.
        let path = std::path::absolute(path).map_err(|e| WatchError {
            path: path.clone(),
            source: e.into(),
        })?;
        let mut folder = Folder {
            path,
            identity: None,
        };
        watch_parent(&mut watcher, &folder.path)?;
        rewatch(&mut watcher, &mut folder)?;
        watched.push(folder);
    }
    let mut outside = Outside {
        scripts_of,
        ..Outside::default()
    };
    follow_scripts(&mut watcher, &watched, &mut outside);
    let task = tokio::spawn(follow(watcher, watched, outside, rx, controller));
    Ok(FileWatch { task })
}

/// The folder's parent, not recursively: its entry being replaced is an event there.
fn watch_parent(watcher: &mut RecommendedWatcher, path: &Path) -> Result<(), WatchError> {
    let Some(parent) = path.parent().map(Path::to_path_buf) else {
        return Ok(()); // the root folder has no entry to replace
    };
    watcher
        .watch(&parent, RecursiveMode::NonRecursive)
        .map_err(|source| WatchError {
            path: parent,
            source,
        })
}

/// Watches the folder the path names now, if it changed (or vanished) since.
fn rewatch(watcher: &mut RecommendedWatcher, folder: &mut Folder) -> Result<(), WatchError> {
    let now = identity(&folder.path);
    if now == folder.identity {
        return Ok(());
    }
    if folder.identity.is_some() {
        // The old watch may be gone with its folder: nothing to undo then.
        let _ = watcher.unwatch(&folder.path);
    }
    folder.identity = now;
    if now.is_none() {
        return Ok(());
    }
    watcher
        .watch(&folder.path, RecursiveMode::Recursive)
        .map_err(|source| WatchError {
            path: folder.path.clone(),
            source,
        })
}

/// Looks up the hook scripts the scenario files name now, and watches the folders of
/// those outside `folders` (a folder that cannot be watched is logged: the script is
/// then seen only with the next change to the scenarios).
fn follow_scripts(watcher: &mut RecommendedWatcher, folders: &[Folder], outside: &mut Outside) {
    let Some(dir) = &outside.scripts_of else {
        return;
    };
    let Ok(dir) = std::path::absolute(dir) else {
        return;
    };
    let scripts: BTreeSet<PathBuf> = crate::scenario_set::hook_scripts(&dir)
        .iter()
        .map(|p| normalize(p))
        .filter(|p| !touches(folders, p))
        .collect();
    let taken: BTreeSet<&Path> = folders
        .iter()
        .flat_map(|f| [Some(f.path.as_path()), f.path.parent()])
        .flatten()
        .collect();
    let parents: BTreeSet<PathBuf> = scripts
        .iter()
        .filter_map(|p| p.parent())
        .filter(|p| !taken.contains(p) && p.is_dir())
        .map(Path::to_path_buf)
        .collect();
    for gone in outside.parents.difference(&parents) {
        let _ = watcher.unwatch(gone);
    }
    for new in parents.difference(&outside.parents) {
        if let Err(e) = watcher.watch(new, RecursiveMode::NonRecursive) {
            tracing::error!(folder = %new.display(), error = %e, "cannot watch a hook script's folder");
        }
    }
    if scripts != outside.scripts {
        tracing::info!(scripts = ?scripts, "hook scripts outside the scenarios folder watched");
    }
    outside.scripts = scripts;
    outside.parents = parents;
}

/// `path` made absolute, with `.` and `..` taken out by their names (as events name
/// files: the watch's path joined with the file's name).
fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The folder a path names (through symlinks): device and inode.
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| (m.dev(), m.ino()))
}

/// Reads the file events; after each burst that touched a folder (and then `DEBOUNCE`
/// of quiet), follows replaced folders and asks for a reload.
async fn follow(
    mut watcher: RecommendedWatcher,
    mut folders: Vec<Folder>,
    mut outside: Outside,
    mut events: mpsc::UnboundedReceiver<notify::Result<Event>>,
    controller: Controller,
) {
    while let Some(event) = events.recv().await {
        if !relevant(&folders, &outside.scripts, event) {
            continue;
        }
        // The burst goes on while events keep coming within `DEBOUNCE` of each other.
        while let Ok(Some(_)) = tokio::time::timeout(DEBOUNCE, events.recv()).await {}
        for folder in &mut folders {
            if let Err(e) = rewatch(&mut watcher, folder) {
                tracing::error!(error = %e, "cannot follow a replaced folder");
            }
        }
        follow_scripts(&mut watcher, &folders, &mut outside);
        tracing::info!("scenario files changed: reloading");
        let reload = Control::Reload {
            trigger: Trigger::FileChange,
            reply: None,
        };
        if controller.send(reload).is_err() {
            return;
        }
    }
}

/// Whether an event is a change to one of the folders or of the hook scripts outside
/// them (reads and opens are not: the reload itself opens every file).
fn relevant(folders: &[Folder], scripts: &BTreeSet<PathBuf>, event: notify::Result<Event>) -> bool {
    match event {
        Ok(event) => {
            !matches!(event.kind, EventKind::Access(_) | EventKind::Other)
                && event
                    .paths
                    .iter()
                    .any(|p| touches(folders, p) || scripts.contains(p))
        }
        Err(error) => {
            // Lost events (a full kernel queue) may hide a change: reload to be sure.
            tracing::warn!(%error, "the scenario files' watch reported an error");
            true
        }
    }
}

/// Whether `path` is in one of the folders, or is a folder's own entry in its parent
/// (the parents' other entries are none of our business). Paths are absolute, as the
/// watches were set.
fn touches(folders: &[Folder], path: &Path) -> bool {
    folders.iter().any(|f| path.starts_with(&f.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(path: &str) -> Folder {
        Folder {
            path: PathBuf::from(path),
            identity: None,
        }
    }

    #[test]
    fn only_the_folders_and_their_own_entries_count() {
        let dir = std::env::temp_dir().join(format!("dialflow-watch-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("scenarios")).unwrap();
        let scenarios = dir.join("scenarios");
        let folders = [folder(scenarios.to_str().unwrap())];
        assert!(touches(&folders, &scenarios.join("salehi.yaml")));
        assert!(touches(&folders, &scenarios.join("hooks/score.rhai")));
        assert!(touches(&folders, &scenarios), "the folder's own entry");
        assert!(!touches(&folders, &dir.join("s.redb")), "a sibling");
        assert!(!touches(&folders, &dir.join("scenarios-old")), "a sibling");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_script_path_is_named_as_events_name_it() {
        assert_eq!(
            normalize(Path::new("/srv/df/scenarios/../hooks/./score.rhai")),
            PathBuf::from("/srv/df/hooks/score.rhai")
        );
    }
}
