//! TLS on every outgoing connection, against real servers on loopback behind a small
//! TLS-terminating front (tokio-rustls accepts, then bytes are copied to the plain
//! server), with a CA made at run time (rcgen): a receiver is trusted with `tls.ca_file`
//! and refused without it, naming the host and the reason (unknown issuer, a name that
//! does not match, an expired certificate); calls run end to end with ARI over https,
//! events over wss and an `openai` speech-to-text provider over https.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use dialflow::ari::client::{AriClient, AriError};
use dialflow::ari::request::Request;
use dialflow::ari::translate::Deployment;
use dialflow::classify::stt::{SttError, SttProvider};
use dialflow::config::Config;
use dialflow::core::call::Lead;
use dialflow::daemon::{self, Classification};
use dialflow::runtime::batch::{self, Pace, PlannedCall};
use dialflow::runtime::clock::Clock;
use dialflow::runtime::events::{EventStream, StreamItem};
use dialflow::sim::server::{self, said_in};
use dialflow::tls::{self, CertificateReason};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

mod common;
use common::dirs::TempDir;
use common::{APP, scenario, sim_config};

/// A CA made for this test, its certificate written as a PEM file.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    file: PathBuf,
    _dir: TempDir,
}

impl TestCa {
    fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "dialflow test CA");
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let dir = TempDir::new("tls-ca");
        let file = dir.write("ca.pem", &issuer.pem());
        TestCa {
            issuer,
            file,
            _dir: dir,
        }
    }

    /// A server certificate for `names`, valid now unless `expired`.
    fn leaf(
        &self,
        names: &[&str],
        expired: bool,
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (cert.der().clone(), key)
    }

    /// The configuration trusting this CA (and the system's roots).
    fn trusted(&self) -> Arc<rustls::ClientConfig> {
        tls::client_config(Some(&self.file)).expect("the CA file is read")
    }
}

/// A TLS front on loopback for the plain server at `backend`: each connection's TLS
/// is ended here and its bytes copied both ways. Its `https://127.0.0.1:port`.
async fn tls_front(
    backend: std::net::SocketAddr,
    (cert, key): (CertificateDer<'static>, PrivateKeyDer<'static>),
) -> String {
    #[allow(deprecated)] // ring, as dialflow uses
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A handshake the client refuses ends here, as it should.
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    format!("https://{addr}")
}

