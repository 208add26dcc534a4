//! Report delivery: the outbox sent to the panel (`panel.url`) by HTTP POST, at least
//! once and never lost. A report leaves the outbox only when the panel answered 2xx;
//! a 4xx other than 408 and 429 parks it with the answer; anything else is tried again
//! on `core::delivery`'s schedule. The reports of one attempt go in order, one at a
//! time; up to `panel.concurrency` attempts' reports are in flight at once.
//!
//! Alerts go the same way to `alerts.url` (`alerts`): one at a time, in order, the
//! body the default JSON or the user's template.
//!
//! Started by `daemon::run` beside the work; stopped after it, once the outbox is
//! empty or a short drain time has passed (what is left goes at the next start).

mod alerts;
mod payload;
mod post;
mod settle;
mod sign;
mod worker;

pub use payload::{ReportBody, VERSION};
pub use sign::{IDEMPOTENCY_KEY, SIGNATURE, idempotency_key, signature};

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{AlertTemplate, AlertsConfig, PanelConfig};
use crate::store::{Store, StoreError};

/// Why delivery cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("the TLS configuration: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("alerts.template: {0}")]
    Template(#[from] crate::config::TemplateError),
}

/// The HTTP client deliveries are sent with: the one place it is built, trusting the
/// system's roots and `tls.ca_file` like every outgoing connection.
fn http_client(
    timeout: Duration,
    ca_file: Option<&Path>,
) -> Result<reqwest::Client, DeliveryError> {
    let tls = crate::tls::client_config(ca_file)?;
    Ok(crate::tls::http_client_builder(&tls)
        .timeout(timeout)
        .user_agent(concat!("dialflow/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// A running delivery worker: the reports' or the alerts'.
pub struct Delivery {
    store: Arc<Store>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// How many entries still wait (the drain at stop waits for none).
    waiting: fn(&Store) -> Result<u64, StoreError>,
}

impl Delivery {
    /// Starts delivering `store`'s outbox to `panel`.
    pub fn start(
        store: Arc<Store>,
        panel: PanelConfig,
        ca_file: Option<&Path>,
    ) -> Result<Delivery, DeliveryError> {
        let client = http_client(panel.timeout, ca_file)?;
        if panel.secret.is_none() {
            tracing::warn!(
                variable = %panel.secret_env,
                "no panel secret: reports are sent unsigned"
            );
        }
        let (stop, stopped) = watch::channel(false);
        let worker = worker::Worker::new(Arc::clone(&store), panel, client, stopped);
        let task = tokio::spawn(worker.run());
        let waiting = |store: &Store| store.outbox_counts().map(|c| c.pending);
        Ok(Delivery {
            store,
            stop,
            task,
            waiting,
        })
    }

    /// Starts delivering `store`'s alerts to `config.url`, and turns on the alert
    /// outbox (with the rate limit) in the store.
    pub fn start_alerts(
        store: Arc<Store>,
        config: AlertsConfig,
        ca_file: Option<&Path>,
    ) -> Result<Delivery, DeliveryError> {
        let client = http_client(config.timeout, ca_file)?;
        let template = config
            .template
            .as_deref()
            .map(AlertTemplate::new)
            .transpose()?;
        store.set_alert_delivery(Some(config.every));
        let (stop, stopped) = watch::channel(false);
        let sender = alerts::AlertSender {
            store: Arc::clone(&store),
            config,
            template,
            client,
        };
        let task = tokio::spawn(sender.run(stopped));
        let waiting = |store: &Store| store.alert_outbox(1).map(|a| a.len() as u64);
        Ok(Delivery {
            store,
            stop,
            task,
            waiting,
        })
    }

    /// Waits up to `drain` for everything to go out, then stops. What still waits
    /// stays in the store for the next start.
    pub async fn stop(self, drain: Duration) {
        let deadline = Instant::now() + drain;
        while Instant::now() < deadline {
            match (self.waiting)(&self.store) {
                Ok(0) | Err(_) => break,
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
