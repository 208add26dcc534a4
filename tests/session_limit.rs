//! Asterisk's HTTP session limit, both sides of it over real loopback sockets: the
//! simulator closes a connection over its limit at once, unanswered, and logs it as
//! Asterisk does; dialflow's ARI client keeps to `ari.max_connections`, so 1,000 calls
//! at once against a simulator that allows 100 sessions lose nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dialflow::ari::client::{AriClient, AriEndpoint};
use dialflow::ari::translate::Deployment;
use dialflow::core::call::Lead;
use dialflow::runtime::batch::{self, Pace, PlannedCall};
use dialflow::sim::server::{self, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::{Classify, scenario, sim_config};

/// Log lines written by `tracing`, kept for the test to read.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Whether the server closed `stream` without a byte of answer to a request.
async fn closed_unanswered(stream: &mut TcpStream) -> bool {
    // Writing may already fail (reset); either way nothing may come back but the end.
    let _ = stream
        .write_all(b"GET /ari/channels HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

// Current-thread: the simulator's tasks log on the thread the subscriber is set on.
#[tokio::test]
async fn a_connection_over_the_session_limit_is_closed_at_once_and_logged() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let sim = server::spawn(SimConfig {
        session_limit: 3,
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts");
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(TcpStream::connect(sim.addr).await.expect("connects"));
    }
    // Three are open (once the server has taken them on): the fourth is one too many.
    for _ in 0..100 {
        if sim.sessions_open() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sim.sessions_open(), 3);
    let mut fourth = TcpStream::connect(sim.addr)
        .await
        .expect("the kernel accepts");
    assert!(
        closed_unanswered(&mut fourth).await,
        "closed without an answer"
    );
    assert_eq!(sim.sessions_refused(), 1);
    assert!(
        logs.text()
            .contains("HTTP session count exceeded 3 sessions."),
        "logged as Asterisk does: {}",
        logs.text()
    );
    // The sessions within the limit are served; one closed makes room for another.
    let (status, _) = common_get(&mut open[0]).await;
    assert_eq!(
        status, "HTTP/1.1 401 Unauthorized",
        "answered, if not logged in"
    );
    drop(open.pop());
    for _ in 0..100 {
        if sim.sessions_open() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut again = TcpStream::connect(sim.addr).await.expect("connects");
    let (status, _) = common_get(&mut again).await;
    assert_eq!(status, "HTTP/1.1 401 Unauthorized");
    assert_eq!(sim.sessions_refused(), 1);
    sim.shutdown().await;
}

/// A GET on `stream` without credentials: the status line and what followed it.
async fn common_get(stream: &mut TcpStream) -> (String, String) {
    stream
        .write_all(b"GET /ari/channels HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("writes");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
        .await
        .expect("answered in time")
        .expect("reads");
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    let (status, rest) = text.split_once("\r\n").unwrap_or((&text, ""));
    (status.to_string(), rest.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_max_connections_wait_for_one_instead_of_opening_more() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let sim = server::spawn(SimConfig::default())
        .await
        .expect("the simulator starts");
    // Each answer takes a while, so the requests overlap.
    sim.faults().set_rest_delay_ms(20);
    let endpoint = AriEndpoint {
        base_url: sim.base_url.clone(),
        user: sim.user().into(),
        password: sim.password().into(),
        app: sim.app().into(),
    };
    let client = AriClient::new(endpoint, Duration::from_secs(10), 4).expect("a client");
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let client = client.clone();
        requests.spawn(async move { client.channels().await });
    }
    while let Some(answer) = requests.join_next().await {
        answer
            .expect("no panic")
            .expect("every request is answered");
    }
    assert!(
        sim.sessions_accepted() <= 4,
        "{} connections opened for at most 4 at once",
        sim.sessions_accepted()
    );
    assert_eq!(sim.sessions_refused(), 0);
    sim.shutdown().await;
}

const CUSTOMERS: &[(&str, &str)] = common::SALEHI_CUSTOMERS;

/// The heavy tests run one at a time: a thousand calls keep a customer's clock, and a
/// sibling test's load on the same two cores made some of them late enough to be hung up.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_at_once_stay_within_a_session_limit_of_100() {
    let _alone = ONE_AT_A_TIME.lock().await;
    const CALLS: usize = 1_000;
    const SPEED: f64 = 2.0;
    let s = scenario("salehi");
    // The configuration's defaults: 40 connections.
    let config = SimConfig {
        session_limit: 100,
        ..sim_config(&s, SPEED)
    };
    let common::Live {
        sim,
        runtime,
        tasks,
    } = common::Live::start_on(config, SPEED, Classify::Simulated, Duration::from_secs(10)).await;
    assert_eq!(runtime.client().max_connections(), 40);
    let calls: Vec<PlannedCall> = (0..CALLS)
        .map(|i| {
            let (customer, _) = CUSTOMERS[i % CUSTOMERS.len()];
            PlannedCall {
                attempt_id: format!("sl{i:04}"),
                lead: Lead::default(),
                deployment: Deployment::new(
                    common::APP,
                    &s,
                    format!("Local/{customer}@sim-customers"),
                )
                .with_operators_at(&s, "Local/op-answer@sim-operators"),
            }
        })
        .collect();
    let outcomes = tokio::time::timeout(
        Duration::from_secs(240),
        batch::run_all(
            &runtime,
            Arc::clone(&s),
            calls,
            Pace::concurrent(CALLS),
            tokio::sync::watch::channel(false).1,
            |_| {},
        ),
    )
    .await
    .expect("every call ends");
    assert_eq!(outcomes.len(), CALLS);
    let mut wrong: BTreeMap<String, usize> = BTreeMap::new();
    for o in &outcomes {
        let i: usize = o.attempt_id[2..].parse().expect("our id");
        let (customer, result) = CUSTOMERS[i % CUSTOMERS.len()];
        if o.summary.result != result {
            *wrong
                .entry(format!("{customer}: {} (not {result})", o.summary.result))
                .or_default() += 1;
        }
    }
    assert!(wrong.is_empty(), "calls ended wrong: {wrong:?}");
    assert_eq!(sim.sessions_refused(), 0, "no session over the limit");
    eprintln!(
        "sessions: {} at most at once, {} in all",
        sim.sessions_peak(),
        sim.sessions_accepted()
    );
    // The pool never holds more than 40 connections, busy or idle, and the events
    // WebSocket is one more session (README: "HTTP connections to Asterisk"); unbounded,
    // the same load opens hundreds.
    assert!(
        sim.sessions_peak() <= 40 + 1,
        "{} sessions at once, for 40 connections and the events WebSocket",
        sim.sessions_peak()
    );
    tasks.stop().await;
    sim.shutdown().await;
}
