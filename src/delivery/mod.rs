//! Report delivery: the outbox sent to the panel (`panel.url`) by HTTP POST, at least
//! once and never lost. A report leaves the outbox only when the panel answered 2xx;
//! a 4xx other than 408 and 429 parks it with the answer; anything else is tried again
//! on `core::delivery`'s schedule. The reports of one attempt go in order, one at a
//! time; up to `panel.concurrency` attempts' reports are in flight at once.
//!
//! Started by `daemon::run` beside the work; stopped after it, once the outbox is
//! empty or a short drain time has passed (what is left goes at the next start).

mod payload;
mod sign;
mod worker;

pub use payload::{ReportBody, VERSION};
pub use sign::{IDEMPOTENCY_KEY, SIGNATURE, idempotency_key, signature};

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::PanelConfig;
use crate::store::Store;

/// Why delivery cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot build the panel's HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("the panel's TLS configuration: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// The HTTP client reports are sent with: the one place it is built, trusting the
/// system's roots and `tls.ca_file` like every outgoing connection.
pub fn http_client(
    panel: &PanelConfig,
    ca_file: Option<&Path>,
) -> Result<reqwest::Client, DeliveryError> {
    let tls = crate::tls::client_config(ca_file)?;
    Ok(crate::tls::http_client_builder(&tls)
        .timeout(panel.timeout)
        .user_agent(concat!("dialflow/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// The running delivery worker.
pub struct Delivery {
    store: Arc<Store>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Delivery {
    /// Starts delivering `store`'s outbox to `panel`.
    pub fn start(
        store: Arc<Store>,
        panel: PanelConfig,
        ca_file: Option<&Path>,
    ) -> Result<Delivery, DeliveryError> {
        let client = http_client(&panel, ca_file)?;
        if panel.secret.is_none() {
            tracing::warn!(
                variable = %panel.secret_env,
                "no panel secret: reports are sent unsigned"
            );
        }
        let (stop, stopped) = watch::channel(false);
        let worker = worker::Worker::new(Arc::clone(&store), panel, client, stopped);
        let task = tokio::spawn(worker.run());
        Ok(Delivery { store, stop, task })
    }

    /// Waits up to `drain` for the outbox to empty, then stops. Reports still waiting
    /// stay in the store for the next start.
    pub async fn stop(self, drain: Duration) {
        let deadline = Instant::now() + drain;
        while Instant::now() < deadline {
            match self.store.outbox_counts() {
                Ok(counts) if counts.pending == 0 => break,
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(_) => break,
            }
        }
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