/// A plain OpenAI-compatible speech-to-text server that "hears" what the simulator's
/// recording says (`sim::server::with_said`); its address.
async fn openai_stt() -> std::net::SocketAddr {
    let app = Router::new().route(
        "/v1/audio/transcriptions",
        post(|body: Bytes| async move {
            serde_json::json!({ "text": said_in(&body).unwrap_or("hello".into()) }).to_string()
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn provider(base_url: &str) -> SttProvider {
    SttProvider::OpenAi {
        base_url: base_url.into(),
        model: "whisper-1".into(),
        api_key: None,
        language: None,
    }
}

fn wav() -> Vec<u8> {
    dialflow::classify::voice::tone_wav(500, 3_000)
}

async fn transcribe(base_url: &str, config: &rustls::ClientConfig) -> Result<String, SttError> {
    provider(base_url)
        .transcribe(&tls::http_client(config), wav(), Duration::from_secs(5))
        .await
}

#[tokio::test]
async fn an_https_stt_provider_with_a_private_ca_is_trusted_only_with_ca_file() {
    let ca = TestCa::new();
    let base = tls_front(openai_stt().await, ca.leaf(&["127.0.0.1"], false)).await;
    let text = transcribe(&base, &ca.trusted()).await;
    assert_eq!(text.as_deref(), Ok("hello"));
    let system_only = tls::client_config(None).unwrap();
    let Err(SttError::Failure(refused)) = transcribe(&base, &system_only).await else {
        panic!("trusted without the CA");
    };
    assert!(
        refused.contains("TLS with 127.0.0.1: the certificate's issuer is unknown"),
        "{refused}"
    );
    assert!(
        refused.contains("tls.ca_file"),
        "says what to do: {refused}"
    );
}

/// The typed failure of one https request to `base`.
async fn failure_of(base: &str, config: &rustls::ClientConfig) -> tls::CertificateFailure {
    let error = tls::http_client(config)
        .get(base)
        .send()
        .await
        .expect_err("the certificate is refused");
    tls::certificate_failure("127.0.0.1", &error).unwrap_or_else(|| {
        panic!(
            "not a certificate failure: {}",
            tls::explain_request(&error)
        )
    })
}

#[tokio::test]
async fn a_name_mismatch_and_an_expired_certificate_are_told_apart() {
    let ca = TestCa::new();
    let backend = openai_stt().await;
    let elsewhere = tls_front(backend, ca.leaf(&["pbx.example"], false)).await;
    let failure = failure_of(&elsewhere, &ca.trusted()).await;
    assert!(
        matches!(&failure.reason, CertificateReason::NameMismatch { host, presented }
            if host == "127.0.0.1" && presented.iter().any(|p| p.contains("pbx.example"))),
        "{failure:?}"
    );
    assert!(
        failure
            .to_string()
            .contains("does not match the name 127.0.0.1"),
        "{failure}"
    );
    let expired = tls_front(backend, ca.leaf(&["127.0.0.1"], true)).await;
    let failure = failure_of(&expired, &ca.trusted()).await;
    assert!(
        matches!(
            failure.reason,
            CertificateReason::Expired { not_after: Some(_) }
        ),
        "{failure:?}"
    );
    assert!(
        failure.to_string().contains("expired (on 2021-01-01"),
        "{failure}"
    );
    let untrusted = tls_front(backend, ca.leaf(&["127.0.0.1"], false)).await;
    let failure = failure_of(&untrusted, &tls::client_config(None).unwrap()).await;
    assert_eq!(failure.reason, CertificateReason::UnknownIssuer);
}

/// The test configuration for the simulator behind `base_url`, trusting `ca_file`, with
/// an `openai` speech-to-text at `stt`.
fn config(base_url: &str, ca_file: Option<&std::path::Path>, stt: &str) -> Config {
    let tls = ca_file
        .map(|f| format!("tls: {{ca_file: \"{}\"}}\n", f.display()))
        .unwrap_or_default();
    Config::parse(
        "test",
        &format!(
            "ari: {{url: \"{base_url}\", user: u, password: p, app: {APP}, timeout: 2s}}\n\
             dial: {{template: \"Local/{{number}}@sim-customers\"}}\n\
             operators: {{sales: \"Local/op-answer@sim-operators\"}}\n\
             classify: {{timeout: 5s, stt: {{kind: openai, base_url: \"{stt}\", model: whisper-1}}}}\n{tls}"
        ),
        |_| None,
    )
    .expect("the test configuration parses")
}

#[tokio::test]
async fn ari_over_https_and_wss_without_the_ca_are_refused_naming_the_host_and_reason() {
    let ca = TestCa::new();
    let scenario = scenario("salehi");
    let sim = server::spawn(sim_config(&scenario, 25.0)).await.unwrap();
    let ari = tls_front(sim.addr, ca.leaf(&["127.0.0.1"], false)).await;
    let config = config(&ari, None, "https://127.0.0.1:1");
    let endpoint = daemon::endpoint(&config).unwrap();
    let client = AriClient::new(endpoint.clone(), Duration::from_secs(2), 2).unwrap();
    match client.send(&Request::list_channels()).await {
        Err(AriError::NotSent(why)) => assert!(
            why.contains("TLS with 127.0.0.1: the certificate's issuer is unknown"),
            "{why}"
        ),
        other => panic!("expected a refused certificate, got {other:?}"),
    }
    let mut events = EventStream::new(client.events_url());
    match events.next().await {
        StreamItem::Disconnected { reason } => assert!(
            reason.contains("TLS with 127.0.0.1: the certificate's issuer is unknown"),
            "{reason}"
        ),
        other => panic!("expected a refused certificate, got {other:?}"),
    }
    // The daemon's start fails with the reason, not only "no event stream".
    let refused = daemon::connect(
        &config,
        endpoint.clone(),
        Clock::new(25.0),
        Classification::Configured,
    )
    .await
    .err()
    .expect("no runtime without the CA");
    assert!(
        refused
            .to_string()
            .contains("TLS with 127.0.0.1: the certificate's issuer is unknown"),
        "{refused}"
    );
    let trusted =
        AriClient::with_tls(endpoint, Duration::from_secs(2), 2, Some(ca.trusted())).unwrap();
    let channels = trusted.send(&Request::list_channels()).await;
    assert!(matches!(channels, Ok(Some(_))), "{channels:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_run_end_to_end_over_https_and_wss_with_an_https_stt() {
    let ca = TestCa::new();
    let scenario = scenario("salehi");
    let sim = server::spawn(sim_config(&scenario, 25.0)).await.unwrap();
    let ari = tls_front(sim.addr, ca.leaf(&["127.0.0.1"], false)).await;
    let stt = tls_front(openai_stt().await, ca.leaf(&["127.0.0.1"], false)).await;
    let config = config(&ari, Some(&ca.file), &stt);
    let endpoint = daemon::endpoint(&config).unwrap();
    let (runtime, tasks) = daemon::connect(
        &config,
        endpoint,
        Clock::new(25.0),
        Classification::Configured,
    )
    .await
    .expect("the runtime connects over https and wss");
    let calls: Vec<PlannedCall> = ["yes", "no"]
        .iter()
        .map(|c| PlannedCall {
            attempt_id: format!("t{c}"),
            lead: Lead::default(),
            deployment: Deployment::new("dialflow", &scenario, format!("Local/{c}@sim-customers")),
        })
        .collect();
    let outcomes = tokio::time::timeout(
        Duration::from_secs(60),
        batch::run_all(
            &runtime,
            Arc::clone(&scenario),
            calls,
            Pace::concurrent(2),
            tokio::sync::watch::channel(false).1,
            |_| {},
        ),
    )
    .await
    .expect("the calls end");
    let mut results: Vec<(String, String)> = outcomes
        .iter()
        .map(|o| (o.attempt_id.clone(), o.summary.result.clone()))
        .collect();
    results.sort();
    assert_eq!(
        results,
        [
            ("tno".to_string(), "not_interested".to_string()),
            ("tyes".to_string(), "connected_to_operator".to_string()),
        ]
    );
    let metrics = runtime.classify_metrics().expect("the pipeline classified");
    tasks.stop().await;
    sim.shutdown().await;
    assert!(metrics.latency.contains_key("stt:openai"), "{metrics:?}");
    assert!(metrics.errors.is_empty(), "{metrics:?}");
}

#[test]
fn every_reqwest_client_in_src_is_made_with_the_tls_configuration() {
    // reqwest has no crypto provider of its own here: a client made any other way
    // panics, or (given one) would not trust `tls.ca_file`.
    let making =
        regex::Regex::new(r"\b(Client::new|Client::builder|ClientBuilder::new|reqwest::get)\(")
            .unwrap();
    let mut found = Vec::new();
    for file in common::dirs::rust_files(std::path::Path::new("src")) {
        if file.ends_with("src/tls.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            if making.is_match(line) && !line.trim_start().starts_with("//") {
                found.push(format!(
                    "{}:{}: {}",
                    file.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "use tls::http_client_builder:\n{}",
        found.join("\n")
    );
}
