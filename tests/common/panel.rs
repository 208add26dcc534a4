//! A reporting panel on loopback for the delivery tests: an axum server that records
//! every request (its idempotency key, signature and body) and answers as a script
//! says, and a signature check built on SHA-256 alone (independent of the `hmac`
//! crate dialflow signs with).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The secret the tests' panels share with dialflow.
pub const SECRET: &str = "test-panel-secret";

/// One request the panel received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    /// When the panel answered.
    pub done: Option<Instant>,
    pub key: String,
    pub signature: Option<String>,
    pub body: Vec<u8>,
    /// What the panel answered.
    pub answered: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// How the panel answers the n-th request (0-based); `None` is 200.
pub type Script = Box<dyn Fn(usize, Instant) -> Option<(u16, Vec<(&'static str, String)>)> + Send>;

struct PanelState {
    started: Instant,
    script: Script,
    /// How long each answer takes.
    delay: std::time::Duration,
    received: Vec<Received>,
}

/// A reporting panel on loopback.
#[derive(Clone)]
pub struct Panel {
    pub addr: SocketAddr,
    state: Arc<Mutex<PanelState>>,
}

impl Panel {
    pub async fn start(script: Script) -> Panel {
        Panel::slow(script, std::time::Duration::ZERO).await
    }

    /// A panel that takes `delay` over each answer.
    pub async fn slow(script: Script, delay: std::time::Duration) -> Panel {
        let state = Arc::new(Mutex::new(PanelState {
            started: Instant::now(),
            script,
            delay,
            received: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        let app = axum::Router::new().route(
            "/reports",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = Arc::clone(&shared);
                async move {
                    let (n, delay, response) = answer(&state, &headers, body.to_vec());
                    tokio::time::sleep(delay).await;
                    state.lock().unwrap().received[n].done = Some(Instant::now());
                    response
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Panel { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/reports", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The requests the panel answered 2xx, by idempotency key (the last one).
    pub fn taken(&self) -> BTreeMap<String, Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .map(|r| (r.key.clone(), r))
            .collect()
    }
}

fn answer(
    state: &Mutex<PanelState>,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> (usize, std::time::Duration, axum::response::Response) {
    let mut state = state.lock().unwrap();
    let n = state.received.len();
    let (code, extra) = (state.script)(n, state.started).unwrap_or((200, Vec::new()));
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
    state.received.push(Received {
        at: Instant::now(),
        done: None,
        key: header("idempotency-key").expect("every delivery has an Idempotency-Key"),
        signature: header("dialflow-signature"),
        body,
        answered: code,
    });
    let mut response = (
        StatusCode::from_u16(code).unwrap(),
        format!("answer {code}"),
    )
        .into_response();
    for (name, value) in extra {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    (n, state.delay, response)
}

/// HMAC-SHA256 as RFC 2104 defines it, from SHA-256 alone: independent of the
/// `hmac` crate dialflow signs with.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// Checks `t=…,v1=…` against the body, as a receiver would.
pub fn verify(signature: &str, body: &[u8], secret: &str) {
    let parts: HashMap<&str, &str> = signature
        .split(',')
        .filter_map(|p| p.split_once('='))
        .collect();
    let t = parts["t"];
    let age = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .abs_diff(t.parse().unwrap());
    assert!(age < 300, "the timestamp {t} is {age} s off");
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    assert_eq!(
        parts["v1"],
        hex::encode(hmac_sha256(secret.as_bytes(), &signed))
    );
}
