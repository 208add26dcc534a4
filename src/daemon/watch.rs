//! The daemon's watch over troubles that become alerts only once they last: Asterisk
//! unreachable (no event stream) for longer than `alerts.unreachable_after`, in real
//! time, and the oldest report waiting for the panel older than
//! `alerts.backlog_after`, in campaign time (the time reports are stamped with). Each
//! raises one alert per episode; the store's rate limit keeps repeats down. A refused
//! reload raises its alert at once (`reload_refused`), through the same store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::AlertsConfig;
use crate::control::{ReloadError, Trigger};
use crate::core::alerts::{AlertKind, Episode};
use crate::runtime::Runtime;
use crate::store::{NewAlert, Store, StoreError};

/// How often the daemon's loop looks.
pub(super) const EVERY: Duration = Duration::from_millis(500);

pub(super) struct Watch {
    store: Arc<Store>,
    unreachable_after: Duration,
    backlog_after: Duration,
    /// The start of the watch, for real time in milliseconds.
    origin: Instant,
    down_since: Option<u64>,
    unreachable: Episode,
    backlog: Episode,
}

impl Watch {
    pub(super) fn new(store: Arc<Store>, alerts: &AlertsConfig) -> Watch {
        Watch {
            store,
            unreachable_after: alerts.unreachable_after,
            backlog_after: alerts.backlog_after,
            origin: Instant::now(),
            down_since: None,
            unreachable: Episode::default(),
            backlog: Episode::default(),
        }
    }

    /// Looks once; raises what has lasted long enough.
    pub(super) async fn check(&mut self, runtime: &Runtime) {
        let real_ms = millis(self.origin.elapsed());
        self.down_since = match (runtime.is_connected(), self.down_since) {
            (true, _) => None,
            (false, since) => since.or(Some(real_ms)),
        };
        if self
            .unreachable
            .observe(self.down_since, real_ms, millis(self.unreachable_after))
        {
            let secs = self.unreachable_after.as_secs();
            let reason = format!("no ARI event stream for over {secs} s");
            self.raise(AlertKind::Unreachable, reason, runtime).await;
        }
        let store = Arc::clone(&self.store);
        let oldest = match tokio::task::spawn_blocking(move || store.outbox_oldest_ms()).await {
            Ok(Ok(oldest)) => oldest,
            Ok(Err(e)) => return tracing::warn!(error = %e, "cannot read the outbox's age"),
            Err(_) => return,
        };
        let now = runtime.clock().wall_ms();
        if self
            .backlog
            .observe(oldest, now, millis(self.backlog_after))
        {
            let age = now.saturating_sub(oldest.unwrap_or(now)) / 1000;
            let reason = format!("a report has waited for the panel for {age} s");
            self.raise(AlertKind::Backlog, reason, runtime).await;
        }
    }

    async fn raise(&self, kind: AlertKind, reason: String, runtime: &Runtime) {
        let message = match kind {
            AlertKind::Unreachable => format!("Asterisk unreachable: {reason}"),
            _ => format!("reports are late: {reason}"),
        };
        let now = runtime.clock().wall_ms();
        raise(&self.store, kind, reason, message, now).await;
    }
}

/// Raises an alert for dialflow as a whole (no campaign): kept in the store, and sent
/// when the rate limit lets it through. A store that fails is logged.
pub(super) async fn raise(
    store: &Arc<Store>,
    kind: AlertKind,
    reason: String,
    message: String,
    now_ms: u64,
) {
    let store = Arc::clone(store);
    tracing::error!(kind = kind.as_str(), %reason, "alert");
    let raised = tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
        let alert = NewAlert {
            kind,
            campaign: "",
            reason: &reason,
            message: &message,
        };
        store.add_alert(&alert, now_ms).map(|_| ())
    })
    .await;
    if let Ok(Err(e)) = raised {
        tracing::error!(error = %e, "cannot record an alert");
    }
}

/// A refused reload's alert: which files keep the edit out, and that the last good
/// scenarios serve meanwhile.
pub(super) async fn reload_refused(
    store: &Arc<Store>,
    trigger: Trigger,
    error: &ReloadError,
    now_ms: u64,
) {
    let reason = match error {
        ReloadError::DoesNotCompile { failures, .. } => {
            let files: Vec<String> = failures.iter().map(|(path, _)| file_name(path)).collect();
            format!("{} does not compile", files.join(", "))
        }
        other => other.to_string(),
    };
    let message = format!(
        "scenario reload refused ({}): {reason}; the last good scenarios keep serving",
        trigger.as_str()
    );
    raise(store, AlertKind::Reload, reason, message, now_ms).await;
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
