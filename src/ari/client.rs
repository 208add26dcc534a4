//! The ARI REST client: a typed method for each thing dialflow asks Asterisk, plus
//! [`AriClient::send`] for the requests `translate` makes of a call's commands. Tells
//! "not sent" (safe to retry) from "outcome unknown" (it may have happened: never blindly
//! retry an originate after it).
//!
//! Every request goes through a bounded pool (`transport`): at most `max_connections`
//! connections exist, busy or idle. Asterisk closes every HTTP session past its
//! `sessionlimit` (100 by default, `http.conf`) at once and unanswered, so an unbounded
//! pool turns load into lost requests; bounded, the excess waits here, and the wait is
//! reported ([`Exchange::queued`]) for the pacing to slow down on.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::models::{Bridge, Channel, ErrorBody, LiveRecording, Playback, StoredRecording};
use super::paths;
use super::request::{Originate, Record, Request};
use super::route::Route;
use super::socket_rest::{self, SocketRest};
use super::transport::{Answer, Transport};

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
    transport: Arc<Transport>,
    endpoint: AriEndpoint,
    /// Set when requests may go over the events WebSocket (`socket_rest`); HTTP
    /// carries them while no socket does, and always carries recordings' files.
    socket: Option<Arc<SocketRest>>,
}

/// What one request got, and how long it waited for a free connection before it was
/// sent (the rest of its time was Asterisk's).
#[derive(Debug)]
pub struct Exchange {
    pub answer: Result<Option<Value>, AriError>,
    pub queued: Duration,
}

/// What a path keeps verbatim: the set the URL standard percent-encodes in a path.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Largest JSON answer read (a channel list of thousands of channels fits).
const MAX_JSON_BYTES: usize = 64 * 1024 * 1024;

impl AriClient {
    /// The one place the ARI connection pool is made: at most `max_connections` (at
    /// least 1) connections, busy or idle (see `transport`).
    /// Over `https://` it trusts the system's roots; [`AriClient::with_tls`] takes the
    /// configuration's.
    pub fn new(
        endpoint: AriEndpoint,
        timeout: Duration,
        max_connections: usize,
    ) -> Result<Self, AriError> {
        Self::with_tls(endpoint, timeout, max_connections, None)
    }

