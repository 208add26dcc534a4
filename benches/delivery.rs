//! Report delivery benchmark: dialflow's delivery worker sending the store's outbox to
//! a panel on loopback (an axum receiver on a runtime of its own, answering 200 at
//! once). Two figures:
//!
//! - throughput: N reports written first, then the time until the panel has taken
//!   them all and the outbox is empty (reports/s), at `panel.concurrency` 8 and 32;
//! - delay: reports written as calls end (batches of 10 every 10 ms, 1,000 reports/s),
//!   each one's time from its write (`reported_at`, taken before the commit) to the
//!   panel's 2xx, p50 and p99.
//!
//! `cargo bench --bench delivery -- [N]` (default 20,000).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dialflow::config::PanelConfig;
use dialflow::delivery::Delivery;
use dialflow::store::Store;

#[path = "../tests/common/mod.rs"]
mod common;
use common::reports::{self, write_reports};

/// What the receiver saw: how many it took, and each report's delay in ms.
#[derive(Default)]
struct Seen {
    taken: AtomicU64,
    delays_ms: Mutex<Vec<u64>>,
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let seen = Arc::new(Seen::default());
    let url = receiver(Arc::clone(&seen));
    // dialflow's own side runs as `dialflow run` does: one thread for the async work,
    // the store's commits on the blocking pool.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for concurrency in [8, 32] {
        let (_dir, store) = store_with_leads(n);
        write_reports(&store, n, n);
        let took = rt.block_on(deliver_all(&store, &url, concurrency, &seen, n));
        println!(
            "throughput  {n} reports in {:.2} s: {:.0} reports/s (panel.concurrency {concurrency})",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64()
        );
    }
    let steady = 5_000.min(n);
    let (_dir, store) = store_with_leads(steady);
    seen.delays_ms.lock().unwrap().clear();
    rt.block_on(steady_delay(&store, &url, &seen, steady));
    let mut delays = std::mem::take(&mut *seen.delays_ms.lock().unwrap());
    delays.sort_unstable();
    let at = |q: f64| delays[((delays.len() - 1) as f64 * q) as usize];
    println!(
        "delay       {} reports at 1,000/s, written → panel's 2xx: p50 {} ms, p99 {} ms, max {} ms",
        delays.len(),
        at(0.50),
        at(0.99),
        delays.last().copied().unwrap_or(0)
    );
}

/// The panel: a loopback axum server on a thread and runtime of its own.
fn receiver(seen: Arc<Seen>) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/reports",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let seen = Arc::clone(&seen);
                    async move {
                        let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        let written = report["reported_at"]
                            .as_str()
                            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                            .map_or(0, |t| t.as_millisecond() as u64);
                        let delay = reports::unix_ms().saturating_sub(written);
                        seen.delays_ms.lock().unwrap().push(delay);
                        seen.taken.fetch_add(1, Ordering::Relaxed);
                        "ok"
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}/reports", rx.recv().unwrap())
}

/// A store in a folder of its own with a running campaign of `n` leads.
fn store_with_leads(n: usize) -> (TempDir, Arc<Store>) {
    let dir = TempDir::new();
    let store = reports::store_with_leads(&dir.0.join("bench.redb"), n);
    (dir, Arc::new(store))
}

fn panel(url: &str, concurrency: usize) -> PanelConfig {
    let mut panel = PanelConfig::new(url);
    panel.secret = Some("bench-secret".into());
    panel.concurrency = concurrency;
    panel
}

/// Delivers an outbox of `n` reports; the time until the panel took them all.
async fn deliver_all(
    store: &Arc<Store>,
    url: &str,
    concurrency: usize,
    seen: &Seen,
    n: usize,
) -> Duration {
    let before = seen.taken.load(Ordering::Relaxed);
    let t = Instant::now();
    let delivery = Delivery::start(Arc::clone(store), panel(url, concurrency), None).unwrap();
    while seen.taken.load(Ordering::Relaxed) - before < n as u64
        || store.outbox_counts().unwrap().pending > 0
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = t.elapsed();
    delivery.stop(Duration::ZERO).await;
    took
}

/// Writes `n` reports at 1,000/s while delivery runs, and waits for the last.
async fn steady_delay(store: &Arc<Store>, url: &str, seen: &Seen, n: usize) {
    let before = seen.taken.load(Ordering::Relaxed);
    let delivery = Delivery::start(Arc::clone(store), panel(url, 8), None).unwrap();
    let writer = {
        let store = Arc::clone(store);
        tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            for i in 0..n / 10 {
                let due = start + Duration::from_millis(10 * i as u64);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                write_reports(&store, 10, 10);
            }
        })
    };
    writer.await.unwrap();
    while seen.taken.load(Ordering::Relaxed) - before < n as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    delivery.stop(Duration::ZERO).await;
}

/// A folder removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "dialflow-bench-delivery-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
