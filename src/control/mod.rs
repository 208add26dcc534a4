//! The daemon's control messages: one closed enum that every outside request becomes
//! (an operator's command through the API, a signal the CLI caught, a test), handled
//! in one place by the daemon's loop. A new capability adds a variant, not a task.
//!
//! This module sits below both the daemon (which handles the messages) and the API
//! (which sends them), so neither imports the other: the daemon serves the API, and
//! the API knows only this vocabulary.

mod agent_call;
mod reload;

pub use agent_call::{AgentCall, AgentCallError};
pub use reload::{ReloadError, Reloaded, Stale, StaleWhy, record_versions, reload, staleness};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// What can be asked of a running daemon.
#[derive(Debug)]
pub enum Control {
    /// A campaign changed in the store (started, paused, stopped, new settings or
    /// leads): the dialer re-reads the campaigns now rather than at its next refresh.
    CampaignsChanged,
    /// Start no new call on any campaign (campaign states stay as they are); calls
    /// on the line go on. For maintenance of the PBX or a trunk.
    Pause,
    /// Dial again after `Pause`.
    Resume,
    /// Compile the scenarios folder again and serve new calls from it; a folder with
    /// any file that does not compile changes nothing. Live calls keep their scenario.
    Reload {
        trigger: Trigger,
        reply: Option<oneshot::Sender<Result<Reloaded, Arc<ReloadError>>>>,
    },
    /// No new calls; the calls on the line get the grace time, then are hung up and
    /// recorded; then `daemon::run` returns.
    Shutdown,
    /// An agent's manual or preview call (the agent API sends it).
    AgentCall(AgentCall),
}

/// What asked for a reload: kept with its outcome, so ops can tell an editor's save
/// from a deploy's signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The daemon started with the set (recorded as the first versions, not a reload).
    Start,
    /// A file of the scenarios, prompts or hooks changed (the daemon's watch).
    FileChange,
    /// SIGHUP.
    Signal,
    /// `POST /api/reload` (and `dialflow reload`, which sends it).
    Api,
}

impl Trigger {
    /// As the store records it with a scenario version.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Start => "start",
            Trigger::FileChange => "file_change",
            Trigger::Signal => "signal",
            Trigger::Api => "api",
        }
    }
}

/// The latest reload's outcome, as the API shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LastReload {
    #[schema(value_type = String, format = DateTime)]
    pub at: jiff::Timestamp,
    pub trigger: Trigger,
    /// The scenarios served after it, with their hashes (none when it failed).
    pub scenarios: Vec<(String, String)>,
    /// Of those, the ones whose file is gone, served at their last good version.
    pub kept: Vec<String>,
    /// Why nothing changed, with every diagnostic (file:line:col) as people read them.
    pub error: Option<String>,
}

/// How the reloads went since the daemon started: what `/api/status` shows and a
/// metrics endpoint reads (`Controller::reload_counts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ReloadCounts {
    /// Reloads that took effect.
    pub succeeded: u64,
    /// Reloads refused (a file that does not compile, a folder that cannot be read).
    pub failed: u64,
    /// How long the latest reload took, compile and swap (or refusal), in milliseconds.
    pub last_duration_ms: Option<f64>,
}

/// What the controller remembers of reloads.
#[derive(Debug, Default)]
struct Reloads {
    last: Option<LastReload>,
    counts: ReloadCounts,
    /// Scenarios served at an older version than their file's, by name.
    stale: BTreeMap<String, Stale>,
}

/// The daemon has stopped: nothing takes control messages any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the daemon has stopped")]
pub struct Stopped;

/// A handle to send a daemon control messages (cheap to clone; the API holds one).
#[derive(Debug, Clone)]
pub struct Controller {
    tx: mpsc::UnboundedSender<Control>,
    paused: Arc<AtomicBool>,
    reloads: Arc<Mutex<Reloads>>,
}

impl Controller {
    /// A controller and the receiving end the daemon's loop reads.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Control>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let paused = Arc::new(AtomicBool::new(false));
        let reloads = Arc::new(Mutex::new(Reloads::default()));
        let controller = Self {
            tx,
            paused,
            reloads,
        };
        (controller, rx)
    }

    /// Sends `control` to the daemon's loop. A pause or resume is recorded here, as it
    /// is sent: the loop handles messages in the order they were sent, so whoever asks
    /// `is_paused` next (the status route right after a pause) already sees it.
    pub fn send(&self, control: Control) -> Result<(), Stopped> {
        match control {
            Control::Pause => self.paused.store(true, Ordering::Relaxed),
            Control::Resume => self.paused.store(false, Ordering::Relaxed),
            _ => {}
        }
        self.tx.send(control).map_err(|_| Stopped)
    }

    /// Asks for a reload and waits for its outcome.
    pub async fn reload(
        &self,
        trigger: Trigger,
    ) -> Result<Result<Reloaded, Arc<ReloadError>>, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.send(Control::Reload {
            trigger,
            reply: Some(reply),
        })?;
        answer.await.map_err(|_| Stopped)
    }

    /// Records a reload's outcome and how long it took (the daemon's loop, as it
    /// handles one): the latest reload, the counts, and which scenarios are stale.
    pub fn record_reload(
        &self,
        trigger: Trigger,
        outcome: &Result<Reloaded, Arc<ReloadError>>,
        took: Duration,
    ) {
        let record = LastReload {
            at: jiff::Timestamp::now(),
            trigger,
            scenarios: outcome
                .as_ref()
                .map(|r| r.scenarios.clone())
                .unwrap_or_default(),
            kept: outcome.as_ref().map(|r| r.kept.clone()).unwrap_or_default(),
            error: outcome.as_ref().err().map(|e| e.to_string()),
        };
        let at_unix_s = record.at.as_millisecond() as f64 / 1000.0;
        crate::metrics::global().reloaded(trigger.as_str(), outcome.is_ok(), at_unix_s);
        let stale = match outcome {
            Ok(r) => Some(r.stale.clone()),
            Err(e) => match e.as_ref() {
                ReloadError::DoesNotCompile { stale, .. } => Some(stale.clone()),
                _ => None, // nothing was read: what was stale still is
            },
        };
        let Ok(mut reloads) = self.reloads.lock() else {
            return;
        };
        reloads.last = Some(record);
        let counts = &mut reloads.counts;
        match outcome {
            Ok(_) => counts.succeeded += 1,
            Err(_) => counts.failed += 1,
        }
        counts.last_duration_ms = Some(took.as_secs_f64() * 1000.0);
        if let Some(stale) = stale {
            reloads.stale = stale;
        }
    }

    /// The latest reload's outcome, if there was one.
    pub fn last_reload(&self) -> Option<LastReload> {
        self.reloads.lock().ok().and_then(|r| r.last.clone())
    }

    /// Reloads succeeded and failed since the start, and the latest one's duration.
    pub fn reload_counts(&self) -> ReloadCounts {
        self.reloads.lock().map(|r| r.counts).unwrap_or_default()
    }

    /// Whether scenario `name` is served at its last good version rather than what
    /// its file says now, and why (its file gone or failing).
    pub fn stale(&self, name: &str) -> Option<Stale> {
        self.reloads.lock().ok()?.stale.get(name).cloned()
    }

    /// Whether dialing is paused daemon-wide (`Control::Pause` in force).
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }
}
