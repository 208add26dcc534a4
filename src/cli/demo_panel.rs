//! The demo's own reporting panel: a small HTTP receiver on loopback that takes the
//! reports `dialflow demo` delivers (as a real panel would, by signed webhook) and
//! counts them by idempotency key, so the demo's summary can show that every report
//! arrived once: none missing (the outbox is empty), none twice.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::task::JoinHandle;

use crate::delivery::IDEMPOTENCY_KEY;

/// Deliveries by idempotency key (`attempt:status`), and by panel status.
#[derive(Debug, Default, Clone)]
pub struct Received {
    pub by_key: BTreeMap<String, u32>,
    pub by_status: BTreeMap<String, u32>,
}

impl Received {
    /// Deliveries in all, and how many were a key seen before.
    pub fn totals(&self) -> (u32, u32) {
        let all: u32 = self.by_key.values().sum();
        (all, all - self.by_key.len() as u32)
    }
}

/// The running receiver.
pub struct DemoPanel {
    pub url: String,
    received: Arc<Mutex<Received>>,
    task: JoinHandle<()>,
}

impl DemoPanel {
    /// Listens on a loopback port the system picks.
    pub async fn start() -> std::io::Result<DemoPanel> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Received::default()));
        let app = axum::Router::new()
            .route("/reports", post(take))
            .with_state(Arc::clone(&received));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(DemoPanel {
            url: format!("http://{addr}/reports"),
            received,
            task,
        })
    }

    /// What arrived so far.
    pub fn received(&self) -> Received {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for DemoPanel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One report: counted by its key and status; a body that is not a report is refused
/// (400), as a real panel would, so the demo would show it parked.
async fn take(
    State(received): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let key = headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|k| k.to_str().ok())
        .map(str::to_owned);
    let status = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|b| b["status"].as_str().map(str::to_owned));
    let (Some(key), Some(status)) = (key, status) else {
        return StatusCode::BAD_REQUEST;
    };
    if let Ok(mut r) = received.lock() {
        let seen = r.by_key.entry(key).or_default();
        *seen += 1;
        if *seen == 1 {
            *r.by_status.entry(status).or_default() += 1;
        }
    }
    StatusCode::OK
}
