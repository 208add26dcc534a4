//! The ARI REST client: a typed method for each thing dialflow asks Asterisk, plus
//! [`AriClient::send`] for the requests `translate` makes of a call's commands. Tells
//! "not sent" (safe to retry) from "outcome unknown" (it may have happened: never blindly
//! retry an originate after it).
//!
//! Every request goes through a bounded pool: at most `max_connections` requests are in
//! flight, each holding a permit from its start until its response body is read, and
//! reqwest keeps as many connections alive. Asterisk closes every HTTP session past its
//! `sessionlimit` (100 by default, `http.conf`) at once and unanswered, so an unbounded
//! pool turns load into lost requests; bounded, the excess waits here, and the wait is
//! reported ([`Exchange::queued`]) for the pacing to slow down on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::models::{Bridge, Channel, ErrorBody, LiveRecording, Playback, StoredRecording};
use super::paths;
use super::request::{Originate, Record, Request};

/// Largest recording file fetched for classification.
pub const MAX_RECORDING_BYTES: usize = 8 * 1024 * 1024;

/// Where Asterisk's ARI is and how to log in.
#[derive(Debug, Clone)]
pub struct AriEndpoint {
    /// e.g. `http://127.0.0.1:8088` (paths start with `/ari/`).
    pub base_url: String,
    pub user: String,
    pub password: String,
    pub app: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AriError {
    /// The request never reached Asterisk (connection refused, DNS): safe to retry.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The request may have been carried out (timeout, connection lost mid-way).
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
    /// Asterisk answered with an error status.
    #[error("ARI answered {status}: {message}")]
    Refused { status: u16, message: String },
}

#[derive(Debug, Clone)]
pub struct AriClient {
    http: reqwest::Client,
    endpoint: AriEndpoint,
    /// One permit per connection: a request holds one until its body is read.
    permits: Arc<Semaphore>,
    max_connections: usize,
    /// How long a request may wait for a permit (the request timeout).
    timeout: Duration,
}

/// What one request got, and how long it waited for a free connection before it was
/// sent (the rest of its time was Asterisk's).
#[derive(Debug)]
pub struct Exchange {
    pub answer: Result<Option<Value>, AriError>,
    pub queued: Duration,
}

impl AriClient {
    /// The one place the HTTP client is built (its pooling is tuned here): at most
    /// `max_connections` (at least 1) requests in flight and connections kept alive.
    pub fn new(
        endpoint: AriEndpoint,
        timeout: Duration,
        max_connections: usize,
    ) -> Result<Self, AriError> {
        let max_connections = max_connections.max(1);
        // reqwest bounds only idle connections; the permits bound busy ones. A response
        // with a body is read to its end only once hyper has put its connection back in
        // the idle pool, so the next holder of the permit finds it there. One without
        // (204) goes back on a task of its own: a request sent before that opens another
        // connection, so up to twice `max_connections` can be open for a moment.
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(max_connections)
            .build()
            .map_err(|e| AriError::NotSent(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            endpoint,
            permits: Arc::new(Semaphore::new(max_connections)),
            max_connections,
            timeout,
        })
    }

    /// Most HTTP connections this client opens to Asterisk.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Requests waiting for a free connection now, or in flight: at most
    /// `max_connections` of them are in flight.
    pub fn busy_connections(&self) -> usize {
        self.max_connections - self.permits.available_permits()
    }

    /// Waits for a free connection. A request still waiting when its timeout has passed
    /// never left: `NotSent`, safe to retry (as is one whose caller gives up meanwhile).
    async fn connection(&self) -> Result<(OwnedSemaphorePermit, Duration), AriError> {
        let waiting = Instant::now();
        let permit = Arc::clone(&self.permits);
        match tokio::time::timeout(self.timeout, permit.acquire_owned()).await {
            Ok(Ok(permit)) => Ok((permit, waiting.elapsed())),
            Ok(Err(_closed)) => Err(AriError::NotSent("the ARI client is closed".into())),
            Err(_) => Err(AriError::NotSent(format!(
                "every one of the {} ARI connections stayed busy for {:?}",
                self.max_connections, self.timeout
            ))),
        }
    }

    pub fn endpoint(&self) -> &AriEndpoint {
        &self.endpoint
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.base_url.trim_end_matches('/'))
    }

    /// Sends a request; the JSON body of a success, if any.
    pub async fn send(&self, request: &Request) -> Result<Option<Value>, AriError> {
        self.exchange(request).await.answer
    }

    /// Sends a request once a connection is free; its answer and how long it waited.
    pub async fn exchange(&self, request: &Request) -> Exchange {
        let (permit, queued) = match self.connection().await {
            Ok(free) => free,
            Err(e) => {
                return Exchange {
                    answer: Err(e),
                    queued: self.timeout,
                };
            }
        };
        let answer = self.send_now(request).await;
        drop(permit);
        Exchange { answer, queued }
    }

