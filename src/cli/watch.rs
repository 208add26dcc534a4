//! `--watch` for `check` and `test`: the files watched (notify), the command re-run once
//! a burst of changes has gone quiet, and only what changed printed (`changes`). Opens
//! and reads are not changes: each run reads every file, and counting those would
//! re-run for ever (notify's debouncer crates either drop the event kind or would).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::changes::{self, Entry, Snapshot};
use crate::load;

/// Events closer together than this are one change: an editor's save is often several
/// (write a temporary file, rename it over the old one, touch its attributes).
const DEBOUNCE: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot watch {path}: it does not exist")]
    Missing { path: PathBuf },
    #[error("cannot watch {path}: {source}")]
    Notify {
        path: PathBuf,
        source: notify::Error,
    },
}

/// Re-runs `per_file` over the scenario files under `paths` on every change and prints
/// what changed since the run before; returns when the watcher stops (never, unless it
/// fails).
pub fn watch(paths: &[PathBuf], mut per_file: impl FnMut(&Path, &mut Snapshot)) -> ExitCode {
    let mut run = || snapshot(paths, &mut per_file);
    let (tx, rx) = mpsc::channel();
    let _watcher = match start(paths, tx) {
        Ok(watcher) => watcher,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut before = run();
    println!(
        "watching {} for changes (Ctrl-C stops)",
        super::display_paths(paths)
    );
    while let Ok(event) = rx.recv() {
        if !is_change(event) {
            continue;
        }
        // The burst goes on while changes keep coming within `DEBOUNCE` of each other.
        while let Ok(event) = rx.recv_timeout(DEBOUNCE) {
            let _ = is_change(event);
        }
        let after = run();
        for change in changes::changes(&before, &after) {
            for line in changes::describe(&change) {
                println!("{line}");
            }
        }
        before = after;
    }
    ExitCode::FAILURE
}

/// Whether a file event is a change (reads and opens are not); an error of the watcher
/// is told, and taken for a change, since it may have lost one.
fn is_change(event: notify::Result<notify::Event>) -> bool {
    match event {
        Ok(event) => !matches!(event.kind, EventKind::Access(_) | EventKind::Other),
        Err(e) => {
            eprintln!("warning: the file watcher: {e}");
            true
        }
    }
}

/// One run over the files under `paths`, listed afresh (files appear and vanish); a path
/// that is gone is a problem of the run, not the end of the watch.
fn snapshot(paths: &[PathBuf], per_file: &mut impl FnMut(&Path, &mut Snapshot)) -> Snapshot {
    let mut snap = Snapshot::default();
    match load::scenario_files(paths) {
        Ok(files) => files.iter().for_each(|file| per_file(file, &mut snap)),
        Err(e) => {
            let problem = Entry::problem(String::new(), format!("error: {e}"));
            snap.insert("paths".into(), problem);
        }
    }
    snap
}

/// Watches every path: a folder with all it holds, a file through its folder, so a file
/// saved by rename, deleted or created again is still seen (a watch on the file itself
/// would follow the old inode).
fn start(
    paths: &[PathBuf],
    tx: mpsc::Sender<notify::Result<notify::Event>>,
) -> Result<RecommendedWatcher, WatchError> {
    let notify_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WatchError::Notify { path, source }
    };
    let mut watcher = notify::recommended_watcher(tx).map_err(notify_error(Path::new(".")))?;
    for path in paths {
        let (target, mode) = if path.is_dir() {
            (path.as_path(), RecursiveMode::Recursive)
        } else {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            (
                parent.unwrap_or(Path::new(".")),
                RecursiveMode::NonRecursive,
            )
        };
        if !target.exists() {
            return Err(WatchError::Missing {
                path: target.to_path_buf(),
            });
        }
        watcher.watch(target, mode).map_err(notify_error(target))?;
    }
    Ok(watcher)
}