    /// `new`, with the TLS configuration (`crate::tls::client_config`) an `https://`
    /// endpoint and its `wss://` events use.
    pub fn with_tls(
        endpoint: AriEndpoint,
        timeout: Duration,
        max_connections: usize,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Self, AriError> {
        let transport = Transport::new(
            &endpoint.base_url,
            (&endpoint.user, &endpoint.password),
            timeout,
            max_connections,
            tls,
        )?;
        Ok(Self {
            transport: Arc::new(transport),
            endpoint,
            socket: None,
        })
    }

    /// Sends JSON requests over the events WebSocket once the event stream has it up
    /// and Asterisk has answered its probe (Asterisk 20.14, 21.9, 22.4 and later).
    pub fn with_rest_over_websocket(mut self) -> Self {
        self.socket = Some(Arc::new(SocketRest::new()));
        self
    }

    /// What the event stream shares with this client to carry its requests, if any.
    pub fn socket_rest(&self) -> Option<Arc<SocketRest>> {
        self.socket.clone()
    }

    /// Most HTTP connections this client opens to Asterisk.
    pub fn max_connections(&self) -> usize {
        self.transport.max_connections()
    }

    /// Requests holding a connection now: at most `max_connections` of them.
    pub fn busy_connections(&self) -> usize {
        self.transport.busy()
    }

    pub fn endpoint(&self) -> &AriEndpoint {
        &self.endpoint
    }

    /// The TLS configuration of an `https://` endpoint, for its `wss://` events.
    pub fn tls_config(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.transport.tls_config()
    }

    /// Sends a request; the JSON body of a success, if any.
    pub async fn send(&self, request: &Request) -> Result<Option<Value>, AriError> {
        self.exchange(request).await.answer
    }

    /// Sends a request once a connection is free; its answer and how long it waited.
    pub async fn exchange(&self, request: &Request) -> Exchange {
        let (answer, queued) = self.answer_of(request, MAX_JSON_BYTES).await;
        let answer =
            answer.and_then(|a| json_success(&a).map(|_| serde_json::from_slice(&a.body).ok()));
        Exchange { answer, queued }
    }

    /// The raw answer to `request`, of at most `limit` bytes.
    async fn answer_of(
        &self,
        request: &Request,
        limit: usize,
    ) -> (Result<Answer, AriError>, Duration) {
        let Ok(method) = Method::from_bytes(request.method.as_bytes()) else {
            let bad = AriError::NotSent(format!("bad method {}", request.method));
            return (Err(bad), Duration::ZERO);
        };
        let sent = std::time::Instant::now();
        let over_socket = match &self.socket {
            Some(socket) if socket_rest::carries(request) => {
                socket.exchange(request, self.transport.timeout()).await
            }
            _ => None,
        };
        let timeout = self.transport.timeout();
        let (answer, queued) = match over_socket {
            // Certainly unsent (the socket was lost before it wrote it): HTTP may go on,
            // if the request still has time (an unwritten one that timed out has none).
            Some(Err(AriError::NotSent(_))) if sent.elapsed() < timeout => {
                self.transport
                    .exchange(method, &path_and_query(request), limit)
                    .await
            }
            None => {
                self.transport
                    .exchange(method, &path_and_query(request), limit)
                    .await
            }
            Some(answer) => (answer, Duration::ZERO),
        };
        // Every request of every caller (calls, reconciling, classification) is timed
        // here, by its route's template: a label the code bounds, whatever the ids.
        if let Some(route) = Route::parse(request.method, &request.path) {
            let took = sent.elapsed().saturating_sub(queued);
            crate::metrics::global().ari_request(route.template(), took);
        }
        (answer, queued)
    }

    /// GET returning raw bytes (a recording file), refusing bodies over `limit` bytes.
    async fn get_bytes(&self, request: &Request, limit: usize) -> Result<Bytes, AriError> {
        let answer = self.answer_of(request, limit).await.0?;
        if !(200..300).contains(&answer.status) {
            return Err(AriError::Refused {
                status: answer.status,
                message: format!("{request}"),
            });
        }
        Ok(answer.body)
    }

    /// Sends `request` and decodes the JSON of its success as `T`. A body that is not
    /// a `T` leaves what Asterisk did unknown.
    async fn fetch<T: DeserializeOwned>(&self, request: &Request) -> Result<T, AriError> {
        let answer = self.answer_of(request, MAX_JSON_BYTES).await.0?;
        json_success(&answer)?;
        // Decoded straight from the bytes: no `Value` in between.
        serde_json::from_slice(&answer.body)
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
        self.fetch(&Request::create_bridge(bridge, false)).await
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
        let request = Request::stored_recording_file(name);
        Ok(self.get_bytes(&request, limit).await?.to_vec())
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

    /// Has Asterisk send this client's application only events of the types `allowed`
    /// (`PUT /ari/applications/{app}/eventFilter`, Asterisk 13.26 / 16.3 and later), and
    /// clears any disallowed list. Over HTTP: the filter is a JSON body, and this client
    /// puts only query parameters in the requests it sends over the events socket.
    pub async fn filter_events(&self, allowed: &[&str]) -> Result<(), AriError> {
        let filter = serde_json::json!({
            "allowed": allowed.iter().map(|t| serde_json::json!({ "type": t })).collect::<Vec<_>>(),
            "disallowed": [],
        });
        let path = paths::application_event_filter(&self.endpoint.app);
        let path = utf8_percent_encode(&path, PATH).to_string();
        let sent = std::time::Instant::now();
        let (answer, queued) = self
            .transport
            .exchange_with(
                Method::PUT,
                &path,
                Some(Bytes::from(filter.to_string())),
                MAX_JSON_BYTES,
            )
            .await;
        let took = sent.elapsed().saturating_sub(queued);
        let template = Route::SetEventFilter { app: "" }.template();
        crate::metrics::global().ari_request(template, took);
        json_success(&answer?)
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
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("app", &self.endpoint.app)
            .append_pair("api_key", &api_key)
            .append_pair("subscribeAll", "false")
            .finish();
        format!("{ws}{}?{query}", paths::EVENTS)
    }
}

/// `Ok` for a 2xx; otherwise Asterisk's refusal, with the message of its error body.
fn json_success(answer: &Answer) -> Result<(), AriError> {
    if (200..300).contains(&answer.status) {
        return Ok(());
    }
    let body: Option<Value> = serde_json::from_slice(&answer.body).ok();
    let message = body
        .as_ref()
        .and_then(ErrorBody::text_of)
        .unwrap_or_else(|| std::str::from_utf8(&answer.body).unwrap_or(""))
        .to_string();
    Err(AriError::Refused {
        status: answer.status,
        message,
    })
}

/// The request's path, percent-encoded, and its query as a form.
fn path_and_query(request: &Request) -> String {
    let mut target: String = utf8_percent_encode(&request.path, PATH).collect();
    if !request.query.is_empty() {
        target.push('?');
        let start = target.len();
        let mut form = form_urlencoded::Serializer::for_suffix(target, start);
        form.extend_pairs(&request.query);
        target = form.finish();
    }
    target
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
        let _busy = client.transport.hold_permit().unwrap();
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