    /// Sends a request on the connection the caller holds the permit for.
    async fn send_now(&self, request: &Request) -> Result<Option<Value>, AriError> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| AriError::NotSent(format!("bad method {}: {e}", request.method)))?;
        let response = self
            .http
            .request(method, self.url(&request.path))
            .basic_auth(&self.endpoint.user, Some(&self.endpoint.password))
            .query(&request.query)
            .send()
            .await
            .map_err(classify_error)?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| AriError::OutcomeUnknown(e.to_string()))?;
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let message = body
            .as_ref()
            .and_then(ErrorBody::text_of)
            .unwrap_or_else(|| std::str::from_utf8(&bytes).unwrap_or(""))
            .to_string();
        Err(AriError::Refused { status, message })
    }

    /// GET returning raw bytes (a recording file), refusing bodies over `limit` bytes.
    async fn get_bytes(&self, path: &str, limit: usize) -> Result<Vec<u8>, AriError> {
        let (_permit, _queued) = self.connection().await?;
        let response = self
            .http
            .get(self.url(path))
            .basic_auth(&self.endpoint.user, Some(&self.endpoint.password))
            .send()
            .await
            .map_err(classify_error)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(AriError::Refused {
                status,
                message: format!("GET {path}"),
            });
        }
        if response
            .content_length()
            .is_some_and(|l| l as usize > limit)
        {
            return Err(AriError::Refused {
                status: 413,
                message: format!("{path} is larger than {limit} bytes"),
            });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| AriError::OutcomeUnknown(e.to_string()))?;
        if bytes.len() > limit {
            return Err(AriError::Refused {
                status: 413,
                message: format!("{path} is larger than {limit} bytes"),
            });
        }
        Ok(bytes.to_vec())
    }

    /// Sends `request` and decodes the JSON of its success as `T`. A body that is not
    /// a `T` leaves what Asterisk did unknown.
    async fn fetch<T: DeserializeOwned>(&self, request: &Request) -> Result<T, AriError> {
        let body = self
            .send(request)
            .await?
            .ok_or_else(|| AriError::OutcomeUnknown(format!("{request}: no JSON body")))?;
        serde_json::from_value(body)
            .map_err(|e| AriError::OutcomeUnknown(format!("{request}: unexpected answer: {e}")))
    }

    /// Like [`Self::fetch`] for a resource that may be gone: a 404 is `None`.
    async fn fetch_if_found<T: DeserializeOwned>(
        &self,
        request: &Request,
    ) -> Result<Option<T>, AriError> {
        match self.fetch(request).await {
            Ok(found) => Ok(Some(found)),
            Err(AriError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends `request`, whose success has no body worth reading.
    async fn perform(&self, request: &Request) -> Result<(), AriError> {
        self.send(request).await.map(drop)
    }

    /// Originates a channel; it comes back `Down` even when the call will fail (the
    /// events tell).
    pub async fn originate(&self, originate: Originate<'_>) -> Result<Channel, AriError> {
        self.fetch(&Request::originate(originate)).await
    }

    pub async fn answer(&self, channel: &str) -> Result<(), AriError> {
        self.perform(&Request::answer(channel)).await
    }

    /// Plays `media` (`sound:dir/name`) to `channel` as the playback `playback`.
    pub async fn play(
        &self,
        channel: &str,
        playback: &str,
        media: String,
    ) -> Result<Playback, AriError> {
        self.fetch(&Request::play(channel, playback, media)).await
    }

    /// The playback as it is now; `None` once it has ended (Asterisk forgets a playback
    /// when it finishes).
    pub async fn playback(&self, playback: &str) -> Result<Option<Playback>, AriError> {
        self.fetch_if_found(&Request::get_playback(playback)).await
    }

    pub async fn stop_playback(&self, playback: &str) -> Result<(), AriError> {
        self.perform(&Request::stop_playback(playback)).await
    }

    pub async fn record(&self, record: &Record<'_>) -> Result<LiveRecording, AriError> {
        self.fetch(&Request::record(record)).await
    }

    /// Sends `channel` to the dialplan at `context` (extension `s`, priority 1).
    pub async fn continue_in_dialplan(&self, channel: &str, context: &str) -> Result<(), AriError> {
        self.perform(&Request::continue_in_dialplan(channel, context))
            .await
    }

    /// Creates the mixing bridge `bridge`.
    pub async fn create_bridge(&self, bridge: &str) -> Result<Bridge, AriError> {
        self.fetch(&Request::create_bridge(bridge)).await
    }

    pub async fn add_to_bridge(&self, bridge: &str, channels: &[String]) -> Result<(), AriError> {
        self.perform(&Request::add_to_bridge(bridge, channels))
            .await
    }

    /// The bridge with the channels in it now.
    pub async fn bridge(&self, bridge: &str) -> Result<Bridge, AriError> {
        self.fetch(&Request::get_bridge(bridge)).await
    }

    pub async fn destroy_bridge(&self, bridge: &str) -> Result<(), AriError> {
        self.perform(&Request::destroy_bridge(bridge)).await
    }

    /// The recording while it records; `None` once it has ended (done, failed or
    /// cancelled, Asterisk forgets it).
    pub async fn live_recording(&self, name: &str) -> Result<Option<LiveRecording>, AriError> {
        self.fetch_if_found(&Request::get_live_recording(name))
            .await
    }

    /// The stored recording `name`; `None` when there is none (never stored, or deleted).
    pub async fn stored_recording(&self, name: &str) -> Result<Option<StoredRecording>, AriError> {
        self.fetch_if_found(&Request::get_stored_recording(name))
            .await
    }

    /// A stored recording's audio file, refused (413) when over `limit` bytes.
    pub async fn recording_file(&self, name: &str, limit: usize) -> Result<Vec<u8>, AriError> {
        self.get_bytes(&paths::stored_recording_file(name), limit)
            .await
    }

    pub async fn delete_recording(&self, name: &str) -> Result<(), AriError> {
        self.perform(&Request::delete_stored_recording(name)).await
    }

    /// What the simulated customer said into a recording: the simulator's extension
    /// (`dialflow sim`), which no real Asterisk has.
    pub async fn sim_transcript(&self, name: &str) -> Result<String, AriError> {
        #[derive(Deserialize)]
        struct Said {
            #[serde(default)]
            transcript: String,
        }
        let said: Said = self.fetch(&Request::sim_transcript(name)).await?;
        Ok(said.transcript)
    }

    /// The channel as it is now; `None` once it is gone.
    pub async fn channel(&self, channel: &str) -> Result<Option<Channel>, AriError> {
        self.fetch_if_found(&Request::get_channel(channel)).await
    }

    /// The channels Asterisk has now, for reconciling after a reconnect.
    pub async fn channels(&self) -> Result<Vec<Channel>, AriError> {
        self.fetch(&Request::list_channels()).await
    }

    /// Hangs `channel` up, trying again with backoff (0.5 s doubling, `tries` in all)
    /// while the request is lost or Asterisk answers 5xx: a channel left up is a
    /// customer in silence and a trunk taken. Gone already counts as done.
    pub async fn hangup_surely(&self, channel: &str, tries: u32) -> Result<(), AriError> {
        let mut wait = std::time::Duration::from_millis(500);
        let mut attempt = 1;
        loop {
            match self.hangup(channel).await {
                Ok(()) => return Ok(()),
                Err(AriError::Refused { status, message }) if status < 500 => {
                    return Err(AriError::Refused { status, message });
                }
                Err(e) if attempt >= tries => return Err(e),
                Err(_) => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
            }
        }
    }

    /// Hangs up a channel (a 404 means it is gone already: fine).
    pub async fn hangup(&self, channel: &str) -> Result<(), AriError> {
        match self.send(&Request::hangup(channel)).await {
            Ok(_) | Err(AriError::Refused { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The events WebSocket URL.
    pub fn events_url(&self) -> String {
        let base = self.endpoint.base_url.trim_end_matches('/');
        let ws = base
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        // Percent-encoded: a password with `&`, `#`, `+` or `%` in it must log in here
        // as it does for REST.
        let api_key = format!("{}:{}", self.endpoint.user, self.endpoint.password);
        let query: String = reqwest::Url::parse_with_params(
            "ws://x/",
            [
                ("app", self.endpoint.app.as_str()),
                ("api_key", api_key.as_str()),
                ("subscribeAll", "false"),
            ],
        )
        .ok()
        .and_then(|u| u.query().map(str::to_string))
        .unwrap_or_default();
        format!("{ws}{}?{query}", paths::EVENTS)
    }
}

fn classify_error(e: reqwest::Error) -> AriError {
    if e.is_connect() || e.is_builder() {
        AriError::NotSent(e.to_string())
    } else {
        AriError::OutcomeUnknown(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(base_url: String) -> AriEndpoint {
        AriEndpoint {
            base_url,
            user: "u".into(),
            password: "p".into(),
            app: "dialflow".into(),
        }
    }

    #[tokio::test]
    async fn a_request_that_never_got_a_connection_was_not_sent() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let client = AriClient::new(endpoint(url), Duration::from_millis(200), 1).unwrap();
        // The one connection is busy for longer than the request may wait.
        let _busy = Arc::clone(&client.permits).try_acquire_owned().unwrap();
        assert_eq!(client.busy_connections(), 1);
        let exchange = client.exchange(&Request::list_channels()).await;
        assert!(
            matches!(exchange.answer, Err(AriError::NotSent(_))),
            "{:?}",
            exchange.answer
        );
        assert!(exchange.queued >= Duration::from_millis(200));
        let accepted = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
        assert!(accepted.is_err(), "it never reached the server");
    }

    #[test]
    fn the_event_url_encodes_the_credentials() {
        let endpoint = AriEndpoint {
            user: "dialflow".into(),
            password: "a&b#c+d%e".into(),
            ..endpoint("https://pbx.example:8089/".into())
        };
        let client = AriClient::new(endpoint, Duration::from_secs(1), 4).unwrap();
        assert_eq!(
            client.events_url(),
            "wss://pbx.example:8089/ari/events?app=dialflow&api_key=dialflow%3Aa%26b%23c%2Bd%25e&subscribeAll=false"
        );
    }
}
