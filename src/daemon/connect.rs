//! The one place the live runtime is started: an ARI client from the endpoint, the
//! classifier, and the event stream connected. The daemon, `run --scenario`'s calls,
//! the tests and the runtime benchmark all come through here. The TLS configuration
//! (`tls.ca_file`) is built here once and handed to every client.

use std::sync::Arc;
use std::time::Duration;

use crate::ari::client::{AriClient, AriEndpoint, AriError};
use crate::ari::request::Request;
use crate::classify::stt::SttProvider;
use crate::classify::{Classifier, IntentProvider};
use crate::config::Config;
use crate::runtime::clock::Clock;
use crate::runtime::{Runtime, RuntimeTasks};

use super::DaemonError;

/// How long the first event-stream connection may take before the start fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which classifier the runtime uses.
#[derive(Debug, Clone, Default)]
pub enum Classification {
    /// The configuration's `classify:` section, API keys from the environment.
    #[default]
    Configured,
    /// These providers, with the configuration's timeout and recording policy (tests
    /// put stubs on loopback here).
    Providers {
        stt: SttProvider,
        intent: IntentProvider,
    },
}

/// The ARI endpoint `config` names (the password is needed from here on).
pub fn endpoint(config: &Config) -> Result<AriEndpoint, DaemonError> {
    Ok(AriEndpoint {
        base_url: config.ari.url.clone(),
        user: config.ari.user.clone(),
        password: config.ari_password()?.to_string(),
        app: config.ari.app.clone(),
    })
}

/// Connects to `ari` and starts routing its events; returns once the event stream is up.
pub async fn connect(
    config: &Config,
    ari: AriEndpoint,
    clock: Clock,
    classification: Classification,
) -> Result<(Runtime, RuntimeTasks), DaemonError> {
    let tls = crate::tls::client_config(config.tls.ca_file.as_deref())?;
    let client = AriClient::with_tls(
        ari,
        Duration::from_millis(config.timeout_ms()),
        config.ari.max_connections,
        Some(Arc::clone(&tls)),
    )?;
    let client = match config.ari.rest_over_websocket {
        true => client.with_rest_over_websocket(),
        false => client,
    };
    let classifier = classifier(config, &client, &tls, classification)?;
    let started = Runtime::start(
        client.clone(),
        clock,
        classifier,
        CONNECT_TIMEOUT,
        config.ari.event_filter,
    );
    match started.await {
        Ok((runtime, tasks)) => {
            runtime.learn_capacity(config.ari.learn_capacity);
            Ok((runtime, tasks))
        }
        Err(no_stream) => Err(why_unreachable(&client).await.unwrap_or(no_stream).into()),
    }
}

/// Why Asterisk cannot be reached at all, asked by one REST request once the event
/// stream failed to come up: the stream only logs each failed try, and a refused
/// certificate, a wrong port or a dead host should be the error the start fails with.
async fn why_unreachable(client: &AriClient) -> Option<AriError> {
    match client.send(&Request::list_channels()).await {
        Err(e @ AriError::NotSent(_)) => Some(e),
        _ => None,
    }
}

fn classifier(
    config: &Config,
    client: &AriClient,
    tls: &rustls::ClientConfig,
    classification: Classification,
) -> Result<Classifier, DaemonError> {
    let timeout = Duration::from_millis(config.classify_timeout_ms());
    match classification {
        Classification::Configured => {
            Classifier::from_config(&config.classify, client.clone(), tls, timeout, |k| {
                std::env::var(k).ok()
            })
            .map_err(DaemonError::Classify)
        }
        Classification::Providers { stt, intent } => Ok(Classifier::Pipeline {
            client: client.clone(),
            http: crate::tls::http_client(tls),
            stt,
            intent,
            timeout,
            keep_recordings: config.classify.keep_recordings,
            metrics: Default::default(),
        }),
    }
}
