//! The ARI event WebSocket as a stream the router pulls from: it connects, yields every
//! event stamped with when it arrived, and reconnects with backoff (also after a clean
//! close, so a restarting Asterisk is never hammered). Asterisk does not replay what was
//! missed: `Connected { reconnected: true }` tells the router to reconcile its calls.
//! The router reads the socket itself, so an event reaches its call with one task
//! wake-up, not two. A `wss://` URL is TLS with the ARI client's configuration
//! (`crate::tls`), so the events trust what REST trusts.
//!
//! With REST over the WebSocket (`ari::socket_rest`), the stream also writes the
//! client's requests on its socket and hands their answers back: a new socket first
//! sends a probe, and carries requests once Asterisk has answered it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::ari::events::{self, Event};
use crate::ari::socket_rest::{self, Outgoing, SocketRest};
use crate::tls;

#[derive(Debug)]
pub enum StreamItem {
    Connected {
        reconnected: bool,
    },
    /// An event and the moment its frame was read.
    Event(Box<Event>, Instant),
    Disconnected {
        reason: String,
    },
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Quiet this long, the stream sends a ping; quiet as long again, it is taken for dead
/// (a half-open connection after a network drop never reports itself).
const IDLE: Duration = Duration::from_secs(15);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a new socket waits for Asterisk to answer its REST probe before requests
/// stay on HTTP for that socket's life.
const PROBE_PATIENCE: Duration = Duration::from_secs(2);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The socket's read buffer: an event is 1–3 KiB. tungstenite zero-fills the free part
/// of its buffer before every read (even one that finds nothing), so its 128 KiB default
/// cost more per event than decoding it; a larger event still fits, by growing the buffer.
const READ_BUFFER: usize = 16 * 1024;

fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_BUFFER)
}

/// The event stream: `next` gives the next item, connecting and reconnecting as needed.
pub struct EventStream {
    url: String,
    socket: Option<Socket>,
    backoff: Duration,
    connected_before: bool,
    /// Set after a loss: wait this long before connecting again.
    wait: Option<Duration>,
    idle: Duration,
    /// A ping is out and nothing has come back since.
    pinged: bool,
    /// The last read (or ping): quiet for `idle` past it, the stream pings, then gives
    /// up. Writes do not move it, so requests going out never hide a dead peer.
    heard: tokio::time::Instant,
    /// For a `wss://` URL (the system's roots when `None`).
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Set when requests may go over the socket.
    rest: Option<Arc<SocketRest>>,
    /// The requests to write, once the socket carries them.
    outbox: Option<mpsc::UnboundedReceiver<Outgoing>>,
    /// Until when the probe of this socket may be answered.
    probing: Option<tokio::time::Instant>,
    probe_patience: Duration,
}

/// What woke the stream up on a connected socket.
enum Woken {
    Read(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    Requests(Outgoing),
    ProbeUnanswered,
    Quiet,
}

impl EventStream {
    pub fn new(url: String) -> Self {
        Self {
            url,
            socket: None,
            backoff: FIRST_BACKOFF,
            connected_before: false,
            wait: None,
            idle: IDLE,
            pinged: false,
            heard: tokio::time::Instant::now(),
            tls: None,
            rest: None,
            outbox: None,
            probing: None,
            probe_patience: PROBE_PATIENCE,
        }
    }

    /// With another wait for the probe's answer (tests).
    pub fn with_probe_patience(mut self, patience: Duration) -> Self {
        self.probe_patience = patience;
        self
    }

    /// Carrying the client's requests on the socket (`ari::socket_rest`), when given.
    pub fn with_rest(mut self, rest: Option<Arc<SocketRest>>) -> Self {
        self.rest = rest;
        self
    }

    /// With the TLS configuration a `wss://` URL is connected with.
    pub fn with_tls(mut self, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        self.tls = tls;
        self
    }

    /// With another idle time (tests).
    pub fn with_idle(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// The next item. Cancel-safe between items: dropping the future loses nothing
    /// already read (requests queued meanwhile wait for the next call).
    pub async fn next(&mut self) -> StreamItem {
        loop {
            let Some(socket) = self.socket.as_mut() else {
                return self.reconnect().await;
            };
            let woken = tokio::select! {
                // Requests first: a frame is quick to write, and events pouring in must
                // not hold back what the calls ask.
                biased;
                Some(first) = next_request(&mut self.outbox) => Woken::Requests(first),
                message = socket.next() => Woken::Read(message),
                () = until(self.probing) => Woken::ProbeUnanswered,
                () = tokio::time::sleep_until(self.heard + self.idle) => Woken::Quiet,
            };
            let message = match woken {
                Woken::Read(message) => message,
                Woken::Requests(first) => {
                    // Bounded: a peer that stopped reading would hold the write, and the
                    // reads with it, for as long as TCP keeps trying.
                    match tokio::time::timeout(self.idle, self.write_requests(first)).await {
                        Ok(Ok(())) => continue,
                        Ok(Err(e)) => return self.lost(format!("cannot write a request: {e}")),
                        Err(_) => {
                            return self.lost(format!("a request not written in {:?}", self.idle));
                        }
                    }
                }
                Woken::ProbeUnanswered => {
                    self.probing = None;
                    tracing::warn!(
                        "Asterisk did not answer a request on its events WebSocket within {:?} \
                         (REST over the WebSocket needs Asterisk 20.14, 21.9, 22.4 or later): requests stay on HTTP",
                        self.probe_patience
                    );
                    continue;
                }
                Woken::Quiet => {
                    if self.pinged {
                        return self.lost(format!("no answer to a ping for {:?}", self.idle));
                    }
                    self.pinged = true;
                    self.heard = tokio::time::Instant::now();
                    if let Err(e) = socket.send(Message::Ping(Default::default())).await {
                        return self.lost(format!("cannot ping: {e}"));
                    }
                    continue;
                }
            };
            self.pinged = false;
            self.heard = tokio::time::Instant::now();
            let reason = match message {
                Some(Ok(Message::Text(text))) => {
                    let arrived = Instant::now();
                    match self.event_or_answer(text.as_str()) {
                        Some(event) => return StreamItem::Event(Box::new(event), arrived),
                        None => continue,
                    }
                }
                Some(Ok(Message::Close(frame))) => format!("closed by Asterisk ({frame:?})"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => format!("WebSocket error: {e}"),
                None => "WebSocket ended".to_string(),
            };
            return self.lost(reason);
        }
    }

    /// Connects (after the backoff a loss left), and probes the new socket for REST.
    async fn reconnect(&mut self) -> StreamItem {
        if let Some(wait) = self.wait.take() {
            tokio::time::sleep(wait).await;
        }
        // Bounded: a host that drops packets silently would hold a connect for
        // minutes (the system's SYN retries), far past the backoff.
        let connected = match tokio::time::timeout(CONNECT_TIMEOUT, self.connect()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
        };
        let mut socket = match connected {
            Ok((socket, _)) => socket,
            Err(e) => return self.lost(format!("cannot connect: {e}")),
        };
        if self.rest.is_some() {
            let probe = Message::Text(socket_rest::probe_text().into());
            if let Err(e) = socket.send(probe).await {
                return self.lost(format!("cannot send the REST probe: {e}"));
            }
            self.probing = Some(tokio::time::Instant::now() + self.probe_patience);
        }
        self.socket = Some(socket);
        self.pinged = false;
        self.heard = tokio::time::Instant::now();
        self.backoff = FIRST_BACKOFF;
        let reconnected = self.connected_before;
        self.connected_before = true;
        StreamItem::Connected { reconnected }
    }

    /// The event a text frame holds, or `None` for the answer to a request (handed to
    /// its waiter; the probe's answer opens the socket to requests).
    fn event_or_answer(&mut self, text: &str) -> Option<Event> {
        let event = events::parse(text);
        let Some(rest) = &self.rest else {
            return Some(event);
        };
        let request_id = match &event {
            Event::RestResponse(answer) => rest.answered(answer).to_owned(),
            Event::Malformed {
                event_type: Some(kind),
                raw,
                ..
            } if kind == "RESTResponse" => rest.answered_loosely(raw)?,
            _ => return Some(event),
        };
        if request_id == socket_rest::PROBE_ID && self.outbox.is_none() {
            self.probing = None;
            self.outbox = Some(rest.attach());
            tracing::info!("ARI requests go over the events WebSocket");
        }
        None
    }

    /// Writes `first` and every request queued behind it, then flushes once: requests
    /// made in one turn of the runtime go out in one write.
    async fn write_requests(
        &mut self,
        first: Outgoing,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        let (Some(socket), Some(rest), Some(outbox)) = (
            self.socket.as_mut(),
            self.rest.as_ref(),
            self.outbox.as_mut(),
        ) else {
            return Ok(());
        };
        let mut next = Some(first);
        while let Some(request) = next {
            if rest.take_for_writing(request.id) {
                socket.feed(Message::Text(request.text.into())).await?;
            }
            next = outbox.try_recv().ok();
        }
        socket.flush().await
    }

    /// One connection attempt; a certificate failure says which host and why.
    async fn connect(&self) -> Result<(Socket, ()), String> {
        let connector = match (&self.tls, self.url.starts_with("wss://")) {
            (_, false) => None,
            (Some(config), true) => Some(Connector::Rustls(Arc::clone(config))),
            (None, true) => Some(Connector::Rustls(
                tls::client_config(None).map_err(|e| e.to_string())?,
            )),
        };
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            self.url.as_str(),
            Some(socket_config()),
            false,
            connector,
        );
        match connecting.await {
            Ok((socket, _)) => Ok((socket, ())),
            Err(e) => {
                let host = url::Url::parse(&self.url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_default();
                Err(tls::explain(&host, &e))
            }
        }
    }

    fn lost(&mut self, reason: String) -> StreamItem {
        self.socket = None;
        self.outbox = None;
        self.probing = None;
        if let Some(rest) = &self.rest {
            rest.detach(&reason);
        }
        tracing::warn!(%reason, retry_in_ms = self.backoff.as_millis() as u64, "ARI event stream lost");
        self.wait = Some(self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        StreamItem::Disconnected { reason }
    }
}

/// A stream that stops (the runtime shutting down, a start that timed out) lets its
/// requests go: the ones waiting are told now, and later ones take HTTP.
impl Drop for EventStream {
    fn drop(&mut self) {
        if let Some(rest) = &self.rest {
            rest.detach("the event stream stopped");
        }
    }
}

/// The next request queued for the socket; never, while none may be written.
async fn next_request(outbox: &mut Option<mpsc::UnboundedReceiver<Outgoing>>) -> Option<Outgoing> {
    match outbox {
        Some(queue) => queue.recv().await,
        None => std::future::pending().await,
    }
}

/// Completes at `deadline`; never without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ws::WebSocketUpgrade;
    use axum::routing::get;

    /// A WebSocket server on loopback; `answers` decides whether it reads (and so
    /// answers pings) or holds the connection without a word, like a dead peer.
    async fn server(answers: bool) -> String {
        let app = axum::Router::new().route(
            "/ws",
            get(move |ws: WebSocketUpgrade| async move {
                ws.on_upgrade(move |mut socket| async move {
                    if answers {
                        while let Some(Ok(_)) = socket.recv().await {}
                    } else {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        drop(socket);
                    }
                })
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("ws://{addr}/ws")
    }

    /// A WebSocket server that answers every `RESTRequest` with 200 and the request's
    /// uri as its body, as an Asterisk with REST over the socket would.
    async fn rest_server() -> String {
        let app = axum::Router::new().route(
            "/ws",
            get(move |ws: WebSocketUpgrade| async move {
                ws.on_upgrade(move |mut socket| async move {
                    while let Some(Ok(axum::extract::ws::Message::Text(text))) = socket.recv().await
                    {
                        let request: serde_json::Value = serde_json::from_str(&text).unwrap();
                        let answer = serde_json::json!({
                            "type": "RESTResponse",
                            "timestamp": "2026-12-07T10:00:00.000+0000",
                            "application": "dialflow",
                            "request_id": request["request_id"],
                            "status_code": 200,
                            "message_body": serde_json::json!([request["uri"]]).to_string(),
                        });
                        let _ = socket
                            .send(axum::extract::ws::Message::Text(answer.to_string().into()))
                            .await;
                    }
                })
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("ws://{addr}/ws")
    }

    #[tokio::test]
    async fn requests_take_the_socket_once_the_probe_is_answered() {
        let rest = Arc::new(SocketRest::new());
        let mut stream = EventStream::new(rest_server().await).with_rest(Some(Arc::clone(&rest)));
        assert!(matches!(stream.next().await, StreamItem::Connected { .. }));
        let reading = tokio::spawn(async move { stream.next().await });
        for _ in 0..100 {
            if rest.carrying() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(rest.carrying(), "the probe's answer opened the socket");
        let request = crate::ari::Request::get_channel("c1");
        let answer = rest.exchange(&request, Duration::from_secs(5)).await;
        let answer = answer.expect("over the socket").expect("answered");
        assert_eq!(
            (answer.status, &answer.body[..]),
            (200, &br#"["channels/c1"]"#[..])
        );
        assert!(!reading.is_finished(), "answers are not events");
        reading.abort();
    }

    #[tokio::test]
    async fn an_asterisk_that_never_answers_on_the_socket_keeps_requests_on_http() {
        let rest = Arc::new(SocketRest::new());
        let mut stream = EventStream::new(server(true).await)
            .with_rest(Some(Arc::clone(&rest)))
            .with_probe_patience(Duration::from_millis(100));
        assert!(matches!(stream.next().await, StreamItem::Connected { .. }));
        let quiet = tokio::time::timeout(Duration::from_millis(400), stream.next()).await;
        assert!(quiet.is_err(), "still connected: {quiet:?}");
        assert!(!rest.carrying());
        let request = crate::ari::Request::get_channel("c1");
        assert!(
            rest.exchange(&request, Duration::from_secs(1))
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_silent_peer_is_pinged_then_dropped() {
        let mut stream =
            EventStream::new(server(false).await).with_idle(Duration::from_millis(150));
        assert!(matches!(
            stream.next().await,
            StreamItem::Connected { reconnected: false }
        ));
        let started = std::time::Instant::now();
        match stream.next().await {
            StreamItem::Disconnected { reason } => {
                assert!(reason.contains("no answer to a ping"), "{reason}")
            }
            other => panic!("expected a loss, got {other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn a_peer_that_answers_pings_stays_connected() {
        let mut stream = EventStream::new(server(true).await).with_idle(Duration::from_millis(100));
        assert!(matches!(stream.next().await, StreamItem::Connected { .. }));
        let quiet = tokio::time::timeout(Duration::from_millis(800), stream.next()).await;
        assert!(quiet.is_err(), "still connected: {quiet:?}");
    }
}
